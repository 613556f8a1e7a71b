"""Evidence → findings: one table from error code to the analysis that names its cause. No I/O."""

from __future__ import annotations

import logging
from collections.abc import Callable

from subwarden.diagnose import causes_identity as ident
from subwarden.diagnose import causes_store as store
from subwarden.diagnose import causes_subject as subject
from subwarden.diagnose import causes_time as time
from subwarden.diagnose import causes_token as token
from subwarden.diagnose.causes_env import compare_findings
from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.report import Finding

log = logging.getLogger("subwarden.diagnose")
Analysis = Callable[[Evidence], list[Finding]]

ANALYSES: dict[str, Analysis] = {
    "token_missing": token.token_missing,
    "token_conflict": token.token_rejected,
    "authorization_scheme_invalid": token.token_rejected,
    "token_too_large": token.token_not_jws,
    "token_malformed": token.token_not_jws,
    "token_encoding_invalid": token.token_not_jws,
    "token_duplicate_key": token.token_not_jws,
    "issuer_unknown": token.issuer_unknown,
    "algorithm_not_allowed": token.algorithm_not_allowed,
    "key_not_found": token.key_unknown_kid,
    "signature_invalid": token.signature_invalid,
    "jwks_unavailable": token.jwks_unavailable,
    "token_expired": time.token_expired,
    "token_not_yet_valid": time.token_not_yet_valid,
    "token_iat_invalid": time.token_iat_invalid,
    "claim_type_invalid": token.claim_type_invalid,
    "audience_invalid": token.audience_mismatch,
    "claim_missing": token.claim_missing,
    "claim_rule_failed": token.claim_rule_failed,
    "subject_missing": subject.subject_missing,
    "subject_malformed": subject.subject_malformed,
    "user_not_found": ident.user_not_found,
    "subject_ambiguous": subject.subject_ambiguous,
    "user_disabled": store.user_inactive,
    "user_locked": store.user_inactive,
    "user_deleted": store.user_inactive,
    "store_unavailable": store.store_unreachable,
    "store_auth_failed": store.store_auth_failed,
    "store_misconfigured": store.store_misconfigured,
    "store_timeout": store.store_timeout,
    "store_circuit_open": store.store_circuit_open,
    "token_revoked": store.token_revoked,
    "insufficient_role": store.insufficient_role,
    "route_not_found": store.route_not_found,
    "internal_error": store.internal_error,
}

#: Findings that only say "not found here"; an environment finding supersedes them.
_GENERIC = frozenset({"user_absent", "issuer_unknown"})

#: Findings that hold whatever the outcome (warnings about drift and clocks).
WARNINGS: tuple[Analysis, ...] = (subject.mapping_fallback, time.skew_warning, store.stale_positive_cache)


def analyze(ev: Evidence) -> list[Finding]:
    """The findings for ``ev``: environment causes first (they explain the rest), then the code's own, then warnings."""
    findings = compare_findings(ev)
    if ev.code is None:
        findings += store.allowed(ev)
    else:
        own = _safely(ANALYSES.get(ev.code, store.unexplained), ev) or store.unexplained(ev)
        if findings:  # the environment explains it: drop the generic "not here" findings
            own = [f for f in own if f.id not in _GENERIC]
        findings += [f for f in own if f.id not in {x.id for x in findings}]
    for warning in WARNINGS:
        findings += _safely(warning, ev)
    if ev.shadow:
        for f in findings:
            if f.severity == "cause":
                f.severity = "warning"
    return findings


def _safely(analysis: Analysis, ev: Evidence) -> list[Finding]:
    """An analysis that trips over unexpected data must not cost the user the rest of the report."""
    try:
        return analysis(ev)
    except Exception:
        log.exception("diagnose: analysis %s failed", getattr(analysis, "__name__", analysis))
        return []
