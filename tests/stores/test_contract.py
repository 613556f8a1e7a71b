"""The one behavioural suite every user store passes, each against its real server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from stores_harness import Harness
from stores_proxy import DelayProxy
from stores_users import ESCAPED_STAR_ID, META_ID, QUOTE_ID, ZOE_NFC, ZOE_NFD

from subwarden.errors import StoreAuthFailed, StoreMisconfigured, StoreTimeout, StoreUnavailable
from subwarden.identity.stores.base import UserStatus, UserStore


async def lookup(store: UserStore, value: str, attribute: str = "user_id") -> list[str]:
    return [u.user_id for u in await store.lookup(attribute, value)]


async def retry_timeouts(attempt: Callable[[], Awaitable[list[str]]], times: int = 5) -> list[str]:
    for _ in range(times - 1):
        try:
            return await attempt()
        except StoreTimeout:
            pass
    return await attempt()


@pytest.fixture
async def store(backend: Harness):  # type: ignore[no-untyped-def]
    s = backend.store()
    yield s
    await s.close()


async def test_finds_an_active_user_with_roles_and_attributes(store: UserStore) -> None:
    [alice] = await store.lookup("user_id", "alice")
    assert alice.user_id == "alice"
    assert alice.status is UserStatus.active
    assert sorted(alice.roles) == ["admin", "dev"]
    assert dict(alice.attributes) == {"email": "alice@example.com", "name": "Alice Liddell"}
    assert alice.matched_value == "alice"


async def test_returns_no_user_when_no_id_matches(store: UserStore) -> None:
    assert await store.lookup("user_id", "nobody") == []


@pytest.mark.parametrize(
    ("user_id", "status"),
    [("dave", UserStatus.disabled), ("erin", UserStatus.locked), ("frank", UserStatus.deleted)],
)
async def test_reports_the_stored_status_of_inactive_users(store: UserStore, user_id: str, status: UserStatus) -> None:
    [user] = await store.lookup("user_id", user_id)
    assert user.status is status


async def test_finds_a_user_through_another_lookup_attribute(store: UserStore) -> None:
    assert await lookup(store, "bob@example.com", "email") == ["bob"]


@pytest.mark.parametrize("value", ["Alice", "ALICE", "alice ", " alice", "alic"])
async def test_matches_case_and_whitespace_exactly(store: UserStore, value: str) -> None:
    assert await lookup(store, value) == []


async def test_matches_unicode_exactly_without_normalizing(store: UserStore) -> None:
    assert await lookup(store, ZOE_NFC) == [ZOE_NFC]
    assert await lookup(store, ZOE_NFD) == []
    assert await lookup(store, ZOE_NFC.lower()) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("'", []),
        ("' OR '1'='1", []),
        ("*", []),
        ("%", []),
        ("_lice", []),
        (")(|(uid=*", []),
        ("*)(cn=*", []),
        ("\x00", []),
        ("alice\x00", []),
        (META_ID, [META_ID]),
        (ESCAPED_STAR_ID, [ESCAPED_STAR_ID]),
        (QUOTE_ID, [QUOTE_ID]),
    ],
)
async def test_metacharacters_match_nothing_or_the_literal_id(
    store: UserStore, value: str, expected: list[str]
) -> None:
    assert await lookup(store, value) == expected


@pytest.mark.parametrize(
    ("value", "kind", "attribute", "stored"),
    [
        ("Alice", "casefold", "user_id", "alice"),
        (" alice ", "trimmed", "user_id", "alice"),
        (" ALICE", "casefold_trimmed", "user_id", "alice"),
        ("alice@example.com", "other_attribute", "email", "alice@example.com"),
    ],
)
async def test_near_misses_explain_a_miss(store: UserStore, value: str, kind: str, attribute: str, stored: str) -> None:
    assert await store.lookup("user_id", value) == []
    misses = await store.near_misses("user_id", value)
    assert [(m.kind, m.attribute, m.stored_value, m.user.user_id) for m in misses] == [
        (kind, attribute, stored, "alice")
    ]


async def test_near_misses_are_empty_for_an_unrelated_subject(store: UserStore) -> None:
    assert await store.near_misses("user_id", "zzz-nobody") == []


async def test_a_renamed_lookup_field_is_misconfigured_not_missing(backend: Harness) -> None:
    store = backend.store(**backend.renamed_lookup)
    try:
        with pytest.raises(StoreMisconfigured):
            await store.lookup("user_id", "alice")
        report = await store.self_test("alice")
        assert report.failed_step is not None and report.failed_step.name == "mapping"
    finally:
        await store.close()


async def test_a_renamed_attribute_field_is_misconfigured(backend: Harness) -> None:
    store = backend.store(**backend.renamed_attribute)
    try:
        with pytest.raises(StoreMisconfigured):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()


async def test_self_test_passes_connect_mapping_and_canary(store: UserStore) -> None:
    report = await store.self_test("alice")
    assert [(s.name, s.ok) for s in report.steps] == [("connect", True), ("mapping", True), ("canary", True)]


async def test_self_test_names_the_canary_step_when_the_canary_is_missing(store: UserStore) -> None:
    report = await store.self_test("nobody")
    assert report.failed_step is not None and report.failed_step.name == "canary"


async def test_self_test_fails_the_canary_step_when_the_canary_is_not_active(store: UserStore) -> None:
    report = await store.self_test("dave")
    assert report.failed_step is not None and report.failed_step.name == "canary"


# ---------------------------------------------------------------- opt-in case-insensitive lookups
@pytest.mark.parametrize(("value", "expected"), [("ALICE", ["alice"]), ("alice", ["alice"]), ("ALICE ", []),
                                                 ("*", []), (ZOE_NFC.upper(), [ZOE_NFC]), (ZOE_NFD, [])])
async def test_casefold_lookups_fold_case_and_nothing_else(
    folding_backend: Harness, value: str, expected: list[str]
) -> None:
    store = folding_backend.store()
    try:
        assert store.supports_casefold
        query = store.build_casefold_query("user_id", value.casefold())
        assert [u.user_id for u in await store.fetch(query)] == expected
    finally:
        await store.close()


async def test_the_http_store_does_not_claim_casefold_lookups(http: Harness) -> None:
    assert not http.store().supports_casefold


# ---------------------------------------------------------------- network failures
async def test_a_stopped_store_is_unavailable_not_missing(network_backend: Harness) -> None:
    overrides = await network_backend.stop()
    store = network_backend.store(**overrides)
    try:
        with pytest.raises(StoreUnavailable):
            await store.lookup("user_id", "alice")
        report = await store.self_test()
        assert report.failed_step is not None and report.failed_step.name == "connect"
        assert "store_unavailable" in report.failed_step.detail
    finally:
        await store.close()
        await network_backend.resume()


async def test_wrong_credentials_are_store_auth_failed(network_backend: Harness) -> None:
    store = network_backend.store(**network_backend.wrong_credentials)
    try:
        with pytest.raises(StoreAuthFailed):
            await store.lookup("user_id", "alice")
        report = await store.self_test()
        assert report.failed_step is not None and report.failed_step.name == "connect"
    finally:
        await store.close()


async def test_a_store_slower_than_the_timeout_is_store_timeout(network_backend: Harness) -> None:
    async with DelayProxy(network_backend.port, delay=0.5) as proxy:
        store = network_backend.store(url=network_backend.url_at(proxy.port), timeout=0.2)
        # What this test shows is what the flag promises: the resolve stage adds no budget of its own.
        assert store.bounds_own_time
        try:
            with pytest.raises(StoreTimeout):
                await store.lookup("user_id", "alice")
        finally:
            await store.close()


async def test_a_timed_out_answer_never_reaches_a_later_lookup(network_backend: Harness) -> None:
    async with DelayProxy(network_backend.port) as proxy:
        store = network_backend.store(url=network_backend.url_at(proxy.port), timeout=0.2, pool_size=1)
        try:
            assert await lookup(store, "alice") == ["alice"]
            proxy.delay = 0.4
            with pytest.raises(StoreTimeout):
                await store.lookup("user_id", "alice")
            proxy.delay = 0.0
            # The single pooled connection may still be busy cancelling the slow query.
            assert await retry_timeouts(lambda: lookup(store, "bob")) == ["bob"]
            assert await lookup(store, "dave") == ["dave"]
        finally:
            await store.close()


async def test_lookups_recover_after_the_store_restarts(network_backend: Harness) -> None:
    proxy = await DelayProxy(network_backend.port).start()
    store = network_backend.store(url=network_backend.url_at(proxy.port))
    try:
        assert await lookup(store, "alice") == ["alice"]
        await proxy.stop()
        with pytest.raises(StoreUnavailable):
            await store.lookup("user_id", "alice")
        await proxy.start()
        assert await lookup(store, "alice") == ["alice"]
        assert await lookup(store, "bob") == ["bob"]
    finally:
        await store.close()
        await proxy.stop()
