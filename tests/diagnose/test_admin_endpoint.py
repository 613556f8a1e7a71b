"""POST /admin/diagnose on the real control plane: the --json structure from inside the serving gateway,
so a stale negative cache entry is visible — also through `subwarden diagnose --live`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from diagnose_backends import SqliteBackend
from diagnose_kit import NOW, issuer, mint, validate
from test_cli import invoke

from subwarden.admin.app import build_admin_app
from subwarden.admin.server import run_admin, stop_admin
from subwarden.clock import SYSTEM_CLOCK, Clock, FrozenClock
from subwarden.config import load_config
from subwarden.diagnose.api import admin_diagnose
from subwarden.diagnose.run import DiagnoseRequest, request_context
from subwarden.pipeline.build import build_gateway
from subwarden.pipeline.gateway import Gateway

ADMIN_TOKEN = "diagnose-admin-token-0123456789abcdef"


@dataclass
class Live:
    gateway: Gateway
    backend: SqliteBackend
    config_path: Path
    url: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with started(tmp_path, FrozenClock(NOW)) as running:
        yield running


@pytest.fixture
async def live_now(tmp_path: Path) -> AsyncIterator[Live]:
    """A running gateway on the system clock, for CLI runs (which use the system clock too)."""
    async with started(tmp_path, SYSTEM_CLOCK) as running:
        yield running


def mint_now(**claims: object) -> str:
    now = int(time.time())
    return mint(iat=now - 60, nbf=now - 60, exp=now + 600, **claims)


@contextlib.asynccontextmanager
async def started(tmp_path: Path, clock: Clock) -> AsyncIterator[Live]:
    backend = SqliteBackend(tmp_path)
    port = free_port()
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump({
        "issuers": [issuer()], "identity": {"store": backend.store(), "cache": {"negative_ttl": 30}},
        "routes": [{"name": "api", "upstream": {"targets": ["http://127.0.0.1:9"]}}],
        "records": {"sqlite": None}, "admin": {"port": port},
    }))
    cfg = load_config(path, env={})
    gateway = build_gateway(cfg, clock=clock)
    app = build_admin_app(cfg, gateway.fingerprint, diagnose=admin_diagnose(gateway, clock=clock),
                          environ={"SUBWARDEN_ADMIN_TOKEN": ADMIN_TOKEN})
    server = await run_admin(app, "127.0.0.1", port)
    yield Live(gateway, backend, path, f"http://127.0.0.1:{port}/admin/diagnose")
    await stop_admin(server)
    await gateway.close()


async def serve_once(gateway: Gateway, token: str) -> str | None:
    ctx = request_context(DiagnoseRequest(token))
    ctx.facts = None
    pending = gateway.pipeline.admit(ctx)
    if pending is not None:
        await pending
    return ctx.error.code if ctx.error else None


async def post(url: str, body: dict[str, object], token: str = ADMIN_TOKEN) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})


async def test_returns_the_json_report_and_requires_the_admin_token(live: Live) -> None:
    token = mint(sub="alice")
    assert (await post(live.url, {"token": token}, token="wrong")).status_code == 401
    response = await post(live.url, {"token": token, "route": "/orders"})
    assert response.status_code == 200
    data = response.json()
    validate(data)
    assert (data["verdict"], data["request"]["live"]) == ("allowed", True)
    assert token not in response.text


async def test_a_bad_body_is_a_usage_error_report(live: Live) -> None:
    data = (await post(live.url, {"route": "/x"})).json()
    validate(data)
    assert (data["verdict"], data["exit_code"]) == ("error", 2)


async def test_stale_negative_cache_is_seen_in_the_serving_process(live: Live) -> None:
    token = mint(sub="grace")
    assert await serve_once(live.gateway, token) == "user_not_found"
    await live.backend.add("grace", "grace@example.com")
    data = (await post(live.url, {"token": token})).json()
    assert data["cause"]["id"] == "stale_negative_cache"
    assert data["identity"]["cache"]["state"] == "negative-hit"
    fresh = (await post(live.url, {"token": token, "no_cache": True})).json()
    assert fresh["verdict"] == "allowed"


async def test_cli_live_asks_the_running_gateway(live: Live) -> None:
    token = mint(sub="grace")
    assert await serve_once(live.gateway, token) == "user_not_found"
    await live.backend.add("grace", "grace@example.com")
    env = {"SUBWARDEN_ADMIN_TOKEN": ADMIN_TOKEN}
    result = await asyncio.to_thread(invoke, "diagnose", "-c", str(live.config_path), "--token", token, "--live",
                                     env=env)
    assert result.exit_code == 1, result.output
    assert "stale_negative_cache" in result.output and "/admin/cache/invalidate" in result.output
    data = json.loads((await asyncio.to_thread(invoke, "diagnose", "-c", str(live.config_path), "--token", token,
                                               "--live", "--json", env=env)).output)
    assert data["cause"]["id"] == "stale_negative_cache"


async def test_cli_asks_the_running_gateway_by_itself_when_the_admin_token_is_set(live_now: Live) -> None:
    token = mint_now(sub="grace")
    assert await serve_once(live_now.gateway, token) == "user_not_found"
    await live_now.backend.add("grace", "grace@example.com")
    env = {"SUBWARDEN_ADMIN_TOKEN": ADMIN_TOKEN}
    args = ("diagnose", "-c", str(live_now.config_path), "--token", token, "--json")
    data = json.loads((await asyncio.to_thread(invoke, *args, env=env)).output)
    assert data["code"] == "user_not_found" and data["cause"]["id"] == "stale_negative_cache"
    differs = next(f for f in data["findings"] if f["id"] == "live_gateway_differs")
    assert differs["evidence"] == {"fresh": "allowed", "running": "user_not_found"}
    offline = json.loads((await asyncio.to_thread(invoke, *args, "--offline", env=env)).output)
    assert offline["verdict"] == "allowed"


async def test_cli_names_a_running_config_that_differs_from_the_file(live_now: Live) -> None:
    data = yaml.safe_load(live_now.config_path.read_text())
    data["identity"]["cache"]["negative_ttl"] = 5
    live_now.config_path.write_text(yaml.safe_dump(data))
    env = {"SUBWARDEN_ADMIN_TOKEN": ADMIN_TOKEN}
    args = ("diagnose", "-c", str(live_now.config_path), "--token", mint_now(sub="alice"), "--json")
    report = json.loads((await asyncio.to_thread(invoke, *args, env=env)).output)
    assert report["verdict"] == "allowed"
    assert [f["id"] for f in report["findings"] if f["severity"] == "warning"] == ["running_config_differs"]
