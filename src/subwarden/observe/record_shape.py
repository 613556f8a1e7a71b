"""Turns a finished RequestContext into one call record: a flat row (tuple) in ``COLUMNS`` order. Never the raw token.

Runs in the record writer's worker thread. Rows go to SQLite as they are; the documented JSON form
(``row_to_record``) is built only for stdout and for readers. Free text and kept claims are scrubbed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import floordiv
from typing import Any

from subwarden.observe.scrub import scrub_text, scrub_value
from subwarden.observe.subject_hash import SubjectHasher
from subwarden.pipeline.context import RequestContext

RECORD_VERSION = 1

#: The row layout (and the SQLite column order). detail, timings_us and claims hold JSON text.
COLUMNS = (
    "ts", "request_id", "trace_id", "route", "method", "path", "outcome", "code", "stage", "status",
    "reason", "detail", "shadow_code", "issuer", "alg", "kid", "token_source", "token_cache_hit",
    "mapping_claim", "mapping_rule", "mapping_fallback", "subject_hash", "user_id", "user_status",
    "anonymous", "cache_state", "cache_age", "timings_us", "duration_us", "upstream_status",
    "upstream_target", "upstream_ms", "fingerprint", "claims",
)
Row = tuple[Any, ...]
COL = {name: i for i, name in enumerate(COLUMNS)}
_JSON_COLUMNS = ("detail", "timings_us", "claims")
BOOL_COLUMNS = ("token_cache_hit", "mapping_fallback", "anonymous")
_UPSTREAM = {"upstream_status": "status", "upstream_target": "target", "upstream_ms": "ms"}
#: The documented field order of a record (docs/records.md).
FIELDS = (
    "v", "ts", "time", *COLUMNS[1:COL["timings_us"]], "timings_us", "duration_us", "upstream", "fingerprint", "claims"
)
_CACHE_SIZE = 4096
_ABSENT = object()
#: Stage timings are ns; records show µs. Longer than any stage list.
_THOUSANDS = (1000,) * 64
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


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
    if ctx.outcome:
        return ctx.outcome
    if ctx.error is not None:
        return "error" if max(ctx.status, ctx.error.status) >= 500 else "denied"
    if ctx.shadow_error is not None:
        return "shadow"
    return "anonymous" if ctx.anonymous else "allowed"


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


class RecordShaper:
    """Builds record rows; holds the per-process constants (fingerprint, hash key, kept claims) and small caches."""

    __slots__ = ("_absent", "_claims_text", "_hasher", "_keep_claims", "_last_issuer", "_timing_formats", "fingerprint")

    def __init__(self, *, fingerprint: str, hasher: SubjectHasher, keep_claims: Iterable[str] = ("iss", "sub")) -> None:
        self.fingerprint = fingerprint
        self._hasher = hasher
        # iss always: replay needs it to pick the issuer's mapping rules.
        self._keep_claims = ("iss", *(c for c in keep_claims if c != "iss"))
        self._absent = (_ABSENT,) * len(self._keep_claims)
        self._timing_formats: dict[tuple[str, ...], str] = {}
        self._claims_text: dict[tuple[Any, ...], str] = {}
        self._last_issuer: tuple[Any, str | None] = (None, None)

    def row(self, ctx: RequestContext, ts: float, ended_ns: int) -> Row:
        """The record of ``ctx`` as a row, finished at wall time ``ts`` and ``perf_counter_ns`` ``ended_ns``."""
        error, user, timings = ctx.error, ctx.user, ctx.timings
        stages = tuple(timings)
        formats = self._timing_formats.get(stages) or self._timing_format(stages)
        return (
            ts, ctx.request_id or None, ctx.trace_id or None,
            ctx.route.name if ctx.route is not None else None, ctx.method, scrub_text(ctx.path.split("?", 1)[0]),
            ctx.outcome or derive_outcome(ctx),
            error.code if error is not None else None, ctx.failed_stage,
            ctx.status or (error.status if error is not None else 0),
            scrub_text(error.reason) if error is not None else None,
            _dump(scrub_value(error.detail)) if error is not None and error.detail else None,
            ctx.shadow_error.code if ctx.shadow_error is not None else None,
            self._last_issuer[1] if ctx.issuer is self._last_issuer[0] else self._issuer_label(ctx.issuer),
            ctx.alg, scrub_text(ctx.kid) if ctx.kid else None,
            # bool → int: sqlite3 binds an exact int directly but looks up an adapter for a bool.
            ctx.token_source, int(ctx.token_cache_hit), ctx.mapping_claim, ctx.mapping_rule, int(ctx.mapping_fallback),
            self._hasher.hash(ctx.subject),
            user.user_id if user is not None else None, str(user.status) if user is not None else None,
            int(ctx.anonymous), ctx.cache_state, round(ctx.cache_age, 3) if ctx.cache_age is not None else None,
            formats % tuple(map(floordiv, timings.values(), _THOUSANDS)),
            (ended_ns - ctx.started_ns) // 1000 if ctx.started_ns else None,
            ctx.upstream_status or None, ctx.upstream_target, ctx.upstream_ms,
            self.fingerprint, self._kept_claims(ctx.claims),
        )

    def shape(self, ctx: RequestContext, ts: float, ended_ns: int) -> dict[str, Any]:
        """The record of ``ctx`` in its documented JSON form (tools and tests; the drain uses ``row``)."""
        return row_to_record(self.row(ctx, ts, ended_ns))

    def _timing_format(self, stages: tuple[str, ...]) -> str:
        if len(stages) > len(_THOUSANDS):
            raise ValueError(f"{len(stages)} stage timings: more than {len(_THOUSANDS)}")
        # Stage names repeat: a %-template per stage list makes the JSON text in one formatting step.
        if len(self._timing_formats) >= 64:
            self._timing_formats.clear()
        parts = ",".join(json.dumps(str(stage)).replace("%", "%%") + ":%d" for stage in stages)
        fmt = self._timing_formats[stages] = "{" + parts + "}"
        return fmt

    def _issuer_label(self, issuer: Any) -> str | None:
        # Most requests name the issuer the previous one did; holding it keeps the identity check sound.
        label = issuer_label(issuer)
        self._last_issuer = (issuer, label)
        return label

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


_iso_time = IsoTime()


def row_to_record(row: Sequence[Any], time_text: IsoTime = _iso_time) -> dict[str, Any]:
    """The documented record (docs/records.md) of a row, with every field."""
    values = dict(zip(COLUMNS, row, strict=True))
    for name in _JSON_COLUMNS:
        text = values[name]
        values[name] = json.loads(text) if text is not None else None
    for name in BOOL_COLUMNS:
        values[name] = bool(values[name])
    values["upstream"] = {key: values.pop(column) for column, key in _UPSTREAM.items()}
    values["v"] = RECORD_VERSION
    values["time"] = time_text(values["ts"])
    return {name: values[name] for name in FIELDS}
