"""Client-supplied identity headers never reach the upstream, on any route; identity is strip-then-set."""

from __future__ import annotations

import pytest
from conftest import Running
from dp_client import get, roundtrip

SPOOFED = (
    "X-User-Id: mallory",
    "x-user-roles: admin",
    "X-USER-EMAIL: mallory@evil.test",
    "X-Subject: mallory",
    "X-Issuer: https://evil.test",
    "X-Authenticated-User: mallory",
    "X-Remote-User: mallory",
    "X-Forwarded-User: mallory",
    "X-Claim-Email: mallory@evil.test",
)
IDENTITY_NAMES = {h.split(":")[0].lower() for h in SPOOFED}
ROUTE_PATHS = ["/", "/anon/x", "/noauthz", "/svc/x", "/small", "/rr", "/impatient/x"]


@pytest.mark.parametrize("path", ROUTE_PATHS)
@pytest.mark.parametrize("script", ["X-Test-None: 1", "X-Test-Anonymous: 1", "X-Test-Shadow: user_not_found"])
async def test_spoofed_identity_headers_never_reach_the_upstream(gw: Running, path: str, script: str) -> None:
    resp = await roundtrip(gw.port, get(path, *SPOOFED, script))
    assert resp.status == 200
    assert IDENTITY_NAMES.isdisjoint(resp.upstream_headers())


@pytest.mark.parametrize("path", ROUTE_PATHS)
async def test_gateway_identity_replaces_the_clients_own(gw: Running, path: str) -> None:
    resp = await roundtrip(gw.port, get(path, *SPOOFED, "X-Test-Identity: 1"))
    seen = resp.upstream_headers()
    assert seen["x-user-id"] == ["alice"]
    assert seen["x-user-roles"] == ["admin,ops"]
    assert (IDENTITY_NAMES - {"x-user-id", "x-user-roles"}).isdisjoint(seen)


async def test_route_strip_list_applies_on_an_anonymous_route(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/anon/x", "X-Secret: s3cret", "X-Test-Anonymous: 1"))
    assert "x-secret" not in resp.upstream_headers()
    assert gw.records[-1].outcome == "anonymous"


async def test_identity_value_with_crlf_is_refused_with_500_and_nothing_is_forwarded(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/x", "X-Test-Bad-Identity: 1"))
    assert resp.status == 500
    assert resp.json()["code"] == "internal_error"
    assert b"X-Injected" not in resp.body
    assert gw.records[-1].upstream_target is None
