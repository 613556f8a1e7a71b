"""Every token code of the catalog, reached through the real pipeline runner with a bad token."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from tokens_kit import DROP, Harness, bearer, claims, forge, issuer, key_path, make_config, sign

from subwarden.clock import FrozenClock
from subwarden.config import GatewayConfig
from subwarden.errors import CATALOG

Make = Callable[..., Harness]
Case = Callable[[FrozenClock], tuple[GatewayConfig, list[tuple[bytes, bytes]]]]
TOKEN_STAGES = {"extract", "verify", "validate"}


def default(make_headers: Callable[[FrozenClock], list[tuple[bytes, bytes]]], **config: Any) -> Case:
    return lambda clock: (make_config(**config), make_headers(clock))


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/jwks"


def unreachable_jwks(clock: FrozenClock) -> tuple[GatewayConfig, list[tuple[bytes, bytes]]]:
    config = make_config([issuer(keys={"jwks_uri": closed_port_url(), "fetch_timeout": 1})])
    return config, bearer(sign(claims(clock), kid="a"))


def token(**extra: Any) -> Callable[[FrozenClock], list[tuple[bytes, bytes]]]:
    return lambda clock: bearer(sign(claims(clock, **extra)))


CASES: dict[str, Case] = {
    "token_missing": default(lambda c: []),
    "token_conflict": default(lambda c: bearer("a.b.c") + bearer("d.e.f")),
    "authorization_scheme_invalid": default(lambda c: [(b"authorization", b"Basic dXNlcjpwYXNz")]),
    "token_too_large": default(lambda c: bearer(sign(claims(c, pad="x" * 400))), tokens={"max_bytes": 256}),
    "token_malformed": default(lambda c: bearer("only.two")),
    "token_encoding_invalid": default(lambda c: bearer(sign(claims(c)) + "==")),
    "token_duplicate_key": default(lambda c: bearer(forge(b'{"alg":"RS256","alg":"none"}', claims(c)))),
    "issuer_unknown": default(token(iss="https://evil.test")),
    "algorithm_not_allowed": default(lambda c: bearer(forge({"alg": "none"}, claims(c), b""))),
    "key_not_found": lambda c: (
        make_config([issuer(keys={"files": [key_path("rsa-a.jwks.json")]})]),
        bearer(sign(claims(c), kid="unknown")),
    ),
    "signature_invalid": default(lambda c: bearer(sign(claims(c), "rsa-b.pem"))),
    "jwks_unavailable": unreachable_jwks,
    "token_expired": default(lambda c: bearer(sign(claims(c, exp=int(c.now()) - 3600)))),
    "token_not_yet_valid": default(lambda c: bearer(sign(claims(c, nbf=int(c.now()) + 3600)))),
    "token_iat_invalid": default(lambda c: bearer(sign(claims(c, iat=int(c.now()) + 3600)))),
    "claim_type_invalid": default(token(exp="1900000000")),
    "audience_invalid": default(token(aud="someone-else")),
    "claim_missing": default(token(exp=DROP)),
    "claim_rule_failed": lambda c: (
        make_config([issuer(claim_rules=[{"claim": "tenant", "equals": "acme"}])]),
        bearer(sign(claims(c, tenant="globex"))),
    ),
}


def test_the_table_covers_every_token_code_of_the_catalog() -> None:
    catalog = {cls.code for cls in CATALOG if cls.stage in TOKEN_STAGES}
    assert set(CASES) == catalog


@pytest.mark.parametrize("code", sorted(CASES))
async def test_a_bad_token_gets_its_own_code(harness: Make, clock: FrozenClock, code: str) -> None:
    config, headers = CASES[code](clock)
    h = harness(config)
    await h.runtime.start()
    ctx = await h.run(headers=headers)
    assert ctx.error is not None and ctx.error.code == code
    assert ctx.error.status == (503 if code == "jwks_unavailable" else 401)
    assert ctx.failed_stage in TOKEN_STAGES
    raw = next((v.decode() for n, v in headers if n == b"authorization"), "")
    secret_part = raw.removeprefix("Bearer ").split(".")[-1]
    if len(secret_part) > 8:
        assert secret_part not in repr(ctx.error.detail) and secret_part not in ctx.error.reason


async def test_an_anonymous_route_lets_a_request_without_token_through_unverified(harness: Make) -> None:
    h = harness(make_config(unknown_user="anonymous"))
    ctx = await h.run()
    assert ctx.error is None and ctx.anonymous is True
    assert (ctx.token, ctx.claims, ctx.issuer) == (None, None, None)


async def test_an_anonymous_route_still_rejects_a_bad_token(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config(unknown_user="anonymous"))
    assert await h.code(sign(claims(clock), "rsa-b.pem")) == "signature_invalid"


async def test_jwks_unavailable_is_503_with_retry_after_and_no_bearer_challenge(
    harness: Make, clock: FrozenClock
) -> None:
    config, headers = unreachable_jwks(clock)
    h = harness(config)
    ctx = await h.run(headers=headers)
    assert ctx.error is not None and ctx.error.retry_after == 5 and ctx.error.bearer_error is None


@pytest.mark.parametrize("separator", [b",", b"\t"])
async def test_a_token_with_a_foreign_character_is_token_encoding_invalid(
    harness: Make, clock: FrozenClock, separator: bytes
) -> None:
    h = harness(make_config())
    value = b"Bearer " + sign(claims(clock)).encode() + separator + b"x"
    assert await h.code(headers=[(b"authorization", value)]) == "token_encoding_invalid"
