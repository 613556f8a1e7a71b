"""Turns a finished RequestContext into one call record. Never the raw token.

Runs in the record writer's worker thread. A record is kept as a compact *stored row* in ``STORED``
order: the eight fields queries filter on, then ``rest``, the other fields as one JSON array in
``REST_FIELDS`` order. The documented JSON form (``row_to_record``) is built only for stdout and
readers. Free text and kept claims are scrubbed.

Most of a record repeats per identity (issuer, kid, mapping, subject hash, kept claims) or per path;
those parts are encoded once and remembered (bounded), keyed by the identity of the cached objects
the pipeline hands out (claims dict, user record, issuer) plus the scalar slots, checked with ``is``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from subwarden.observe.scrub import scrub_text, scrub_value
from subwarden.observe.subject_hash import SubjectHasher
from subwarden.pipeline.context import RequestContext, outcome_rule

RECORD_VERSION: Final = 1

#: Every field of a record as a flat list (the SQLite layout 2 column order, read back from old files).
COLUMNS: Final = (
    "ts", "request_id", "trace_id", "route", "method", "path", "outcome", "code", "stage", "status",
    "reason", "detail", "shadow_code", "issuer", "alg", "kid", "token_source", "token_cache_hit",
    "mapping_claim", "mapping_rule", "mapping_fallback", "subject_hash", "user_id", "user_status",
    "anonymous", "cache_state", "cache_age", "timings_us", "duration_us", "upstream_status",
    "upstream_target", "upstream_ms", "fingerprint", "claims",
)
Row = tuple[Any, ...]
COL: Final = {name: i for i, name in enumerate(COLUMNS)}
#: The stored row (and the SQLite layout 3 columns): what queries filter on, then ``rest``.
STORED: Final = ("ts", "request_id", "route", "code", "outcome", "status", "subject_hash", "user_id", "rest")
#: The fields in ``rest``, in order: per request first, then the per-identity part (fingerprint on), then
#: fields added later (a row written before one was added reads it as null). ``timings_us`` is held
#: there in ns (whole µs when read).
REST_FIELDS: Final = (
    "trace_id", "method", "path", "stage", "reason", "detail", "shadow_code", "token_cache_hit", "anonymous",
    "cache_state", "cache_age", "timings_us", "duration_us", "upstream_status", "upstream_target", "upstream_ms",
    "fingerprint", "issuer", "alg", "kid", "token_source", "mapping_claim", "mapping_rule", "mapping_fallback",
    "user_status", "claims", "admission_memo",
)
#: ``rest`` of a row written before ``admission_memo`` existed: the fields up to ``claims``.
_REST_V1_LEN: Final = REST_FIELDS.index("admission_memo")
_JSON_COLUMNS: Final = ("detail", "timings_us", "claims")
BOOL_COLUMNS: Final = ("token_cache_hit", "mapping_fallback", "anonymous")
_UPSTREAM: Final = {"upstream_status": "status", "upstream_target": "target", "upstream_ms": "ms"}
#: The documented field order of a record (docs/records.md).
FIELDS: Final = (
    "v", "ts", "time", *COLUMNS[1:COL["token_cache_hit"] + 1], "admission_memo",
    *COLUMNS[COL["token_cache_hit"] + 1:COL["timings_us"]], "timings_us", "duration_us", "upstream", "fingerprint",
    "claims",
)
_CACHE_SIZE: Final = 4096
#: Identities remembered: more than the users a busy gateway serves in one cycle, so the cache hits
#: even when every user comes round (a full cache is emptied, never scanned). ~0.5 KiB an entry.
_IDENTITY_CACHE_SIZE: Final = 32_768
_ABSENT: Final = object()
#: Longer than any stage list. Stage timings are stored in ns (no division per record); records show µs.
_MAX_STAGES: Final = 64
_NO_ERROR: Final = "null,null,null,null"  # stage, reason, detail, shadow_code
_BIG: Final = 1e15
_BIG_AGE: Final = 1e9
_dump: Final = json.JSONEncoder(separators=(",", ":"), default=str).encode
_text: Final = json.encoder.encode_basestring_ascii  # a str as JSON text, in C
#: ".000" to ".999"; ".0" for whole numbers, as repr writes them.
_THOUSANDTHS: Final = (".0", *[f".{i:03d}".rstrip("0") for i in range(1, 1000)])


def issuer_label(issuer: Any) -> str | None:
    """The issuer's short label, whatever runtime object the verify stage stored."""
    if issuer is None:
        return None
    for owner in (issuer, getattr(issuer, "config", None)):
        label = getattr(owner, "label", None)
        if isinstance(label, str):
            return label
    return issuer if isinstance(issuer, str) else None


def derive_outcome(ctx: RequestContext) -> str:
    """The data plane's outcome if it set one, else the same rule: denied / error / shadow / anonymous / allowed."""
    return ctx.outcome or outcome_rule(ctx.error, ctx.status, ctx.shadow_error, ctx.anonymous)


def age_text(age: Any) -> str:
    """A cache age rounded to ms as JSON text: the same value as round(age, 3), without a float repr.

    Unless the age is within a hair of a half millisecond, the nearest whole ms is plain to see and is
    written from an int and a table (~0.7k instructions; the "%.3f" format ~2.1k)."""
    if type(age) is float and 0.0 <= age < _BIG_AGE:
        scaled = age * 1000.0  # off by far less than the 0.001 margin below 1e9 s
        ms = int(scaled + 0.5)
        if -0.499 < scaled - ms < 0.499:
            return f"{ms // 1000}{_THOUSANDTHS[ms % 1000]}"
    return "%.3f" % age if type(age) is float and -_BIG < age < _BIG else _dump(round(age, 3))  # noqa: UP031


def number_text(value: Any) -> str:
    """A number (or None) as JSON text; repr() for ordinary ints and floats, the encoder for the rest."""
    kind = type(value)
    if kind is int or (kind is float and -_BIG < value < _BIG):
        return repr(value)
    return _dump(value)


def _trace_text(trace_id: Any) -> str:
    """The trace id as JSON text. Letters and digits only (always, from the data plane: 32 hex digits)
    need no escaping: quoted as they are (``encode_basestring_ascii`` was ~1.4k instructions a record)."""
    if type(trace_id) is str and trace_id.isalnum():
        return f'"{trace_id}"'
    return _text(trace_id) if type(trace_id) is str and trace_id else _dump(trace_id or None)


def ms_text(value: Any) -> str:
    """A time in ms as JSON text. The data plane's are whole µs / 1000: those are written from an int and
    a table (a float repr was ~2.9k instructions a record); they parse back to the same float."""
    if type(value) is float and 0.0 <= value < _BIG:
        us = int(value * 1000.0 + 0.5)
        if us / 1000.0 == value:
            return f"{us // 1000}{_THOUSANDTHS[us % 1000]}"
    return number_text(value)


class IsoTime:
    """ISO 8601 UTC text with milliseconds; the date part is formatted once per second."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = (-1, "")  # one attribute, swapped whole: safe to share between threads

    def __call__(self, ts: float) -> str:
        second = int(ts)
        last = self._last
        if second != last[0]:
            last = self._last = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{last[1]}.{int((ts - second) * 1000):03d}+00:00"


#: A remembered identity: the claims and user it was built from (checked with ``is``), the other slots it
#: was built from (checked with ==), its two columns (subject_hash, user_id) and its part of ``rest``.
_Identity = tuple[Any, Any, tuple[Any, ...], str | None, str | None, str]


class RecordShaper:
    """Builds stored rows; holds the per-process constants (fingerprint, hash key, kept claims) and small caches."""

    __slots__ = (
        "_absent", "_by_value", "_claims_text", "_fingerprint_text", "_hasher", "_identities", "_keep_claims", "_paths",
        "_timing_formats", "_words", "fingerprint",
    )

    def __init__(self, *, fingerprint: str, hasher: SubjectHasher, keep_claims: Iterable[str] = ("iss", "sub")) -> None:
        self.fingerprint = fingerprint
        self._fingerprint_text = _dump(fingerprint)
        self._hasher = hasher
        # iss always: replay needs it to pick the issuer's mapping rules.
        self._keep_claims = ("iss", *(c for c in keep_claims if c != "iss"))
        self._absent = (_ABSENT,) * len(self._keep_claims)
        self._timing_formats: dict[tuple[str, ...], str] = {}
        self._claims_text: dict[tuple[Any, ...], str] = {}
        #: By the claims dict's id (a token's claims resolve to one user; the entry's user is checked with
        #: ``is`` and a different one replaces it): an int key, no (claims, user) id tuple per record.
        self._identities: dict[int, _Identity] = {}
        #: The same parts by (issuer id, other identity slots, kept claim values), for tokens seen once.
        self._by_value: dict[tuple[Any, ...], _Identity] = {}
        self._paths: dict[str, str] = {}
        #: JSON text of the few short values that repeat (methods, cache states, upstream targets).
        self._words: dict[Any, str] = {None: "null"}

    def row(self, ctx: RequestContext, ts: float, ended_ns: int) -> Row:
        """The stored row of ``ctx``, finished at wall time ``ts`` and ``perf_counter_ns`` ``ended_ns``.

        Fields are read straight off the (compiled) context into typed locals: ints are formatted and
        flags tested natively (a tuple of every field, unpacked into untyped locals, cost ~2k instructions
        a record more in boxing, generic arithmetic and truth tests)."""
        claims, user, error, shadow = ctx.claims, ctx.user, ctx.error, ctx.shadow_error
        slots = ctx.identity_slots()
        known = self._identities.get(id(claims))
        if known is None or known[0] is not claims or known[1] is not user or known[2] != slots:
            known = self._identity(ctx, slots)
        words = self._words
        method, path, cache_state, target = ctx.method, ctx.path, ctx.cache_state, ctx.upstream_target
        age, up_ms, timings = ctx.cache_age, ctx.upstream_ms, ctx.timings
        started: int = ctx.started_ns
        up_status: int = ctx.upstream_status
        # An admission-memo answer ran no stage: no tuple, lookup or format for its empty timings.
        timing_text = (
            (self._timing_formats.get(tuple(timings)) or self._timing_format(tuple(timings)))
            % tuple(timings.values()) if timings else "{}"
        )
        rest = (
            f"[{_trace_text(ctx.trace_id)},"
            f"{words.get(method) or self._word(method)},{self._paths.get(path) or self._path(path)},"
            f"{_NO_ERROR if error is None and shadow is None and ctx.failed_stage is None else self._failure(ctx)},"
            f"{'true' if ctx.token_cache_hit else 'false'},{'true' if ctx.anonymous else 'false'},"
            f"{words.get(cache_state) or self._word(cache_state)},{'null' if age is None else age_text(age)},"
            f"{timing_text},{str((ended_ns - started) // 1000) if started else 'null'},"
            f"{str(up_status) if up_status else 'null'},{words.get(target) or self._word(target)},"
            f"{'null' if up_ms is None else ms_text(up_ms)},{known[5]},{'true' if ctx.admission_memo else 'false'}]"
        )
        route = ctx.route
        status: int = ctx.status
        return (
            ts, ctx.request_id or None, route.name if route is not None else None,
            error.code if error is not None else None, ctx.outcome or derive_outcome(ctx),
            status or (error.status if error is not None else 0), known[3], known[4], rest,
        )

    def rows(self, batch: Sequence[Any], wall_us: int, perf_ns: int) -> tuple[list[Row], list[Any], list[Any]]:
        """The stored rows of queued ``(ctx, ended perf_counter_ns)`` items, given one wall/perf clock pair
        read together; the items they came from; and ``(item, error name)`` of any that could not be
        shaped (one odd context must not lose the batch). Compiled: a loop in the writer was ~1.5k
        instructions a record."""
        rows: list[Row] = []
        shaped: list[Any] = []
        failed: list[Any] = []
        for item in batch:
            try:
                ctx: RequestContext = item[0]
                ended_ns: int = item[1]
                # Whole microseconds, so ts needs no round() per record.
                rows.append(self.row(ctx, (wall_us - (perf_ns - ended_ns) // 1000) / 1e6, ended_ns))
            except Exception as exc:  # noqa: BLE001 - counted and logged by the writer
                failed.append((item, type(exc).__name__))
            else:
                shaped.append(item)
        return rows, shaped, failed

    def shape(self, ctx: RequestContext, ts: float, ended_ns: int) -> dict[str, Any]:
        """The record of ``ctx`` in its documented JSON form (tools and tests; the drain uses ``row``)."""
        return row_to_record(self.row(ctx, ts, ended_ns))

    def _identity(self, ctx: RequestContext, slots: tuple[Any, ...]) -> _Identity:
        user, claims = ctx.user, ctx.claims
        # A new token of a known identity (per-request tokens): the same parts, found by value. The issuer
        # and user objects are keyed by id and checked with ``is``.
        key = (id(slots[0]), slots[1:], tuple(map(claims.get, self._keep_claims, self._absent)) if claims else None)
        try:
            same = self._by_value.get(key)
            cacheable = True
        except TypeError:  # an unhashable kept claim (list, object): built every time
            same, cacheable = None, False
        if same is not None and same[1] is user and same[2][0] is slots[0]:
            known: _Identity = (claims, user, slots, same[3], same[4], same[5])
        else:
            known = self._build_identity(ctx, slots)
            if cacheable:
                if len(self._by_value) >= _IDENTITY_CACHE_SIZE:
                    self._by_value.clear()
                self._by_value[key] = (None, user, slots, known[3], known[4], known[5])
        # Only a cached token's claims dict comes round again; a fresh one would just be pinned here.
        if ctx.token_cache_hit or claims is None:
            if len(self._identities) >= _IDENTITY_CACHE_SIZE:
                self._identities.clear()
            self._identities[id(claims)] = known
        return known

    def _build_identity(self, ctx: RequestContext, slots: tuple[Any, ...]) -> _Identity:
        user = ctx.user
        part = ",".join((
            self._fingerprint_text, _dump(issuer_label(ctx.issuer)), _dump(ctx.alg),
            _dump(scrub_text(ctx.kid) if ctx.kid else None), _dump(ctx.token_source), _dump(ctx.mapping_claim),
            _dump(ctx.mapping_rule), "true" if ctx.mapping_fallback else "false",
            _dump(str(user.status) if user is not None else None), self._kept_claims(ctx.claims),
        ))
        return (
            ctx.claims, user, slots, self._hasher.hash(ctx.subject), user.user_id if user is not None else None, part,
        )

    def _failure(self, ctx: RequestContext) -> str:
        error, shadow = ctx.error, ctx.shadow_error
        return ",".join((
            _dump(ctx.failed_stage),
            _dump(scrub_text(error.reason)) if error is not None else "null",
            _dump(scrub_value(error.detail)) if error is not None and error.detail else "null",
            _dump(shadow.code) if shadow is not None else "null",
        ))

    def _path(self, raw: str) -> str:
        # The query string can carry tokens: never recorded.
        text = _dump(scrub_text(raw.split("?", 1)[0]))
        if len(raw) <= 256:
            if len(self._paths) >= _CACHE_SIZE:
                self._paths.clear()
            self._paths[raw] = text
        return text

    def _word(self, value: Any) -> str:
        text = _dump(value)
        if type(value) is str and len(value) <= 256:
            if len(self._words) >= 256:
                self._words.clear()
                self._words[None] = "null"
            self._words[value] = text
        return text

    def _timing_format(self, stages: tuple[str, ...]) -> str:
        if len(stages) > _MAX_STAGES:
            raise ValueError(f"{len(stages)} stage timings: more than {_MAX_STAGES}")
        # Stage names repeat: a %-template per stage list makes the JSON text in one formatting step.
        if len(self._timing_formats) >= 64:
            self._timing_formats.clear()
        parts = ",".join(json.dumps(str(stage)).replace("%", "%%") + ":%d" for stage in stages)
        fmt = self._timing_formats[stages] = "{" + parts + "}"
        return fmt

    def _kept_claims(self, claims: dict[str, Any] | None) -> str:
        if not claims:
            return "{}"
        values = tuple(map(claims.get, self._keep_claims, self._absent))
        try:
            text = self._claims_text.get(values)
        except TypeError:  # an unhashable claim value (list, object): not cached
            return self._claims_json(values)
        if text is None:
            if len(self._claims_text) >= _CACHE_SIZE:
                self._claims_text.clear()
            text = self._claims_text[values] = self._claims_json(values)
        return text

    def _claims_json(self, values: tuple[Any, ...]) -> str:
        kept = zip(self._keep_claims, values, strict=True)
        return _dump({name: scrub_value(value) for name, value in kept if value is not _ABSENT})


_iso_time: Final = IsoTime()


def row_to_record(row: Sequence[Any], time_text: IsoTime = _iso_time) -> dict[str, Any]:
    """The documented record (docs/records.md) of a stored row, with every field."""
    values = dict(zip(STORED, row, strict=True))
    rest = json.loads(values.pop("rest"))
    if len(rest) == _REST_V1_LEN:
        rest.append(None)  # written before admission_memo was recorded: unknown
    values.update(zip(REST_FIELDS, rest, strict=True))
    values["timings_us"] = {stage: ns // 1000 for stage, ns in values["timings_us"].items()}
    values["upstream"] = {key: values.pop(column) for column, key in _UPSTREAM.items()}
    values["v"] = RECORD_VERSION
    values["time"] = time_text(values["ts"])
    return {name: values[name] for name in FIELDS}


def flat_row_to_record(row: Sequence[Any], time_text: IsoTime = _iso_time) -> dict[str, Any]:
    """The documented record of a row in ``COLUMNS`` order (SQLite layout 2: one typed column per field)."""
    values = dict(zip(COLUMNS, row, strict=True))
    for name in _JSON_COLUMNS:
        text = values[name]
        values[name] = json.loads(text) if text is not None else None
    for name in BOOL_COLUMNS:
        values[name] = bool(values[name])
    values["admission_memo"] = None  # not recorded in this layout
    values["upstream"] = {key: values.pop(column) for column, key in _UPSTREAM.items()}
    values["v"] = RECORD_VERSION
    values["time"] = time_text(values["ts"])
    return {name: values[name] for name in FIELDS}
