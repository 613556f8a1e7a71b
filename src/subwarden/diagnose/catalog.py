"""The causes diagnose can name: stable ids, the guide's cause number (1 to 7) and the docs page of each.

A test checks every id here is documented on its page under docs/causes/.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CauseInfo:
    id: str
    page: str
    guide_cause: int | None


_PAGES: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "subject-mismatch": (1, (
        "subject_case_mismatch", "subject_whitespace", "subject_case_and_whitespace", "subject_unicode_form",
        "subject_prefix", "subject_other_attribute", "other_claim_matches", "subject_malformed",
        "subject_ambiguous", "user_absent",
    )),
    "store-misconfiguration": (2, (
        "store_unreachable", "store_auth_failed", "store_misconfigured", "stale_negative_cache",
        "user_excluded_by_store_filter", "mapping_fallback", "live_gateway_differs",
    )),
    "missing-subject": (3, ("subject_missing",)),
    "inactive-user": (4, ("user_disabled", "user_locked", "user_deleted", "token_revoked", "stale_positive_cache")),
    "environment-drift": (5, (
        "issuer_other_environment", "user_other_environment", "token_other_environment", "running_config_differs",
    )),
    "store-latency": (6, ("store_timeout", "store_circuit_open")),
    "idp-scopes": (7, ("claim_missing",)),
    "token-keys": (None, ("key_unknown_kid", "jwks_unavailable", "algorithm_not_allowed", "signature_invalid")),
    "token-time": (None, ("token_expired", "token_not_yet_valid", "token_iat_invalid", "clock_skew")),
    "token-claims": (None, (
        "token_missing", "token_not_jws", "token_rejected", "issuer_unknown", "audience_mismatch",
        "claim_type_invalid", "claim_rule_failed",
    )),
    "access-policy": (None, ("route_not_found", "insufficient_role", "allowed", "internal_error", "unexplained")),
}

CAUSES: dict[str, CauseInfo] = {
    cause_id: CauseInfo(cause_id, f"docs/causes/{page}.md", guide)
    for page, (guide, ids) in _PAGES.items()
    for cause_id in ids
}

PAGES: tuple[str, ...] = tuple(f"docs/causes/{page}.md" for page in _PAGES)


def cause_info(cause_id: str) -> CauseInfo:
    """The registry entry; an unregistered id is a bug caught by tests, so fall back loudly in docs only."""
    return CAUSES.get(cause_id) or CauseInfo(cause_id, "docs/causes/README.md", None)
