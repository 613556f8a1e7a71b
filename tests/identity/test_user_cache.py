"""The user cache: TTLs, single-flight, errors never cached, invalidation, bounded size, stale-if-error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from identity_support import WrappedStore, make_config

from subwarden.clock import FrozenClock
from subwarden.config.models import CacheConfig
from subwarden.errors import StoreUnavailable
from subwarden.identity.cache import GONE, UserCache
from subwarden.identity.stores.base import UserRecord, create_store

KEY = ("idp", "user_id", "alice")
ALICE = UserRecord("alice")


def cache(clock: FrozenClock, **settings: float) -> UserCache:
    return UserCache(CacheConfig(**settings), clock)


class Answers:
    """A loader returning scripted answers and counting calls."""

    def __init__(self, *answers: list[UserRecord] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> list[UserRecord]:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_found_user_is_served_from_cache_until_the_positive_ttl_expires(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=60, negative_ttl=5)
    loaded = await c.load(KEY, Answers([ALICE]))
    assert loaded.records == [ALICE] and loaded.state == "miss"
    clock.advance(59.9)
    assert c.get(KEY) == (ALICE, pytest.approx(59.9))
    clock.advance(0.1)
    assert c.get(KEY) is None
    assert (c.hits, c.misses) == (1, 1)


async def test_a_not_found_answer_is_cached_for_the_shorter_negative_ttl(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=60, negative_ttl=5)
    await c.load(KEY, Answers([]))
    clock.advance(4.9)
    assert c.get(KEY) == (None, pytest.approx(4.9))
    assert c.negative_hits == 1
    clock.advance(0.1)
    assert c.get(KEY) is None


async def test_fifty_concurrent_misses_for_one_key_make_one_store_query(users_db: Path, clock: FrozenClock) -> None:
    config = make_config(users_db)
    store = WrappedStore(create_store(config.identity.store))
    store.gate = asyncio.Event()
    c = cache(clock)
    query = store.build_query("user_id", "alice")
    tasks = [asyncio.ensure_future(c.load(KEY, lambda: store.fetch(query))) for _ in range(50)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*tasks)
    await store.close()
    assert store.fetches == 1
    assert [r.records[0].user_id for r in results] == ["alice"] * 50
    assert sorted(r.state for r in results) == ["coalesced"] * 49 + ["miss"]
    assert (c.misses, c.coalesced) == (1, 49)


async def test_a_store_error_is_never_cached_as_a_miss(clock: FrozenClock) -> None:
    c = cache(clock)
    answers = Answers(StoreUnavailable("down"), [ALICE])
    with pytest.raises(StoreUnavailable):
        await c.load(KEY, answers)
    assert c.get(KEY) is None and c.peek(KEY) is None
    assert (await c.load(KEY, answers)).records == [ALICE]
    assert answers.calls == 2


async def test_waiters_share_the_store_error_of_the_one_query(clock: FrozenClock) -> None:
    c = cache(clock)
    gate = asyncio.Event()

    async def failing() -> list[UserRecord]:
        await gate.wait()
        raise StoreUnavailable("down")

    tasks = [asyncio.ensure_future(c.load(KEY, failing)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert c.peek(KEY) is None


class GatedLoader:
    """A store query that answers ``[ALICE]`` once ``gate`` is set; counts its calls."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0

    async def __call__(self) -> list[UserRecord]:
        self.calls += 1
        await self.gate.wait()
        return [ALICE]


async def test_a_cancelled_first_caller_does_not_strand_the_waiters(clock: FrozenClock) -> None:
    c = cache(clock)
    slow = GatedLoader()

    first = asyncio.ensure_future(c.load(KEY, slow))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(c.load(KEY, slow))
    await asyncio.sleep(0)
    first.cancel()
    slow.gate.set()
    assert (await second).records == [ALICE]
    assert c.get(KEY) is not None


async def test_when_the_first_caller_is_cancelled_one_waiter_queries_again_and_the_others_join_it(
    clock: FrozenClock,
) -> None:
    c = cache(clock)
    slow = GatedLoader()

    first = asyncio.ensure_future(c.load(KEY, slow))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(c.load(KEY, slow)) for _ in range(3)]
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    slow.gate.set()
    results = await asyncio.gather(*waiting)
    assert first.cancelled()
    assert slow.calls == 2
    assert sorted(r.state for r in results) == ["coalesced", "coalesced", "miss"]
    assert all(r.records == [ALICE] for r in results)
    assert c.stats()["user_cache_inflight"] == 0


async def test_a_cancelled_waiter_leaves_the_query_and_the_other_waiters_alone(clock: FrozenClock) -> None:
    c = cache(clock)
    slow = GatedLoader()

    first = asyncio.ensure_future(c.load(KEY, slow))
    await asyncio.sleep(0)
    quitter, stayer = (asyncio.ensure_future(c.load(KEY, slow)) for _ in range(2))
    await asyncio.sleep(0)
    quitter.cancel()
    slow.gate.set()
    assert (await first).state == "miss"
    assert (await stayer).records == [ALICE]
    assert quitter.cancelled()
    assert c.get(KEY) is not None and c.stats()["user_cache_inflight"] == 0


async def test_a_cancelled_first_caller_alone_leaves_nothing_in_flight(clock: FrozenClock) -> None:
    c = cache(clock)
    slow = GatedLoader()

    first = asyncio.ensure_future(c.load(KEY, slow))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert c.stats()["user_cache_inflight"] == 0
    slow.gate.set()
    assert (await c.load(KEY, slow)).state == "miss"


async def test_an_ambiguous_answer_is_not_cached(clock: FrozenClock) -> None:
    c = cache(clock)
    await c.load(KEY, Answers([ALICE, UserRecord("alice2")]))
    assert c.peek(KEY) is None


async def test_a_user_now_missing_replaces_the_cached_user(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=10, negative_ttl=5, stale_if_error=60)
    await c.load(KEY, Answers([ALICE]))
    clock.advance(11)
    await c.load(KEY, Answers([]))
    view = c.peek(KEY)
    assert view is not None and view.negative
    with pytest.raises(StoreUnavailable):
        clock.advance(6)
        await c.load(KEY, Answers(StoreUnavailable("down")))


async def test_invalidate_one_key_drops_only_that_entry(clock: FrozenClock) -> None:
    c = cache(clock)
    other = ("idp", "user_id", "bob")
    await c.load(KEY, Answers([ALICE]))
    await c.load(other, Answers([UserRecord("bob")]))
    assert c.invalidate(KEY) is True
    assert c.invalidate(KEY) is False
    assert c.get(KEY) is None and c.get(other) is not None


async def test_invalidate_user_drops_every_key_resolving_to_that_user_and_its_negative_entries(
    clock: FrozenClock,
) -> None:
    c = cache(clock)
    by_email = ("idp", "email", "alice@example.com")
    other_issuer_negative = ("other", "user_id", "alice")
    await c.load(KEY, Answers([ALICE]))
    await c.load(by_email, Answers([ALICE]))
    await c.load(other_issuer_negative, Answers([]))
    await c.load(("idp", "user_id", "bob"), Answers([UserRecord("bob")]))
    assert c.invalidate_user("alice") == 3
    assert len(c) == 1
    assert c.invalidate_user("alice") == 0


async def test_invalidate_subject_drops_that_subject_under_every_attribute_of_the_issuer(clock: FrozenClock) -> None:
    c = cache(clock)
    await c.load(("idp", "user_id", "x"), Answers([]))
    await c.load(("idp", "email", "x"), Answers([]))
    await c.load(("other", "user_id", "x"), Answers([]))
    assert c.invalidate_subject("idp", "x") == 2
    assert c.peek(("other", "user_id", "x")) is not None


async def test_invalidate_all_empties_the_cache(clock: FrozenClock) -> None:
    c = cache(clock)
    await c.load(KEY, Answers([ALICE]))
    await c.load(("idp", "user_id", "nobody"), Answers([]))
    assert c.invalidate_all() == 2
    assert len(c) == 0 and c.invalidate_user("alice") == 0


async def test_the_cache_is_bounded_and_evicts_the_least_recently_used(clock: FrozenClock) -> None:
    c = cache(clock, max_entries=3)
    keys = [("idp", "user_id", f"u{i}") for i in range(4)]
    for key in keys[:3]:
        await c.load(key, Answers([UserRecord(key[2])]))
    assert c.get(keys[0]) is not None  # u0 becomes most recently used
    await c.load(keys[3], Answers([UserRecord("u3")]))
    assert len(c) == 3
    assert c.peek(keys[1]) is None
    assert c.evictions == 1
    assert c.invalidate_user("u1") == 0


async def test_max_entries_zero_caches_nothing(clock: FrozenClock) -> None:
    c = cache(clock, max_entries=0)
    await c.load(KEY, Answers([ALICE]))
    assert len(c) == 0


async def test_stale_if_error_serves_a_recently_expired_user_while_the_store_fails(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=10, stale_if_error=30)
    await c.load(KEY, Answers([ALICE]))
    clock.advance(39)
    loaded = await c.load(KEY, Answers(StoreUnavailable("down")))
    assert loaded.state == "stale" and loaded.records == [ALICE]
    assert loaded.age == pytest.approx(39)
    assert c.stale_served == 1
    clock.advance(1)
    with pytest.raises(StoreUnavailable):
        await c.load(KEY, Answers(StoreUnavailable("down")))


async def test_stale_if_error_is_off_by_default(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=10)
    await c.load(KEY, Answers([ALICE]))
    clock.advance(11)
    with pytest.raises(StoreUnavailable):
        await c.load(KEY, Answers(StoreUnavailable("down")))


async def test_peek_shows_an_entry_without_moving_counters(clock: FrozenClock) -> None:
    c = cache(clock, negative_ttl=5)
    await c.load(KEY, Answers([]))
    clock.advance(7)
    view = c.peek(KEY)
    assert view is not None
    assert (view.negative, view.fresh, view.age) == (True, False, 7)
    assert (c.hits, c.negative_hits) == (0, 0)
    assert c.stats()["user_cache_entries"] == 1


async def test_an_entry_leaving_the_cache_is_marked_gone_however_it_leaves(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=60, negative_ttl=5, max_entries=2)
    keys = [("idp", "user_id", name) for name in ("a", "b", "c", "d")]
    for key in keys[:2]:
        await c.load(key, Answers([UserRecord(key[2])]))
    held = c.held((keys[0],), c.get(keys[0])[0])  # type: ignore[index]
    assert held is not None and held[0].state != GONE
    replaced = held[0]
    clock.advance(61)
    await c.load(keys[0], Answers([UserRecord("a")]))  # reloaded after the TTL: a new entry
    await c.load(keys[1], Answers([UserRecord("b")]))
    assert replaced.state == GONE
    fresh = c.held((keys[0],), c.get(keys[0])[0])  # type: ignore[index]
    assert fresh is not None
    c.invalidate(keys[0])
    assert fresh[0].state == GONE
    b = c.held((keys[1],), c.peek(keys[1]).user)  # type: ignore[union-attr]
    assert b is not None
    await c.load(keys[2], Answers([UserRecord("c")]))
    await c.load(keys[3], Answers([UserRecord("d")]))  # evicts b, the least recently used
    assert c.peek(keys[1]) is None and b[0].state == GONE
    cached = [c.held((k,), c.peek(k).user) for k in keys[2:]]  # type: ignore[union-attr]
    c.invalidate_all()
    assert all(h is not None and h[0].state == GONE for h in cached)


async def test_an_entry_used_in_place_by_the_admission_memo_gets_a_second_chance(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=60, negative_ttl=5, max_entries=2)
    a, b, d = (("idp", "user_id", name) for name in ("a", "b", "d"))
    await c.load(a, Answers([UserRecord("a")]))
    await c.load(b, Answers([UserRecord("b")]))
    await c.load(("idp", "user_id", "c"), Answers([UserRecord("c")]))  # a (oldest) goes; b, c passed over once
    assert c.peek(a) is None and c.evictions == 1
    held = c.held((b,), c.peek(b).user)  # type: ignore[union-attr]
    assert held is not None and c.reuse(held) == 0.0  # the memo used b without moving it
    await c.load(d, Answers([UserRecord("d")]))
    assert c.peek(b) is not None and c.peek(("idp", "user_id", "c")) is None  # c went, b stayed
    assert c.hits == 1


async def test_held_entries_are_reused_only_while_every_one_is_fresh(clock: FrozenClock) -> None:
    c = cache(clock, positive_ttl=60, negative_ttl=5)
    nobody, alice = ("idp", "user_id", "nobody"), ("idp", "email", "alice@example.com")
    await c.load(nobody, Answers([]))
    await c.load(alice, Answers([ALICE]))
    held = c.held((nobody, alice), ALICE)
    assert held is not None and len(held) == 2
    assert c.held((nobody, alice), UserRecord("someone else")) is None
    clock.advance(4)
    assert c.reuse(held) == pytest.approx(4) and (c.hits, c.negative_hits) == (1, 1)
    clock.advance(1)  # the negative entry is past its TTL: nothing reused, nothing counted
    assert c.reuse(held) is None and (c.hits, c.negative_hits) == (1, 1)
    assert c.held((nobody, alice), ALICE) is None
