"""Fixtures for the control plane: a real admin server on a free loopback port, real collaborators.

One uvicorn server per test module (stopping one costs ~0.2 s); each test builds its own admin
app and switches the server to it. Tests therefore run in the module's event loop
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``) and async fixtures use that loop too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from admin_support import ADMIN_TOKEN, TOKEN_ENV, AdminClient, AppFactory, SwitchApp

from subwarden.admin.app import build_admin_app
from subwarden.admin.server import bound_port, run_admin, stop_admin
from subwarden.clock import FrozenClock
from subwarden.config.loader import parse_config
from subwarden.config.models import GatewayConfig
from subwarden.identity.cache import UserCache
from subwarden.identity.revocation import InMemoryRevocationList
from subwarden.identity.stores.base import UserStore, create_store
from subwarden.observe.metrics import GatewayMetrics
from subwarden.observe.query import RecordReader
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import SqliteSink
from subwarden.observe.subject_hash import SubjectHasher


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def users_db(tmp_path: Path) -> Path:
    """A real SQLite user store file with one active user."""
    path = tmp_path / "users.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, roles TEXT)")
        conn.execute("INSERT INTO users VALUES ('u-1', 'alice@example.test', 'active', 'admin')")
    return path


@pytest.fixture
def config(users_db: Path) -> GatewayConfig:
    return parse_config(
        {
            "issuers": [
                {
                    "name": "corp",
                    "issuer": "https://idp.test",
                    "keys": {"files": ["keys/idp.pem"]},
                    "normalization": {"trim": True, "casefold": True},
                    "mapping": [{"claim": "sub", "attribute": "user_id"}, {"claim": "email", "attribute": "email"}],
                }
            ],
            "identity": {
                "store": {
                    "url": f"sqlite:///{users_db}",
                    "lookup": {"user_id": "user_id", "email": "email"},
                    "canary_subject": "u-1",
                    "ldap": {"bind_dn": "cn=gw", "bind_password": "ldap-secret-value"},
                    "http": {"headers": {"Authorization": "Bearer static-service-secret", "X-Env": "test"}},
                }
            },
            "routes": [{"name": "api", "upstream": {"targets": ["http://127.0.0.1:9"]}}],
            "admin": {"token_env": TOKEN_ENV},
        },
        env={},
    )


@pytest_asyncio.fixture(loop_scope="module")
async def store(config: GatewayConfig) -> AsyncIterator[UserStore]:
    store = create_store(config.identity.store)
    yield store
    await store.close()


@pytest.fixture
def cache(config: GatewayConfig, clock: FrozenClock) -> UserCache:
    return UserCache(config.identity.cache, clock)


@pytest.fixture
def revocations(clock: FrozenClock) -> InMemoryRevocationList:
    return InMemoryRevocationList(clock)


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics(process=False)


@pytest.fixture
def records_db(tmp_path: Path) -> Path:
    return tmp_path / "records.db"


@pytest.fixture
def writer(records_db: Path, clock: FrozenClock, metrics: GatewayMetrics) -> RecordWriter:
    shaper = RecordShaper(fingerprint="fp-admin-test", hasher=SubjectHasher(b"admin-test-key-0123456789"))
    sinks = [SqliteSink(records_db, clock=clock)]
    # The perf counter moves with the frozen clock, so record timestamps are exact.
    writer = RecordWriter(shaper, sinks, metrics=metrics, clock=clock, perf_ns=lambda: int(clock.monotonic() * 1e9))
    metrics.add_stats_source("records", writer)
    return writer


async def echo_diagnose(body: dict[str, Any]) -> dict[str, Any]:
    """A trivial diagnose function: reports what it was given, never the token itself."""
    return {"code": "user_not_found", "route": body.get("route"), "token_chars": len(body.get("token", ""))}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin_server() -> AsyncIterator[tuple[SwitchApp, int]]:
    switch = SwitchApp()
    server = await run_admin(switch, "127.0.0.1", 0)
    yield switch, bound_port(server)
    await stop_admin(server)


@pytest_asyncio.fixture(loop_scope="module")
async def start_admin(
    admin_server: tuple[SwitchApp, int],
    config: GatewayConfig,
    clock: FrozenClock,
    store: UserStore,
    cache: UserCache,
    revocations: InMemoryRevocationList,
    metrics: GatewayMetrics,
    writer: RecordWriter,
    records_db: Path,
) -> AsyncIterator[AppFactory]:
    """Serves a fresh admin app on the module's server; keyword arguments override the collaborators."""
    switch, port = admin_server
    clients: list[httpx.AsyncClient] = []

    async def start(**overrides: Any) -> AdminClient:
        kwargs: dict[str, Any] = {
            "metrics": metrics, "store": store, "records": writer, "record_search": RecordReader(records_db),
            "cache": cache, "revocations": revocations, "diagnose": echo_diagnose, "clock": clock,
            "environ": {TOKEN_ENV: ADMIN_TOKEN},
        }
        kwargs.update(overrides)
        switch.app = build_admin_app(kwargs.pop("config", config), "fp-admin-test", **kwargs)
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
        clients.append(http)
        return AdminClient(http)

    yield start
    for http in clients:
        await http.aclose()
    switch.app = None


@pytest_asyncio.fixture(loop_scope="module")
async def admin(start_admin: AppFactory) -> AdminClient:
    return await start_admin()
