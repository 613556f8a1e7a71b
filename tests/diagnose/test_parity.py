"""Parity: for every scenario the code (and status) the gateway answers over a real socket equals the
code diagnose reports for the same token, config and time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from diagnose_backends import SqliteBackend
from diagnose_kit import ISS_A, ISS_B, NOW, config, issuer, mint, run

from subwarden.clock import FrozenClock
from subwarden.config import GatewayConfig
from subwarden.http.server import DataPlane

SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "allowed": ("/api/orders", {"sub": "alice"}),
    "case mismatch": ("/api/orders", {"sub": "Alice"}),
    "other attribute": ("/api/orders", {"sub": "alice@example.com"}),
    "disabled": ("/api/orders", {"sub": "bob"}),
    "locked": ("/api/orders", {"sub": "carol"}),
    "deleted": ("/api/orders", {"sub": "dave"}),
    "missing sub": ("/api/orders", {"sub": None, "email": "alice@example.com"}),
    "non-string sub": ("/api/orders", {"sub": 42}),
    "expired": ("/api/orders", {"sub": "alice", "exp": NOW - 120}),
    "not yet valid": ("/api/orders", {"sub": "alice", "nbf": NOW + 600}),
    "wrong audience": ("/api/orders", {"sub": "alice", "aud": "billing"}),
    "unknown issuer": ("/api/orders", {"sub": "alice", "iss": ISS_B, "key": "idp-b"}),
    "foreign signature": ("/api/orders", {"sub": "alice", "key": "idp-b"}),
    "alg not allowed": ("/api/orders", {"sub": "alice", "alg": "PS256"}),
    "no route": ("/elsewhere", {"sub": "alice"}),
    "insufficient role": ("/admin/panel", {"sub": "zo\u00eb"}),
}
RAW_TOKENS = {"opaque token": "0123456789abcdef0123456789abcdef", "garbage jws": "eyJhbGciOi.e30.c2ln"}


async def upstream_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()


@pytest.fixture
async def upstream_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(upstream_ok, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def parity_config(store: dict[str, Any], upstream: int) -> GatewayConfig:
    target = {"targets": [f"http://127.0.0.1:{upstream}"]}
    return config(store, routes=[
        {"name": "api", "match": {"path_prefix": "/api"}, "upstream": target},
        {"name": "admin", "match": {"path_prefix": "/admin"}, "upstream": target,
         "auth": {"required_roles": ["admin"]}},
    ], issuers=[issuer(required_claims=["exp"])])


async def served_code(cfg: GatewayConfig, token: str, path: str) -> tuple[int, str | None]:
    from subwarden.pipeline.build import build_gateway

    gateway = build_gateway(cfg, clock=FrozenClock(NOW))
    await gateway.start()
    plane = DataPlane(gateway, cfg.listen.model_copy(update={"port": 0}))
    port = await plane.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    finally:
        await plane.drain()
        await gateway.close()
    code = json.loads(response.content)["code"] if response.status_code >= 400 else None
    return response.status_code, code


async def assert_parity(cfg: GatewayConfig, token: str, path: str) -> None:
    status, code = await served_code(cfg, token, path)
    report = await run(cfg, token, path=path)
    assert (report.code, report.status or 200) == (code, status)
    assert report.exit_code == (0 if code is None else 1)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_gateway_and_diagnose_agree_on_the_code(name: str, tmp_path: Path, upstream_port: int) -> None:
    path, claims = SCENARIOS[name]
    claims = dict(claims)
    token = mint(iss=claims.pop("iss", ISS_A), key=claims.pop("key", "idp-a"), alg=claims.pop("alg", "RS256"),
                 **claims)
    await assert_parity(parity_config(SqliteBackend(tmp_path).store(), upstream_port), token, path)


@pytest.mark.parametrize("name", sorted(RAW_TOKENS))
async def test_gateway_and_diagnose_agree_on_malformed_tokens(name: str, tmp_path: Path, upstream_port: int) -> None:
    cfg = parity_config(SqliteBackend(tmp_path).store(), upstream_port)
    await assert_parity(cfg, RAW_TOKENS[name], "/api/orders")


async def test_gateway_and_diagnose_agree_when_the_store_is_broken(tmp_path: Path, upstream_port: int) -> None:
    backend = SqliteBackend(tmp_path)
    for store in (backend.store(url=f"sqlite:///{tmp_path}/no/such/dir/users.db"),
                  backend.store(lookup={"user_id": "userIdent", "email": "email"})):
        await assert_parity(parity_config(store, upstream_port), mint(sub="alice"), "/api/orders")
