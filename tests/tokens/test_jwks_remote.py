"""Remote keys over real sockets: JWKS URI, OIDC discovery, rotation, single-flight, cooldown, outages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tokens_kit import ISS, CountingFetcher, Harness, JwksServer, claims, issuer, make_config, public_jwk, sign

from subwarden.clock import FrozenClock

Make = Callable[..., Harness]


def remote_issuer(jwks_url: str, **keys: Any) -> dict[str, Any]:
    return issuer(keys={"jwks_uri": jwks_url, "refetch_cooldown": 30, **keys})


async def started(make: Make, issuers: list[dict[str, Any]], fetcher: CountingFetcher) -> Harness:
    h = make(make_config(issuers), fetcher)
    await h.runtime.start()
    return h


async def test_verifies_with_keys_fetched_from_the_jwks_uri(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    ctx = await h.run(sign(claims(clock), kid="a"))
    assert ctx.error is None and ctx.key_source == f"jwks:{url}"
    assert fetcher.total == 1


async def test_refetches_once_when_a_new_kid_appears(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    clock.advance(31)
    jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"), public_jwk("rsa-b.pub.pem", "b"))
    assert await h.code(sign(claims(clock), "rsa-b.pem", kid="b")) is None
    assert await h.code(sign(claims(clock), "rsa-b.pem", kid="b", x=1)) is None
    assert fetcher.total == 2


async def test_respects_the_refetch_cooldown_between_unknown_kids(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"), public_jwk("rsa-b.pub.pem", "b"))
    assert await h.code(sign(claims(clock), "rsa-b.pem", kid="b")) == "key_not_found"
    assert fetcher.total == 1
    clock.advance(29)
    assert await h.code(sign(claims(clock), "rsa-b.pem", kid="b")) == "key_not_found"
    assert fetcher.total == 1
    clock.advance(2)
    assert await h.code(sign(claims(clock), "rsa-b.pem", kid="b")) is None
    assert fetcher.total == 2


async def test_concurrent_unknown_kids_share_one_fetch(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    clock.advance(31)
    jwks_server.set_jwks(public_jwk("rsa-b.pub.pem", "b"), public_jwk("rsa-c.pub.pem", "c"))
    tokens = [sign(claims(clock, jti=str(i)), f"rsa-{k}.pem", kid=k) for i, k in enumerate("bcbcbcbcbc")]
    tokens += [sign(claims(clock, jti="z"), "rsa-b.pem", kid="zzz")]
    codes = await asyncio.gather(*(h.code(t) for t in tokens))
    assert codes == [None] * 10 + ["key_not_found"]
    assert fetcher.total == 2
    assert jwks_server.hits["/jwks"] == 2


async def test_keeps_verifying_with_cached_keys_while_the_jwks_endpoint_is_down(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url, max_stale=3600)], fetcher)
    jwks_server.down = True
    clock.advance(600)
    assert await h.runtime.issuers[ISS].keys.refresh() is False
    ctx = await h.run(sign(claims(clock), kid="a"))
    assert ctx.error is None and ctx.token_cache_hit is False


async def test_returns_503_jwks_unavailable_once_cached_keys_are_older_than_max_stale(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url, max_stale=3600)], fetcher)
    jwks_server.down = True
    clock.advance(3601)
    ctx = await h.run(sign(claims(clock), kid="a"))
    assert ctx.error is not None and ctx.error.code == "jwks_unavailable"
    assert (ctx.error.status, ctx.error.retry_after) == (503, 5)
    assert "HTTP status 503" in ctx.error.detail["error"]


async def test_start_survives_an_unreachable_jwks_and_requests_get_503(
    harness: Make, clock: FrozenClock, fetcher: CountingFetcher
) -> None:
    server = JwksServer()
    url = server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    server.stop()  # nothing listens any more: connection refused
    h = await started(harness, [remote_issuer(url)], fetcher)
    assert await h.code(sign(claims(clock), kid="a")) == "jwks_unavailable"
    status = h.runtime.status()[0]
    assert status["remote_usable"] is False and "ConnectError" in status["last_error"]


async def test_an_unknown_kid_during_an_outage_is_503_not_401(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    jwks_server.down = True
    clock.advance(31)
    assert await h.code(sign(claims(clock), "rsa-b.pem", kid="b")) == "jwks_unavailable"
    assert await h.code(sign(claims(clock), kid="a")) is None


async def test_background_refresh_recovers_after_a_failed_start(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    jwks_server.down = True
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url, refresh_interval=0.05)], fetcher)
    keys = h.runtime.issuers[ISS].keys
    assert keys.remote_usable() is False
    jwks_server.down = False
    for _ in range(100):
        if keys.remote_usable():
            break
        await asyncio.sleep(0.02)
    assert await h.code(sign(claims(clock), kid="a")) is None


async def test_discovers_the_jwks_uri_from_openid_configuration(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    iss = jwks_server.url + "/realm"
    url = jwks_server.set_jwks(public_jwk("ec-p256.pub.pem", "e1"), path="/realm/certs")
    jwks_server.docs["/realm/.well-known/openid-configuration"] = {"issuer": iss, "jwks_uri": url}
    h = await started(harness, [issuer(issuer=iss, algorithms=["ES256"], keys={"discovery": True})], fetcher)
    ctx = await h.run(sign(claims(clock, iss=iss), "ec-p256.pem", "ES256", kid="e1"))
    assert ctx.error is None and ctx.key_source == f"discovery:{url}"


async def test_refuses_a_discovery_document_for_another_issuer(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    iss = jwks_server.url + "/prod"
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"), path="/prod/certs")
    jwks_server.docs["/prod/.well-known/openid-configuration"] = {"issuer": jwks_server.url + "/dev", "jwks_uri": url}
    h = await started(harness, [issuer(issuer=iss, keys={"discovery": True})], fetcher)
    ctx = await h.run(sign(claims(clock, iss=iss), kid="a"))
    assert ctx.error is not None and ctx.error.code == "jwks_unavailable"
    assert "differs from the configured issuer" in ctx.error.detail["error"]


async def test_a_key_dropped_from_the_jwks_no_longer_verifies_cached_tokens(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    url = jwks_server.set_jwks(public_jwk("rsa-a.pub.pem", "a"), public_jwk("rsa-b.pub.pem", "b"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    token = sign(claims(clock), kid="a")
    assert await h.code(token) is None
    assert (await h.run(token)).token_cache_hit is True
    jwks_server.set_jwks(public_jwk("rsa-b.pub.pem", "b"))
    assert await h.runtime.issuers[ISS].keys.refresh() is True
    assert await h.code(token) == "key_not_found"


async def test_skips_bad_and_symmetric_keys_in_a_jwks_but_uses_the_rest(
    harness: Make, clock: FrozenClock, jwks_server: JwksServer, fetcher: CountingFetcher
) -> None:
    bad = {"kty": "RSA", "kid": "bad", "n": "AQAB"}
    oct_key = {"kty": "oct", "kid": "o", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    url = jwks_server.set_jwks(bad, oct_key, public_jwk("rsa-a.pub.pem", "a"))
    h = await started(harness, [remote_issuer(url)], fetcher)
    assert await h.code(sign(claims(clock), kid="a")) is None
    assert h.runtime.issuers[ISS].keys.known_kids() == ["a"]
