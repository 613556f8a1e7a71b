"""Verified-token cache: hits skip the signature, stay bounded (LRU), and never outlive a retired key."""

from __future__ import annotations

from collections.abc import Callable

from joserfc.jwk import OctKey
from tokens_kit import Harness, claims, make_config, sign

from subwarden.clock import FrozenClock
from subwarden.tokens.cache import GONE, VerifiedCache, VerifiedToken
from subwarden.tokens.keys import VerifyKey

Make = Callable[..., Harness]


async def test_a_second_request_with_the_same_token_is_a_cache_hit(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    token = sign(claims(clock))
    first, second = await h.run(token), await h.run(token)
    assert (first.token_cache_hit, second.token_cache_hit) == (False, True)
    assert second.claims == first.claims and second.issuer is first.issuer
    assert (second.alg, second.key_source) == ("RS256", first.key_source)


async def test_a_cache_hit_is_reported_in_diagnose_facts(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    token = sign(claims(clock))
    await h.run(token)
    facts: dict[str, object] = {}
    await h.run(token, facts=facts)
    assert facts["verify.cache_hit"] is True


async def test_failed_verifications_are_not_cached(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    assert await h.code(sign(claims(clock), "rsa-b.pem")) == "signature_invalid"
    assert len(h.runtime.cache) == 0


async def test_the_cache_keeps_at_most_its_configured_size(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config(tokens={"verified_cache_size": 2}))
    tokens = [sign(claims(clock, jti=str(i))) for i in range(3)]
    for t in tokens:
        assert await h.code(t) is None
    assert len(h.runtime.cache) == 2
    assert (await h.run(tokens[0])).token_cache_hit is False


async def test_a_cache_size_of_zero_disables_the_cache(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config(tokens={"verified_cache_size": 0}))
    token = sign(claims(clock))
    await h.run(token)
    assert (await h.run(token)).token_cache_hit is False


_KEY = VerifyKey(OctKey.import_key(b"k" * 32), frozenset({"HS256"}), "test")


def _Entry() -> VerifiedToken:
    """A VerifiedToken with nothing in it: the cache only reads and sets ``state``."""
    return VerifiedToken({}, {}, None, "HS256", _KEY)


def test_eviction_is_least_recently_used() -> None:
    cache = VerifiedCache(2)
    a, b, c = _Entry(), _Entry(), _Entry()
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    assert (cache.hits, cache.misses) == (3, 1)
    assert b.state == GONE and a.state != GONE


def test_an_entry_used_in_place_gets_a_second_chance_and_a_dropped_one_is_marked_gone() -> None:
    cache = VerifiedCache(2)
    a, b, c, d = _Entry(), _Entry(), _Entry(), _Entry()
    cache.put("a", a)
    cache.put("b", b)
    cache.put("c", c)  # every entry used: the oldest (a) goes
    assert a.state == GONE and cache.peek("a") is None
    cache.reused(b)  # the admission memo used b without moving it
    cache.put("d", d)
    assert cache.peek("b") is b and cache.peek("c") is None and c.state == GONE
    cache.discard("b")
    assert b.state == GONE
    cache.clear()
    assert d.state == GONE and len(cache) == 0
