"""Minting for the demo/test issuer and decoding for people; demo keys round-trip through the gateway's verify."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from tokens_kit import Harness, claims, issuer, key_path, make_config

from subwarden.clock import FrozenClock
from subwarden.tokens.decode import decode_unverified
from subwarden.tokens.keys import KeyLoadError
from subwarden.tokens.mint import generate_demo_keys, mint_token

Make = Callable[..., Harness]


async def test_demo_keys_mint_tokens_the_gateway_verifies(harness: Make, clock: FrozenClock, tmp_path: Path) -> None:
    private, public = generate_demo_keys(tmp_path)
    assert (private.name, public.name) == ("demo-private.pem", "demo-public.pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    h = harness(make_config([issuer(keys={"files": [str(public)]})]))
    assert await h.code(mint_token(claims(clock), str(private))) is None


def test_mint_sets_alg_typ_kid_and_extra_headers() -> None:
    token = mint_token({"sub": "a"}, key_path("ec-p256.pem"), alg="ES256", kid="k1", headers={"x5t": "abc"})
    header, payload = decode_unverified(token)
    assert header == {"alg": "ES256", "typ": "JWT", "kid": "k1", "x5t": "abc"}
    assert payload == {"sub": "a"}


def test_mint_takes_the_kid_of_a_jwk_file() -> None:
    header, _ = decode_unverified(mint_token({"sub": "a"}, key_path("hmac.jwk"), alg="HS512"))
    assert header["kid"] == "hs-1"


def test_mint_refuses_an_algorithm_the_key_cannot_sign() -> None:
    with pytest.raises(KeyLoadError):
        mint_token({"sub": "a"}, key_path("rsa-a.pem"), alg="ES256")


def test_mint_refuses_a_public_key() -> None:
    with pytest.raises(KeyLoadError):
        mint_token({"sub": "a"}, key_path("rsa-a.pub.pem"))


def test_mint_does_not_let_headers_override_alg() -> None:
    with pytest.raises(ValueError, match="alg"):
        mint_token({"sub": "a"}, key_path("rsa-a.pem"), headers={"alg": "none"})
