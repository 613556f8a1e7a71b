"""Everything diagnose learned about one request, as plain data: the input of the cause analysis.

The pipeline run and the read-only investigations fill it; ``analyze`` turns it into findings
without any I/O, so every cause can be tested from hand-built evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from subwarden.config.diff import ConfigDiff
from subwarden.config.models import GatewayConfig, IssuerConfig
from subwarden.errors import GatewayError
from subwarden.identity.stores.base import NearMiss, SelfTestReport, UserRecord


@dataclass(frozen=True, slots=True)
class Lookup:
    """One candidate the resolve stage looked up: which claim, which attribute, the normalized key."""

    claim: str
    attribute: str
    key: str
    raw: Any = None
    query: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A user found by a read-only search diagnose ran (near miss, variant, other claim, direct lookup).

    ``kind``: casefold | trimmed | casefold_trimmed | other_attribute (from the store's
    ``near_misses``), unicode_nfc | unicode_nfd | strip_prefix (variants of the key looked up
    exactly), other_claim (another claim of the token), exact (the key itself, cache bypassed).
    """

    kind: str
    lookup: Lookup
    attribute: str
    value: str
    user: UserRecord
    claim: str | None = None
    setting: str | None = None

    @classmethod
    def from_near_miss(cls, lookup: Lookup, miss: NearMiss) -> Match:
        return cls(miss.kind, lookup, miss.attribute, miss.stored_value, miss.user)


@dataclass(slots=True)
class CacheView:
    state: str | None
    age: float | None
    negative_ttl: float
    positive_ttl: float


@dataclass(slots=True)
class CompareEvidence:
    """What the other environment's config (``--compare-config``) says about the same token."""

    source: str
    fingerprint: str
    issuer_here: bool
    issuer_there: bool
    diff: ConfigDiff
    other_code: str | None = None
    other_verdict: str | None = None
    user_there: UserRecord | None = None
    user_there_lookup: Lookup | None = None
    store_there: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Evidence:
    config: GatewayConfig
    now: float
    error: GatewayError | None = None
    failed_stage: str | None = None
    token_shape: str = "jws"
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    claims_verified: bool = False
    issuer: IssuerConfig | None = None
    issuer_index: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    lookups: list[Lookup] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    user: UserRecord | None = None
    #: For a user served from the cache: what the store says now (None = not checked).
    user_now: list[UserRecord] | None = None
    cache: CacheView | None = None
    store_identity: str | None = None
    self_test: SelfTestReport | None = None
    compare: CompareEvidence | None = None
    shadow: bool = False
    mapping_fallback: bool = False
    mapping_rule: str | None = None
    admin_base: str = "http://127.0.0.1:9090"
    investigation_errors: list[str] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        return self.error.code if self.error else None

    @property
    def detail(self) -> dict[str, Any]:
        return self.error.detail if self.error else {}

    def matches_of(self, *kinds: str) -> list[Match]:
        return [m for m in self.matches if m.kind in kinds]

    @property
    def issuer_path(self) -> str:
        """Config path of the token's issuer, e.g. ``issuers[0]``, for fix instructions."""
        return f"issuers[{self.issuer_index}]" if self.issuer_index is not None else "issuers[…]"

    @property
    def claim_names(self) -> list[str]:
        return sorted(self.claims) if self.claims else []
