"""``subwarden replay``: re-run identity resolution (map → resolve) for recorded failures under a config.

Records keep the token's iss and the claims in ``records.keep_claims`` (personal data; see
docs/diagnose.md), never the token. Each recorded failure is re-evaluated through the map and
resolve stages the config builds, against its real store.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from subwarden.diagnose.words import timestamp
from subwarden.errors import STORE_ERRORS
from subwarden.observe.query import MAX_LIMIT, RecordQuery, RecordReader
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.gateway import Gateway
from subwarden.pipeline.stage import Pipeline

#: Failures identity resolution decides (the ones a config or data change can turn around).
REPLAYABLE: tuple[str, ...] = (
    "user_not_found", "subject_missing", "subject_malformed", "subject_ambiguous",
    "user_disabled", "user_locked", "user_deleted", *(cls.code for cls in STORE_ERRORS),
)
_IDENTITY_STAGES = ("map", "resolve")


@dataclass(slots=True)
class CodeSummary:
    total: int = 0
    would_pass: int = 0
    still_fail: int = 0
    fail_differently: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "would_pass": self.would_pass, "still_fail": self.still_fail,
                "fail_differently": dict(sorted(self.fail_differently.items()))}


@dataclass(slots=True)
class ReplaySummary:
    since: float
    fingerprint: str
    records_read: int = 0
    skipped: int = 0
    truncated: list[str] = field(default_factory=list)
    by_code: dict[str, CodeSummary] = field(default_factory=lambda: defaultdict(CodeSummary))
    missing_claims: set[str] = field(default_factory=set)

    def total(self) -> CodeSummary:
        out = CodeSummary()
        for s in self.by_code.values():
            out.total += s.total
            out.would_pass += s.would_pass
            out.still_fail += s.still_fail
            out.fail_differently.update(s.fail_differently)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "since": timestamp(self.since), "config_fingerprint": self.fingerprint, "records_read": self.records_read,
            "skipped": self.skipped, "truncated_codes": self.truncated,
            "by_code": {code: s.to_json() for code, s in sorted(self.by_code.items())},
            "total": self.total().to_json(), "claims_not_recorded": sorted(self.missing_claims),
        }


Record = dict[str, Any]


def read_failures(
    reader: RecordReader, since: float, codes: tuple[str, ...] = REPLAYABLE
) -> tuple[list[Record], list[str]]:
    """Recorded identity failures since ``since`` (newest first, at most MAX_LIMIT per code)."""
    records: list[Record] = []
    truncated = []
    for code in codes:
        found = reader.query(RecordQuery(since=since, code=code, limit=MAX_LIMIT))
        if len(found) >= MAX_LIMIT:
            truncated.append(code)
        records += [r for r in found if r.get("outcome") != "shadow"]
    return records, truncated


async def replay(gateway: Gateway, records: list[dict[str, Any]], since: float) -> ReplaySummary:
    """How each recorded failure fares under ``gateway``'s config: passes, same code, or another code."""
    summary = ReplaySummary(since, gateway.fingerprint, records_read=len(records))
    pipeline = Pipeline([s for s in gateway.pipeline.stages if s.name in _IDENTITY_STAGES])
    for record in records:
        claims = record.get("claims") or {}
        if not claims.get("iss"):
            summary.skipped += 1
            continue
        summary.missing_claims |= _unrecorded(gateway, claims)
        after = await _reevaluate(gateway, pipeline, claims)
        _count(summary.by_code[str(record.get("code"))], str(record.get("code")), after)
    return summary


def _unrecorded(gateway: Gateway, claims: dict[str, Any]) -> set[str]:
    issuer = next((i for i in gateway.config.issuers if i.issuer == claims.get("iss")), None)
    wanted = {rule.claim for rule in issuer.mapping} if issuer else set()
    return {c for c in wanted if c not in claims and c not in gateway.config.recorded_claims}


async def _reevaluate(gateway: Gateway, pipeline: Pipeline, claims: dict[str, Any]) -> str | None:
    issuer = (getattr(gateway.tokens, "issuers", None) or {}).get(claims["iss"])
    if issuer is None:
        return "issuer_unknown"
    ctx = RequestContext("GET", "/", [], request_id="replay")
    ctx.claims, ctx.issuer = dict(claims), issuer
    pending = pipeline.admit(ctx)
    if pending is not None:
        await pending
    return ctx.error.code if ctx.error is not None else None


def _count(summary: CodeSummary, before: str, after: str | None) -> None:
    summary.total += 1
    if after is None:
        summary.would_pass += 1
    elif after == before:
        summary.still_fail += 1
    else:
        summary.fail_differently[after] += 1


def render_replay(summary: ReplaySummary, source: str, records: str) -> str:
    lines = [f"replay  records {records} since {timestamp(summary.since)} · config {source} "
             f"(fingerprint {summary.fingerprint})",
             f"  {summary.records_read} recorded identity failure(s), {summary.skipped} skipped (no iss recorded)", ""]
    header = f"  {'code':<22}{'total':>7}{'would pass':>12}{'still fail':>12}  fail differently"
    lines.append(header)
    rows = [*sorted(summary.by_code.items()), ("TOTAL", summary.total())]
    for code, s in rows:
        other = ", ".join(f"{c}: {n}" for c, n in sorted(s.fail_differently.items())) or "—"
        lines.append(f"  {code:<22}{s.total:>7}{s.would_pass:>12}{s.still_fail:>12}  {other}")
    if summary.missing_claims:
        lines.append(f"note: mapping claims not kept in records: {', '.join(sorted(summary.missing_claims))} — add "
                     "them to records.keep_claims to replay them (they are personal data)")
    if summary.truncated:
        lines.append(f"note: only the newest {MAX_LIMIT} records were read for: {', '.join(summary.truncated)}")
    return "\n".join(lines) + "\n"
