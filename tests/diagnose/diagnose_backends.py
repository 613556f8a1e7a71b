"""Real user stores seeded with the same users: a SQLite file, a PostgreSQL table, an OpenLDAP tree.

Each backend creates its own file/table/directory and removes it afterwards; a missing server
fails loudly.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

#: user_id, email, status, status_since, roles — "zoë" is stored NFC.
USERS: list[tuple[str, str, str, str | None, str]] = [
    ("alice", "alice@example.com", "active", None, "user,admin"),
    ("bob", "bob@example.com", "disabled", "2027-01-10T00:00:00+00:00", "user"),
    ("carol", "carol@example.com", "locked", "2027-01-15T07:59:30+00:00", "user"),
    ("dave", "dave@example.com", "deleted", "2027-01-12T00:00:00+00:00", "user"),
    ("zo\u00eb", "zoe@example.com", "active", None, "user"),
    ("frank-7", "frank@example.com", "active", None, "user"),
]

STORE_FIELDS: dict[str, Any] = {
    "id_field": "user_id",
    "status_field": "status",
    "status_since_field": "status_since",
    "roles_field": "roles",
    "lookup": {"user_id": "user_id", "email": "email"},
    "timeout": 2.0,
    "pool_size": 2,
}


class Backend:
    name = ""

    def store(self, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        raise NotImplementedError

    async def remove(self, user_id: str) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, root: Path, users: list[tuple[str, str, str, str | None, str]] = USERS) -> None:
        self.path = root / f"users-{secrets.token_hex(3)}.db"
        with sqlite3.connect(self.path) as db:
            db.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, "
                       "status_since TEXT, roles TEXT)")
            db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)", users)

    def store(self, **overrides: Any) -> dict[str, Any]:
        return {**STORE_FIELDS, "url": f"sqlite:///{self.path}", "table": "users", **overrides}

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT INTO users VALUES (?, ?, ?, NULL, 'user')", (user_id, email, status))

    async def remove(self, user_id: str) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))


class PostgresBackend(Backend):
    """A uniquely named table in the ``test`` database (plus a password-protected role)."""

    name = "postgresql"

    def __init__(self, users: list[tuple[str, str, str, str | None, str]] = USERS) -> None:
        suffix = secrets.token_hex(4)
        self.table = f"sw_diag_users_{suffix}"
        self.role = f"sw_diag_role_{suffix}"
        self.password = secrets.token_urlsafe(12)
        asyncio.run(self._setup(users))

    async def _admin(self, *statements: str, args: list[tuple[Any, ...]] | None = None) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            for sql in statements:
                await conn.execute(sql)
            if args:
                await conn.executemany(
                    f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4, $5)", args
                )
        finally:
            await conn.close()

    async def _setup(self, users: list[tuple[str, str, str, str | None, str]]) -> None:
        await self._admin(
            f"CREATE TABLE {self.table} (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, "
            "status_since TEXT, roles TEXT)",
            f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}' IN ROLE subwarden_pw",
            f"GRANT SELECT ON {self.table} TO {self.role}",
            args=users,
        )

    def teardown(self) -> None:
        asyncio.run(self._admin(f"DROP TABLE IF EXISTS {self.table}", f"DROP ROLE IF EXISTS {self.role}"))

    def store(self, **overrides: Any) -> dict[str, Any]:
        return {**STORE_FIELDS, "url": PG_ADMIN, "table": self.table, **overrides}

    def role_url(self) -> str:
        return f"postgresql://{self.role}@127.0.0.1:5432/test"

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f"INSERT INTO {self.table} VALUES ($1, $2, $3, NULL, 'user')",
                               user_id, email, status)
        finally:
            await conn.close()

    async def remove(self, user_id: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f"DELETE FROM {self.table} WHERE user_id = $1", user_id)
        finally:
            await conn.close()
