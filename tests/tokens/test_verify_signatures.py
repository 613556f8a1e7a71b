"""Verify stage with static keys: every algorithm family, allow-lists, key confusion, issuers, kids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tokens_kit import (
    ISS,
    Harness,
    claims,
    forge,
    forge_hmac,
    forge_signed,
    issuer,
    key_path,
    make_config,
    private_key,
    sign,
)

from subwarden.clock import FrozenClock
from subwarden.tokens.keys import secret_key

Make = Callable[..., Harness]

FAMILIES = [
    ("HS256", "hmac.jwk", "hmac.jwk"),
    ("HS384", "hmac.jwk", "hmac.jwk"),
    ("HS512", "hmac.jwk", "hmac.jwk"),
    ("RS256", "rsa-a.pem", "rsa-a.pub.pem"),
    ("RS384", "rsa-a.pem", "rsa-a.pub.pem"),
    ("RS512", "rsa-a.pem", "rsa-a.pub.pem"),
    ("PS256", "rsa-a.pem", "rsa-a.pub.pem"),
    ("PS384", "rsa-a.pem", "rsa-a.pub.pem"),
    ("PS512", "rsa-a.pem", "rsa-a.pub.pem"),
    ("ES256", "ec-p256.pem", "ec-p256.pub.pem"),
    ("ES384", "ec-p384.pem", "ec-p384.pub.pem"),
    ("ES512", "ec-p521.pem", "ec-p521.pub.pem"),
    ("EdDSA", "ed25519.pem", "ed25519.pub.pem"),
    ("EdDSA", "ed448.pem", "ed448.pub.pem"),
]


@pytest.mark.parametrize(("alg", "private", "public"), FAMILIES)
async def test_verifies_every_algorithm_family(
    harness: Make, clock: FrozenClock, alg: str, private: str, public: str
) -> None:
    h = harness(make_config([issuer(algorithms=[alg], keys={"files": [key_path(public)]})]))
    ctx = await h.run(sign(claims(clock), private, alg))
    assert ctx.error is None
    assert (ctx.alg, ctx.claims["sub"], ctx.key_source) == (alg, "alice", f"file:{key_path(public)}")
    assert ctx.issuer.label == ISS and ctx.issuer.config.issuer == ISS
    assert ctx.token_cache_hit is False


async def test_verifies_hs256_with_the_secret_from_the_environment(harness: Make, clock: FrozenClock) -> None:
    secret = "s" * 40
    h = harness(
        make_config([issuer(algorithms=["HS256"], keys={"secret_env": "IDP_SECRET"})]), environ={"IDP_SECRET": secret}
    )
    token = forge_signed({"alg": "HS256"}, claims(clock), secret_key(secret.encode()), "HS256")
    ctx = await h.run(token)
    assert ctx.error is None and ctx.key_source == "env:IDP_SECRET"


async def test_returns_algorithm_not_allowed_for_alg_none(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    ctx = await h.run(forge({"alg": "none", "typ": "JWT"}, claims(clock), b""))
    assert ctx.error is not None and ctx.error.code == "algorithm_not_allowed" and ctx.error.status == 401


async def test_rejects_rs256_token_resigned_as_hs256_with_the_public_key_as_secret(
    harness: Make, clock: FrozenClock
) -> None:
    h = harness(make_config())
    public_pem = Path(key_path("rsa-a.pub.pem")).read_bytes()
    token = forge_hmac({"alg": "HS256", "typ": "JWT"}, claims(clock), public_pem)
    assert await h.code(token) == "algorithm_not_allowed"


async def test_returns_algorithm_not_allowed_if_alg_does_not_fit_the_kid_s_key(
    harness: Make, clock: FrozenClock
) -> None:
    h = harness(make_config([issuer(algorithms=["RS256", "ES256"], keys={"files": [key_path("rsa-a.jwks.json")]})]))
    token = forge_signed({"alg": "ES256", "kid": "rsa-a"}, claims(clock), private_key("ec-p256.pem", "ES256"), "ES256")
    ctx = await h.run(token)
    assert ctx.error is not None and ctx.error.code == "algorithm_not_allowed"
    assert ctx.error.detail["kid"] == "rsa-a"


async def test_returns_algorithm_not_allowed_if_ec_alg_names_another_curve(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config([issuer(algorithms=["ES256"], keys={"files": [key_path("ec-p256.pub.pem")]})]))
    assert await h.code(sign(claims(clock), "ec-p384.pem", "ES384")) == "algorithm_not_allowed"


async def test_returns_signature_invalid_if_the_payload_was_tampered(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    header, _, signature = sign(claims(clock)).split(".")
    tampered = forge(b"", claims(clock, sub="admin")).split(".")[1]
    assert await h.code(f"{header}.{tampered}.{signature}") == "signature_invalid"


async def test_returns_signature_invalid_if_another_key_signed(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    ctx = await h.run(sign(claims(clock), "rsa-b.pem"))
    assert ctx.error is not None and ctx.error.code == "signature_invalid"
    assert ctx.error.detail["keys_tried"] == 1


async def test_returns_signature_invalid_for_an_ecdsa_signature_of_wrong_length(
    harness: Make, clock: FrozenClock
) -> None:
    h = harness(make_config([issuer(algorithms=["ES256"], keys={"files": [key_path("ec-p256.pub.pem")]})]))
    assert await h.code(forge({"alg": "ES256"}, claims(clock), b"\x01" * 10)) == "signature_invalid"


async def test_returns_issuer_unknown_naming_a_near_miss(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    ctx = await h.run(sign(claims(clock, iss=ISS + "/")))
    assert ctx.error is not None and ctx.error.code == "issuer_unknown"
    assert ctx.error.detail["near"] == [ISS]


async def test_returns_issuer_unknown_if_the_token_has_no_iss(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    payload = claims(clock)
    del payload["iss"]
    assert await h.code(sign(payload)) == "issuer_unknown"


async def test_selects_the_issuer_by_exact_iss(harness: Make, clock: FrozenClock) -> None:
    second = issuer(issuer="https://other.test", keys={"files": [key_path("rsa-b.pub.pem")]})
    h = harness(make_config([issuer(), second]))
    ctx = await h.run(sign(claims(clock, iss="https://other.test"), "rsa-b.pem"))
    assert ctx.error is None and ctx.issuer.label == "https://other.test"
    assert await h.code(sign(claims(clock, iss="https://other.test"), "rsa-a.pem")) == "signature_invalid"


async def test_returns_key_not_found_for_unknown_kid_without_a_jwks_source(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config([issuer(keys={"files": [key_path("rsa-a.jwks.json")]})]))
    ctx = await h.run(sign(claims(clock), kid="nope"))
    assert ctx.error is not None and ctx.error.code == "key_not_found"
    assert ctx.error.detail["known_kids"] == ["rsa-a"]


async def test_uses_a_kidless_pem_key_for_a_token_with_a_kid(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    assert await h.code(sign(claims(clock), kid="whatever")) is None


async def test_tries_each_kidless_key_fitting_the_alg(harness: Make, clock: FrozenClock) -> None:
    files = [key_path("rsa-a.pub.pem"), key_path("rsa-b.pub.pem")]
    h = harness(make_config([issuer(keys={"files": files})]))
    assert await h.code(sign(claims(clock), "rsa-b.pem")) is None


async def test_accepts_a_private_pem_as_verification_key_via_its_public_half(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config([issuer(keys={"files": [key_path("rsa-a.pem")]})]))
    assert await h.code(sign(claims(clock))) is None


async def test_records_verify_facts_when_diagnosing(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    facts: dict[str, object] = {}
    await h.run(sign(claims(clock), kid="k9"), facts=facts)
    assert facts["verify.alg"] == "RS256" and facts["verify.kid"] == "k9"
    assert facts["verify.key_source"] == f"file:{key_path('rsa-a.pub.pem')}"
    assert facts["verify.cache_hit"] is False
