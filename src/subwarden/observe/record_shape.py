"""Turns a finished RequestContext into one call record (a JSON-safe dict). Never the raw token.

Runs in the record writer's worker thread, off the hot path. Kept claims
(``records.keep_claims``) are personal data; everything free-form is scrubbed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from subwarden.observe.scrub import scrub_text, scrub_value
from subwarden.observe.subject_hash import SubjectHasher
from subwarden.pipeline.context import RequestContext

RECORD_VERSION = 1


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


class RecordShaper:
    """Builds record dicts; holds the per-process constants (fingerprint, hash key, kept claims)."""

    __slots__ = ("_hasher", "_keep_claims", "_second", "_second_text", "fingerprint")

    def __init__(self, *, fingerprint: str, hasher: SubjectHasher, keep_claims: Iterable[str] = ("iss", "sub")) -> None:
        self.fingerprint = fingerprint
        self._hasher = hasher
        # iss always: replay needs it to pick the issuer's mapping rules.
        self._keep_claims = ("iss", *(c for c in keep_claims if c != "iss"))
        self._second = -1
        self._second_text = ""

    def shape(self, ctx: RequestContext, ts: float, ended_ns: int) -> dict[str, Any]:
        """The record of ``ctx``, finished at wall time ``ts`` and ``perf_counter_ns`` ``ended_ns``."""
        error = ctx.error
        return {
            "v": RECORD_VERSION,
            "ts": round(ts, 6),
            "time": self._time_text(ts),
            "request_id": ctx.request_id or None,
            "trace_id": ctx.trace_id or None,
            "route": ctx.route.name if ctx.route is not None else None,
            "method": ctx.method,
            "path": scrub_text(ctx.path.split("?", 1)[0]),
            "outcome": derive_outcome(ctx),
            "code": error.code if error is not None else None,
            "stage": ctx.failed_stage,
            "status": ctx.status or (error.status if error is not None else 0),
            "reason": scrub_text(error.reason) if error is not None else None,
            "detail": scrub_value(error.detail) if error is not None and error.detail else None,
            "shadow_code": ctx.shadow_error.code if ctx.shadow_error is not None else None,
            **self._identity_fields(ctx),
            "timings_us": {name: ns // 1000 for name, ns in ctx.timings.items()},
            "duration_us": (ended_ns - ctx.started_ns) // 1000 if ctx.started_ns else None,
            "upstream": {"status": ctx.upstream_status or None, "target": ctx.upstream_target, "ms": ctx.upstream_ms},
            "fingerprint": self.fingerprint,
            "claims": self._kept_claims(ctx.claims),
        }

    def _time_text(self, ts: float) -> str:
        """ISO 8601 UTC with milliseconds; the date part is formatted once per second."""
        second = int(ts)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((ts - second) * 1000):03d}+00:00"

    def _identity_fields(self, ctx: RequestContext) -> dict[str, Any]:
        user = ctx.user
        return {
            "issuer": issuer_label(ctx.issuer),
            "alg": ctx.alg,
            "kid": scrub_text(ctx.kid) if ctx.kid else None,
            "token_source": ctx.token_source,
            "token_cache_hit": ctx.token_cache_hit,
            "mapping_claim": ctx.mapping_claim,
            "mapping_rule": ctx.mapping_rule,
            "mapping_fallback": ctx.mapping_fallback,
            "subject_hash": self._hasher.hash(ctx.subject),
            "user_id": user.user_id if user is not None else None,
            "user_status": str(user.status) if user is not None else None,
            "anonymous": ctx.anonymous,
            "cache_state": ctx.cache_state,
            "cache_age": round(ctx.cache_age, 3) if ctx.cache_age is not None else None,
        }

    def _kept_claims(self, claims: dict[str, Any] | None) -> dict[str, Any]:
        if not claims:
            return {}
        return {name: scrub_value(claims[name]) for name in self._keep_claims if name in claims}
