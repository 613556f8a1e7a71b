"""Config → the identity stages (map → resolve → revocation → authorize → enrich) and their runtime."""

from __future__ import annotations

from typing import Any

from subwarden.clock import Clock
from subwarden.config.models import GatewayConfig
from subwarden.identity.authorize import AuthorizeStage
from subwarden.identity.breaker import CircuitBreaker
from subwarden.identity.cache import UserCache
from subwarden.identity.enrich import EnrichStage
from subwarden.identity.mapping import MapSubjectStage
from subwarden.identity.resolve import ResolveUserStage
from subwarden.identity.revocation import InMemoryRevocationList, RevocationList, RevocationStage
from subwarden.identity.stores.base import UserStore, create_store
from subwarden.pipeline.stage import Stage


class IdentityRuntime:
    """The identity stages plus what the control plane acts on: cache, store, breaker, revocations."""

    def __init__(self, config: GatewayConfig, clock: Clock, store: UserStore, revocations: RevocationList) -> None:
        self.config = config
        self.store = store
        self.revocations = revocations
        self.cache = UserCache(config.identity.cache, clock)
        store_config = config.identity.store
        self.breaker = CircuitBreaker(store_config.breaker_failures, store_config.breaker_reset, clock)
        self.mapping = MapSubjectStage(config.issuers)
        self.resolve = ResolveUserStage(store, self.cache, self.breaker, store_config.timeout)
        self.enrich = EnrichStage(config.headers)
        #: The pipeline's admission memo (pipeline.memo), set by build_gateway; its counters join ``stats``.
        self.admission_memo: Any = None
        self.stages: list[Stage] = [
            self.mapping, self.resolve, RevocationStage(revocations), AuthorizeStage(), self.enrich,
        ]

    async def start(self) -> None:
        """Nothing to warm: stores connect lazily, so a store down at start-up is a readiness failure."""

    async def close(self) -> None:
        await self.store.close()

    def issuer_label(self, issuer: str) -> str | None:
        """The label of the issuer named by its label or its exact ``iss`` URL."""
        for item in self.config.issuers:
            if issuer in (item.label, item.issuer):
                return item.label
        return None

    def invalidate_subject(self, issuer: str, subject: str) -> int:
        """Drop the cache entries of a raw subject as that issuer's normalization keys it."""
        label = self.issuer_label(issuer)
        if label is None:
            return 0
        mapping = self.mapping.mapping_for(_Issuer(label, self.config))
        key = mapping.normalize(subject) if mapping.normalize is not None else subject
        return self.cache.invalidate_subject(label, key)

    def stats(self) -> dict[str, float]:
        stats: dict[str, float] = {**self.cache.stats(), **self.breaker.stats(), **self.enrich.stats()}
        if self.admission_memo is not None:
            stats.update(self.admission_memo.stats())
        revocation_stats = getattr(self.revocations, "stats", None)
        if callable(revocation_stats):
            stats.update(revocation_stats())
        return stats


class _Issuer:
    """The (label, config) pair ``MapSubjectStage.mapping_for`` expects, for admin-side lookups."""

    def __init__(self, label: str, config: GatewayConfig) -> None:
        self.label = label
        self.config: Any = next(i for i in config.issuers if i.label == label)


def build_identity(
    config: GatewayConfig,
    clock: Clock,
    store: UserStore | None = None,
    revocations: RevocationList | None = None,
) -> IdentityRuntime:
    """Build the identity runtime; config mistakes (unsupported casefold, bad store URL) raise ``ConfigError``."""
    from subwarden.config.loader import ConfigError

    store = store if store is not None else create_store(config.identity.store)
    folding = [i.label for i in config.issuers if i.normalization.casefold]
    if folding and not store.supports_casefold:
        raise ConfigError(
            f"issuers {folding}: normalization.casefold needs a store with case-insensitive lookups; "
            f"{type(store).__name__} has none"
        )
    return IdentityRuntime(config, clock, store, revocations or InMemoryRevocationList(clock))
