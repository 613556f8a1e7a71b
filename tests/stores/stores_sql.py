"""PostgreSQL and MariaDB backend fixtures: a uniquely named table seeded with ``USERS`` (and a real
password-protected role/user for the wrong-credentials case), dropped afterwards."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import asyncmy
import asyncpg
from stores_harness import Harness
from stores_proxy import free_port
from stores_users import USERS

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "db": "test", "autocommit": True}

COMMON: dict[str, Any] = {
    "id_field": "user_id",
    "status_field": "status",
    "status_since_field": "status_since",
    "roles_field": "roles",
    "lookup": {"user_id": "user_id", "email": "email"},
    "attributes": {"email": "email", "name": "display_name"},
    "timeout": 2.0,
    "pool_size": 4,
}


def _rows() -> list[tuple[Any, ...]]:
    return [(u.user_id, u.status, list(u.roles), u.email, u.name) for u in USERS]


class PostgresHarness(Harness):
    name = "postgresql"

    def __init__(self) -> None:
        suffix = secrets.token_hex(4)
        self.table = f"sw_users_{suffix}"
        self.role = f"sw_auth_{suffix}"
        self.password = secrets.token_urlsafe(12)
        self.env = {"SW_TEST_PG_PASSWORD": self.password}
        self.renamed_lookup = {"lookup": {"user_id": "user_ident", "email": "email"}}
        self.renamed_attribute = {"attributes": {"email": "email", "name": "full_name"}}
        self.wrong_credentials = {
            "url": f"postgresql://{self.role}:not-{self.password}@127.0.0.1:5432/test",
        }

    def base(self) -> dict[str, Any]:
        return {**COMMON, "url": PG_URL, "table": self.table}

    def url_at(self, port: int) -> str:
        return PG_URL.replace(":5432/", f":{port}/")

    @property
    def port(self) -> int:
        return 5432

    async def stop(self) -> dict[str, Any]:
        return {"url": self.url_at(free_port())}

    def setup(self) -> None:
        asyncio.run(self._setup())

    def teardown(self) -> None:
        asyncio.run(self._run(f"DROP TABLE IF EXISTS {self.table}", f"DROP ROLE IF EXISTS {self.role}"))

    async def _setup(self) -> None:
        await self._run(
            f"CREATE TABLE {self.table} (user_id text, status text, roles text[], email text,"
            " display_name text, status_since timestamptz DEFAULT now())",
            f"CREATE INDEX ON {self.table} (user_id)",
            f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}' IN ROLE subwarden_pw",
            f"GRANT SELECT ON {self.table} TO {self.role}",
        )
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.executemany(
                f"INSERT INTO {self.table} (user_id, status, roles, email, display_name) VALUES ($1, $2, $3, $4, $5)",
                _rows(),
            )
        finally:
            await conn.close()

    async def _run(self, *statements: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()


class MysqlHarness(Harness):
    name = "mariadb"

    def __init__(self) -> None:
        suffix = secrets.token_hex(4)
        self.table = f"sw_users_{suffix}"
        self.user = f"sw_auth_{suffix}"
        self.password = secrets.token_urlsafe(12)
        self.env = {"SW_TEST_MYSQL_PASSWORD": self.password}
        self.renamed_lookup = {"lookup": {"user_id": "user_ident", "email": "email"}}
        self.renamed_attribute = {"attributes": {"email": "email", "name": "full_name"}}
        self.wrong_credentials = {"url": f"mysql://{self.user}:not-{self.password}@127.0.0.1:3306/test"}

    def base(self) -> dict[str, Any]:
        return {**COMMON, "url": "mysql://root@127.0.0.1:3306/test", "table": self.table}

    def url_at(self, port: int) -> str:
        return f"mysql://root@127.0.0.1:{port}/test"

    @property
    def port(self) -> int:
        return 3306

    async def stop(self) -> dict[str, Any]:
        return {"url": self.url_at(free_port())}

    def setup(self) -> None:
        asyncio.run(self._setup())

    def teardown(self) -> None:
        asyncio.run(self._run(f"DROP TABLE IF EXISTS {self.table}", f"DROP USER IF EXISTS '{self.user}'@'%'"))

    async def _setup(self) -> None:
        # The server default collation (utf8mb4_general_ci) on purpose: it folds case.
        await self._run(
            f"CREATE TABLE {self.table} (user_id VARCHAR(190), status VARCHAR(32), roles TEXT,"
            " email VARCHAR(190), display_name VARCHAR(190), status_since DATETIME DEFAULT CURRENT_TIMESTAMP,"
            " KEY (user_id), KEY (email)) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
            f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'",
            f"GRANT SELECT ON test.{self.table} TO '{self.user}'@'%'",
        )
        rows = [(u.user_id, u.status, ",".join(u.roles), u.email, u.name) for u in USERS]
        conn = await asyncmy.connect(**MYSQL)
        try:
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO {self.table} (user_id, status, roles, email, display_name)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
        finally:
            conn.close()

    async def _run(self, *statements: str) -> None:
        conn = await asyncmy.connect(**MYSQL)
        try:
            async with conn.cursor() as cur:
                for sql in statements:
                    await cur.execute(sql)
        finally:
            conn.close()


class SqliteHarness(Harness):
    """The embedded default store (identity helper's SqliteStore) on a seeded file."""

    name = "sqlite"
    network = False

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "users.db"
        self.env = {}
        self.renamed_lookup = {"lookup": {"user_id": "user_ident", "email": "email"}}
        self.renamed_attribute = {"attributes": {"email": "email", "name": "full_name"}}
        self.wrong_credentials = {}

    def base(self) -> dict[str, Any]:
        return {**COMMON, "url": f"sqlite:///{self.path}", "table": "users"}

    def setup(self) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(
                "CREATE TABLE users (user_id TEXT, status TEXT, roles TEXT, email TEXT, display_name TEXT,"
                " status_since TEXT DEFAULT CURRENT_TIMESTAMP)"
            )
            db.executemany(
                "INSERT INTO users (user_id, status, roles, email, display_name) VALUES (?, ?, ?, ?, ?)",
                [(u.user_id, u.status, ",".join(u.roles), u.email, u.name) for u in USERS],
            )
        db.close()

    def teardown(self) -> None:
        self.path.unlink(missing_ok=True)
