"""Shared builders for the identity tests: configs, request contexts, SQLite user files, store wrappers."""

from __future__ import annotations

import asyncio
import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

from subwarden.config import parse_config
from subwarden.config.models import GatewayConfig, IssuerConfig
from subwarden.identity.stores.base import NearMiss, SelfTestReport, StoreQuery, UserRecord, UserStore
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import compile_route
from subwarden.pipeline.stage import Pipeline

ISSUER = "https://idp.test"
JOSE_NFC = unicodedata.normalize("NFC", "José")
JOSE_NFD = unicodedata.normalize("NFD", "José")

SCHEMA = (
    "CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, status_since TEXT,"
    " roles TEXT, groups TEXT, dept TEXT)"
)
#: (user_id, email, status, status_since, roles, groups, dept)
USERS: list[tuple[Any, ...]] = [
    ("alice", "alice@example.com", "active", None, "user,admin", "eng,ops", "R&D"),
    ("bob", "bob@example.com", "disabled", "2024-01-02T03:04:05Z", "user", None, None),
    ("carol", "carol@example.com", "locked", "2024-02-03T00:00:00Z", "user", None, None),
    ("dave", "dave@example.com", "deleted", "2024-03-04T00:00:00Z", "user", None, None),
    ("Frank", "frank.upper@example.com", "active", None, "user", None, None),
    ("frank", "frank@example.com", "active", None, "auditor", None, None),
    (JOSE_NFC, "jose@example.com", "active", None, "user", None, None),
    ("mallory", "mallory@example.com", "active", None, "user", None, "line\r\nX-Injected: 1"),
]


def make_users_db(path: Path, rows: list[tuple[Any, ...]] | None = None, schema: str = SCHEMA) -> Path:
    """Create (or recreate) a real SQLite user file."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(schema)
        rows = USERS if rows is None else rows
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            db.executemany(f"INSERT INTO users VALUES ({marks})", rows)
    db.close()
    return path


def store_section(db: Path, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "url": f"sqlite:///{db}",
        "lookup": {"user_id": "user_id", "email": "email"},
        "attributes": {"email": "email", "groups": "groups", "dept": "dept"},
        "status_since_field": "status_since",
        "timeout": 1.0,
    }
    section.update(extra)
    return section


def make_config(
    db: Path,
    *,
    mapping: list[dict[str, str]] | None = None,
    normalization: dict[str, Any] | None = None,
    shape: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None,
    cache: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> GatewayConfig:
    issuer: dict[str, Any] = {
        "name": "idp",
        "issuer": ISSUER,
        "keys": {"files": ["unused.pem"]},
        "mapping": mapping or [{"claim": "sub", "attribute": "user_id"}],
    }
    if normalization:
        issuer["normalization"] = normalization
    if shape:
        issuer["subject_shape"] = shape
    route: dict[str, Any] = {"name": "api", "upstream": {"targets": ["http://127.0.0.1:9"]}}
    if auth:
        route["auth"] = auth
    if headers:
        route["headers"] = headers
    data = {
        "issuers": [issuer],
        "identity": {"store": store_section(db, **(store or {})), "cache": cache or {}},
        "routes": [route],
    }
    return parse_config(data, env={})


class IssuerStub:
    """What the verify stage leaves on ``ctx.issuer``: the issuer's config and label."""

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.label = config.label


def make_ctx(
    config: GatewayConfig, claims: dict[str, Any] | None, *, facts: dict[str, Any] | None = None
) -> RequestContext:
    ctx = RequestContext("GET", "/", [], facts=facts)
    ctx.claims = claims
    ctx.issuer = IssuerStub(config.issuers[0]) if claims is not None else None
    ctx.route = compile_route(config.routes[0], config)
    return ctx


async def admit(pipeline: Pipeline, ctx: RequestContext) -> RequestContext:
    pending = pipeline.admit(ctx)
    if pending is not None:
        await pending
    return ctx


class WrappedStore(UserStore):
    """A real store behind a test-controlled door: counts fetches, can hold, delay or fail them."""

    def __init__(self, inner: UserStore) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.fetches = 0
        self.gate: asyncio.Event | None = None
        self.delay = 0.0
        self.fail: Exception | None = None

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def supports_casefold(self) -> bool:  # type: ignore[override]
        return self.inner.supports_casefold

    def build_query(self, attribute: str, value: str) -> StoreQuery:
        return self.inner.build_query(attribute, value)

    def build_casefold_query(self, attribute: str, value: str) -> StoreQuery:
        return self.inner.build_casefold_query(attribute, value)

    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        self.fetches += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return await self.inner.fetch(query)

    async def near_misses(self, attribute: str, value: str) -> list[NearMiss]:
        return await self.inner.near_misses(attribute, value)

    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        return await self.inner.self_test(canary)

    async def close(self) -> None:
        await self.inner.close()
