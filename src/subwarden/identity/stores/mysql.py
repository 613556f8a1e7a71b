"""MariaDB / MySQL user store (``mysql://user[:pw]@host:port/db``) over an asyncmy pool.

Exact matching survives case-insensitive collations (the default
``utf8mb4_general_ci``): the lookup compares under ``utf8mb4_bin`` and the rows
are post-filtered by exact equality (``_bin`` collations still pad spaces).
The readiness self-test reports the collation it found on each lookup column.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncmy
from asyncmy import errors as _x

from subwarden.config.models import StoreConfig
from subwarden.errors import StoreAuthFailed, StoreMisconfigured, StoreTimeout, StoreUnavailable
from subwarden.identity.stores import _sql
from subwarden.identity.stores._failures import FailureRule, FailureTable
from subwarden.identity.stores._records import secret
from subwarden.identity.stores._sqlstore import Row, SqlStore


def _errno(exc: BaseException) -> object:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


#: Server/client error numbers and exception classes → catalog errors. First match wins.
FAILURES = FailureTable(
    "mysql",
    [
        FailureRule(_x.MySQLError, StoreAuthFailed, frozenset({1044, 1045, 1130, 1142, 1143, 1227, 1251, 1698}),
                    why="access denied: password, host, database or table grants"),
        FailureRule(_x.MySQLError, StoreMisconfigured, frozenset({1046, 1049, 1054, 1064, 1109, 1146, 1149, 1253,
                                                                  1267, 1271, 1273, 1305}),
                    why="unknown database/table/column/collation, SQL syntax"),
        FailureRule(_x.MySQLError, StoreTimeout, frozenset({1969, 3024}), why="max_statement_time exceeded"),
        FailureRule(_x.MySQLError, StoreUnavailable, frozenset({1040, 1053, 1203, 2002, 2003, 2006, 2013, 2055}),
                    why="cannot connect, server gone, too many connections"),
        FailureRule(_x.ProgrammingError, StoreMisconfigured, why="other SQL errors"),
        FailureRule(ssl.SSLError, StoreUnavailable, why="TLS handshake failed"),
        FailureRule((OSError, EOFError, asyncio.IncompleteReadError), StoreUnavailable, why="refused, DNS, reset"),
        FailureRule(TimeoutError, StoreTimeout, why="driver-level connect/read timeout"),
        FailureRule(ValueError, StoreMisconfigured, why="unparsable URL"),
    ],
    code_of=_errno,
)

_COLLATIONS = (
    "SELECT COLUMN_NAME AS name, COLLATION_NAME AS collation FROM information_schema.COLUMNS"
    " WHERE TABLE_SCHEMA = COALESCE(%(attribute)s, DATABASE()) AND TABLE_NAME = %(value)s"
)


def connect_options(url: str, password: str | None, config: StoreConfig) -> dict[str, Any]:
    """asyncmy connection keywords from ``mysql://user[:pw]@host[:port]/db[?charset=…]``."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": password if password is not None else unquote(parts.password or ""),
        "db": unquote(parts.path.lstrip("/")) or None,
        "charset": query.get("charset", "utf8mb4"),
        "autocommit": True,
        "connect_timeout": config.timeout,
    }


class MysqlStore(SqlStore):
    schemes = ("mysql", "mariadb")
    dialect = _sql.MYSQL
    failures = FAILURES

    def __init__(self, config: StoreConfig, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(config, env=env)
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    password = secret(self._env, self.config.password_env)
                    options = connect_options(self.config.url, password, self.config)
                    # minsize=0: no connection is opened until a lookup needs one.
                    self._pool = await asyncmy.create_pool(minsize=0, maxsize=self.config.pool_size, **options)
        return self._pool

    async def _execute(self, text: str, params: Sequence[Any]) -> list[Row]:
        pool = await self._get_pool()
        args = dict(zip(("value", "attribute"), params, strict=False))
        conn = await pool.acquire()
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(text, args)
                rows = await cursor.fetchall()
                names = [d[0] for d in cursor.description or ()]
        except BaseException:
            conn.close()  # a half-read answer must never reach the next lookup on this connection
            raise
        finally:
            pool.release(conn)
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def _check_mapping(self) -> str:
        found = await super()._check_mapping()
        if self.config.query is not None:
            return found + "; collation not checked for custom queries (rows are post-filtered exactly)"
        return f"{found}; {await self.collations()}"

    async def collations(self) -> str:
        """The collation of each lookup column, and whether exact comparison had to be forced."""
        schema, _, table = self.config.table.rpartition(".")
        rows = await self._run(_COLLATIONS, (table, schema or None))
        found = {str(r["name"]): r["collation"] for r in rows}
        notes = []
        for column in dict.fromkeys(self.config.lookup.values()):
            collation = found.get(column)
            if collation is None:
                notes.append(f"{column}: no collation (not a text column)")
            elif str(collation).endswith("_bin"):
                notes.append(f"{column}: {collation} (binary)")
            else:
                notes.append(f"{column}: {collation} (case-insensitive; compared exactly via utf8mb4_bin)")
        return "collations " + ", ".join(notes)

    async def _describe_query(self, text: str) -> list[str]:
        rows_none = f"SELECT * FROM ({text}) AS q WHERE 1 = 0"
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(rows_none, {"value": "", "attribute": ""})
            return [d[0] for d in cursor.description or ()]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()
