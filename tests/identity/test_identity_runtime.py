"""build_identity: the five stages in order, wired to one store, cache, breaker and revocation list."""

from __future__ import annotations

from pathlib import Path

import pytest
from identity_support import WrappedStore, admit, make_config, make_ctx

from subwarden.clock import FrozenClock
from subwarden.config.loader import ConfigError
from subwarden.identity.build import build_identity
from subwarden.identity.revocation import InMemoryRevocationList
from subwarden.identity.stores.base import create_store
from subwarden.identity.stores.sqlite import SqliteStore
from subwarden.pipeline.stage import Pipeline


class NoCasefoldStore(WrappedStore):
    @property
    def supports_casefold(self) -> bool:  # type: ignore[override]
        return False


async def test_builds_map_resolve_revocation_authorize_enrich_on_the_configured_store(
    users_db: Path, clock: FrozenClock
) -> None:
    runtime = build_identity(make_config(users_db), clock)
    assert [s.name for s in runtime.stages] == ["map", "resolve", "revocation", "authorize", "enrich"]
    assert isinstance(runtime.store, SqliteStore)
    await runtime.start()
    await runtime.close()


async def test_an_injected_revocation_list_is_the_one_checked(users_db: Path, clock: FrozenClock) -> None:
    config = make_config(users_db)
    revocations = InMemoryRevocationList(clock)
    runtime = build_identity(config, clock, revocations=revocations)
    revocations.revoke_subject("idp", "alice", before=clock.now())
    ctx = await admit(Pipeline(runtime.stages), make_ctx(config, {"sub": "alice", "iat": int(clock.now()) - 5}))
    await runtime.close()
    assert ctx.error is not None and ctx.error.code == "token_revoked"
    assert runtime.revocations is revocations


def test_casefold_normalization_on_a_store_without_casefold_lookups_is_a_config_error(
    users_db: Path, clock: FrozenClock
) -> None:
    config = make_config(users_db, normalization={"casefold": True})
    with pytest.raises(ConfigError, match="casefold"):
        build_identity(config, clock, store=NoCasefoldStore(create_store(config.identity.store)))


def test_an_unknown_store_scheme_is_a_config_error(users_db: Path, clock: FrozenClock) -> None:
    with pytest.raises(ConfigError, match="unknown scheme"):
        build_identity(make_config(users_db, store={"url": "nosuch://x"}), clock)


async def test_invalidate_subject_accepts_the_issuer_label_or_url_and_applies_its_normalization(
    users_db: Path, clock: FrozenClock
) -> None:
    config = make_config(users_db, normalization={"casefold": True})
    runtime = build_identity(config, clock)
    pipeline = Pipeline(runtime.stages)
    for _ in range(2):
        await admit(pipeline, make_ctx(config, {"sub": "Nobody"}))
        assert len(runtime.cache) == 1
        assert runtime.invalidate_subject("https://idp.test" if _ else "idp", "NOBODY") == 1
    assert runtime.invalidate_subject("https://elsewhere.test", "nobody") == 0
    await runtime.close()


async def test_stats_expose_cache_breaker_header_and_revocation_counters(users_db: Path, clock: FrozenClock) -> None:
    config = make_config(users_db)
    runtime = build_identity(config, clock)
    await admit(Pipeline(runtime.stages), make_ctx(config, {"sub": "alice"}))
    stats = runtime.stats()
    await runtime.close()
    assert stats["user_cache_misses"] == 1 and stats["user_cache_entries"] == 1
    assert stats["store_breaker_state"] == 0
    assert {"identity_header_values_dropped", "revoked_jtis", "user_cache_coalesced"} <= set(stats)
