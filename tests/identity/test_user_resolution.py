"""Stage 'resolve' over a real SQLite store: exact matching, fallback, statuses, store errors, policies."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from identity_support import JOSE_NFC, JOSE_NFD, WrappedStore, admit, make_config, make_ctx, make_users_db

from subwarden.clock import FrozenClock
from subwarden.config.models import GatewayConfig
from subwarden.errors import StoreUnavailable
from subwarden.identity.build import IdentityRuntime, build_identity
from subwarden.identity.stores.base import create_store
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.stage import Pipeline

SUB_THEN_EMAIL = [{"claim": "sub", "attribute": "user_id"}, {"claim": "email", "attribute": "email"}]


class Gate:
    """Config + runtime + pipeline for one test; closed by the ``closing`` fixture."""

    def __init__(self, config: GatewayConfig, clock: FrozenClock, wrap: bool = False) -> None:
        self.config = config
        self.store = WrappedStore(create_store(config.identity.store)) if wrap else None
        self.runtime: IdentityRuntime = build_identity(config, clock, store=self.store)
        self.pipeline = Pipeline(self.runtime.stages)

    async def run(self, claims: dict[str, Any], facts: dict[str, Any] | None = None) -> RequestContext:
        return await admit(self.pipeline, make_ctx(self.config, claims, facts=facts))

    async def code(self, claims: dict[str, Any]) -> str | None:
        ctx = await self.run(claims)
        return ctx.error.code if ctx.error else None

    async def close(self) -> None:
        await self.runtime.close()


@pytest.fixture
def gate(users_db: Path, clock: FrozenClock, closing: list[object]) -> Any:
    def make(wrap: bool = False, **config: Any) -> Gate:
        g = Gate(make_config(users_db, **config), clock, wrap)
        closing.append(g)
        return g

    return make


async def test_an_active_user_resolves_with_roles_and_the_next_request_is_a_synchronous_cache_hit(gate: Any) -> None:
    g = gate()
    ctx = await g.run({"sub": "alice"})
    assert ctx.error is None
    assert ctx.user is not None and ctx.user.user_id == "alice"
    assert ctx.roles == ("user", "admin")
    assert (ctx.cache_state, ctx.mapping_rule, ctx.mapping_fallback) == ("miss", "sub→user_id", False)
    again = make_ctx(g.config, {"sub": "alice"})
    assert g.pipeline.admit(again) is None
    assert again.cache_state == "hit" and again.user is not None


async def test_matching_is_exact_by_default_so_alice_capitalized_is_user_not_found(gate: Any) -> None:
    g = gate()
    assert await g.code({"sub": "Alice"}) == "user_not_found"
    assert await g.code({"sub": "alice "}) == "user_not_found"
    assert await g.code({"sub": "frank"}) is None
    assert (await g.run({"sub": "Frank"})).roles == ("user",)


async def test_matching_is_unicode_exact_composed_and_decomposed_forms_differ(gate: Any) -> None:
    g = gate()
    assert await g.code({"sub": JOSE_NFC}) is None
    assert await g.code({"sub": JOSE_NFD}) == "user_not_found"


async def test_casefold_normalization_finds_the_user_ignoring_case(gate: Any) -> None:
    g = gate(normalization={"casefold": True})
    ctx = await g.run({"sub": "ALICE"})
    assert ctx.user is not None and ctx.user.user_id == "alice"


async def test_returns_subject_ambiguous_if_casefold_matches_more_than_one_user(gate: Any) -> None:
    g = gate(normalization={"casefold": True})
    ctx = await g.run({"sub": "FRANK"})
    assert ctx.error is not None and ctx.error.code == "subject_ambiguous"
    assert sorted(ctx.error.detail["user_ids"]) == ["Frank", "frank"]
    assert ctx.user is None


async def test_a_match_through_a_later_rule_is_recorded_as_a_fallback(gate: Any) -> None:
    g = gate(mapping=SUB_THEN_EMAIL)
    ctx = await g.run({"sub": "alice-old-id", "email": "alice@example.com"})
    assert ctx.error is None and ctx.user is not None and ctx.user.user_id == "alice"
    assert (ctx.mapping_fallback, ctx.mapping_rule, ctx.mapping_claim) == (True, "email→email", "email")
    assert (ctx.subject, ctx.subject_key) == ("alice@example.com", "alice@example.com")
    hit = make_ctx(g.config, {"sub": "alice-old-id", "email": "alice@example.com"})
    assert g.pipeline.admit(hit) is None
    assert hit.mapping_fallback and hit.cache_state == "hit"


@pytest.mark.parametrize(
    ("subject", "code", "since"),
    [
        ("bob", "user_disabled", "2024-01-02T03:04:05Z"),
        ("carol", "user_locked", "2024-02-03T00:00:00Z"),
        ("dave", "user_deleted", "2024-03-04T00:00:00Z"),
    ],
)
async def test_inactive_users_get_their_own_code_with_the_status_date(
    gate: Any, subject: str, code: str, since: str
) -> None:
    g = gate()
    for _ in range(2):  # from the store, then from the cache
        ctx = await g.run({"sub": subject})
        assert ctx.error is not None and ctx.error.code == code
        assert ctx.error.detail == {"user_id": subject, "status_since": since}
        assert ctx.user is not None and ctx.user.user_id == subject


@pytest.mark.parametrize("subject", ["'", "*", "' OR '1'='1", "alice\x00", "alice' --", "%", "_lice", '"'])
async def test_subjects_carrying_sql_metacharacters_match_nothing(gate: Any, subject: str) -> None:
    assert await gate().code({"sub": subject}) == "user_not_found"


async def test_a_user_whose_id_literally_is_an_injection_string_matches_only_itself(
    tmp_path: Path, clock: FrozenClock, closing: list[object]
) -> None:
    db = make_users_db(tmp_path / "odd.db", [("' OR '1'='1", None, "active", None, "odd", None, None),
                                            ("alice", None, "active", None, "user", None, None)])
    g = Gate(make_config(db), clock)
    closing.append(g)
    ctx = await g.run({"sub": "' OR '1'='1"})
    assert ctx.user is not None and ctx.user.user_id == "' OR '1'='1" and ctx.roles == ("odd",)


async def test_an_unknown_user_is_user_not_found_then_a_negative_cache_hit(gate: Any) -> None:
    g = gate()
    first = await g.run({"sub": "nobody"})
    assert first.error is not None and first.error.code == "user_not_found"
    assert first.error.detail == {"rules": ["sub→user_id"], "cache": ["miss"]}
    second = make_ctx(g.config, {"sub": "nobody"})
    assert g.pipeline.admit(second) is None
    assert second.error is not None and second.cache_state == "negative-hit"


async def test_a_stale_negative_entry_hides_a_new_user_until_it_expires_or_is_invalidated(
    gate: Any, users_db: Path, clock: FrozenClock
) -> None:
    g = gate(cache={"negative_ttl": 5})
    assert await g.code({"sub": "newbie"}) == "user_not_found"
    make_users_db(users_db, [("newbie", None, "active", None, "user", None, None)])
    ctx = await g.run({"sub": "newbie"})
    assert ctx.cache_state == "negative-hit" and ctx.error is not None
    assert g.runtime.invalidate_subject("https://idp.test", "newbie") == 1
    assert await g.code({"sub": "newbie"}) is None


async def test_returns_store_unavailable_if_the_database_file_is_missing_and_never_caches_it(
    tmp_path: Path, clock: FrozenClock, closing: list[object]
) -> None:
    db = tmp_path / "later.db"
    g = Gate(make_config(db), clock)
    closing.append(g)
    ctx = await g.run({"sub": "alice"})
    assert ctx.error is not None and ctx.error.code == "store_unavailable"
    assert ctx.cache_state == "miss"
    assert len(g.runtime.cache) == 0
    make_users_db(db)
    assert await g.code({"sub": "alice"}) is None


async def test_returns_store_misconfigured_if_the_table_or_a_column_does_not_exist(
    users_db: Path, clock: FrozenClock, closing: list[object]
) -> None:
    for store in ({"table": "people"}, {"status_field": "state"}):
        g = Gate(make_config(users_db, store=store), clock)
        closing.append(g)
        assert await g.code({"sub": "alice"}) == "store_misconfigured"
        assert len(g.runtime.cache) == 0


async def test_returns_store_timeout_if_a_lookup_exceeds_the_store_timeout(gate: Any) -> None:
    g = gate(wrap=True, store={"timeout": 0.05})
    g.store.delay = 0.5
    ctx = await g.run({"sub": "alice"})
    assert ctx.error is not None and ctx.error.code == "store_timeout"
    assert ctx.error.detail["timeout"] == 0.05
    g.store.delay = 0
    assert await g.code({"sub": "alice"}) is None


class SelfBoundedStore(WrappedStore):
    bounds_own_time = True  # as the network stores declare (their own budget: tests/stores/test_contract.py)


async def test_a_store_that_keeps_to_its_own_timeout_gets_no_second_budget_from_the_stage(
    users_db: Path, clock: FrozenClock
) -> None:
    config = make_config(users_db, store={"timeout": 0.05})
    store = SelfBoundedStore(create_store(config.identity.store))
    runtime = build_identity(config, clock, store=store)
    try:
        store.delay = 0.15
        ctx = await admit(Pipeline(runtime.stages), make_ctx(config, {"sub": "alice"}))
    finally:
        await runtime.close()
    assert ctx.error is None and ctx.user is not None and ctx.user.user_id == "alice"


def test_the_sqlite_store_keeps_no_budget_of_its_own_so_the_stage_bounds_it(users_db: Path) -> None:
    assert not create_store(make_config(users_db).identity.store).bounds_own_time


async def test_concurrent_requests_for_one_subject_make_one_store_query(gate: Any) -> None:
    g = gate(wrap=True)
    g.store.gate = asyncio.Event()
    pending = [asyncio.ensure_future(g.run({"sub": "alice"})) for _ in range(50)]
    await asyncio.sleep(0.01)
    g.store.gate.set()
    contexts = await asyncio.gather(*pending)
    assert g.store.fetches == 1
    assert sorted(c.cache_state for c in contexts) == ["coalesced"] * 49 + ["miss"]
    assert all(c.user is not None and c.user.user_id == "alice" for c in contexts)


async def test_stale_if_error_serves_the_last_good_user_while_the_store_fails(gate: Any, clock: FrozenClock) -> None:
    g = gate(wrap=True, cache={"positive_ttl": 10, "stale_if_error": 60})
    assert await g.code({"sub": "alice"}) is None
    clock.advance(30)
    g.store.fail = StoreUnavailable("down")
    ctx = await g.run({"sub": "alice"})
    assert ctx.error is None and ctx.user is not None
    assert ctx.cache_state == "stale" and ctx.cache_age == pytest.approx(30)
    assert await g.code({"sub": "bob"}) == "store_unavailable"


async def test_an_anonymous_route_forwards_an_unknown_user_without_identity(gate: Any) -> None:
    g = gate(auth={"unknown_user": "anonymous"})
    ctx = await g.run({"sub": "nobody"})
    assert ctx.error is None and ctx.anonymous and ctx.shadow_error is None
    assert ctx.identity_headers == []


async def test_a_shadow_route_forwards_an_unknown_user_and_keeps_the_would_be_error(gate: Any) -> None:
    g = gate(auth={"unknown_user": "shadow"})
    ctx = await g.run({"sub": "nobody"})
    assert ctx.error is None
    assert ctx.shadow_error is not None and ctx.shadow_error.code == "user_not_found"
    assert ctx.identity_headers == []


async def test_the_unknown_user_policy_does_not_excuse_a_disabled_user(gate: Any) -> None:
    assert await gate(auth={"unknown_user": "anonymous"}).code({"sub": "bob"}) == "user_disabled"


async def test_diagnose_facts_show_each_rule_tried_with_its_query_store_and_cache_state(gate: Any) -> None:
    g = gate(mapping=SUB_THEN_EMAIL)
    facts: dict[str, Any] = {}
    await g.run({"sub": "nobody", "email": "nobody@example.com"}, facts)
    lookups = facts["resolve.lookups"]
    assert [(x["rule"], x["key"], x["cache_state"], x["found"]) for x in lookups] == [
        ("sub→user_id", "nobody", "miss", 0),
        ("email→email", "nobody@example.com", "miss", 0),
    ]
    assert "[user_id] = ?" in lookups[0]["query"] and "'nobody'" in lookups[0]["query"]
    assert facts["resolve.store"].startswith("sqlite:///")
    assert facts["resolve.cache_state"] == "miss"
    facts = {}
    await g.run({"sub": "nobody", "email": "nobody@example.com"}, facts)
    assert [x["cache_state"] for x in facts["resolve.lookups"]] == ["negative-hit", "negative-hit"]
    assert facts["resolve.cache_age"] == 0.0
