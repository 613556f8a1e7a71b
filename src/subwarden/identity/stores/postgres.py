"""PostgreSQL user store (``postgresql://user[:pw]@host:port/db``) over an asyncpg pool.

The pool starts empty and grows to ``pool_size`` on demand, so building the
store never touches the network and a server that comes back is simply
reconnected to. Roles may be a text column or a ``text[]`` array.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from subwarden.config.models import StoreConfig
from subwarden.errors import StoreAuthFailed, StoreMisconfigured, StoreTimeout, StoreUnavailable
from subwarden.identity.stores import _sql
from subwarden.identity.stores._failures import FailureRule, FailureTable, in_background
from subwarden.identity.stores._records import secret
from subwarden.identity.stores._sqlstore import Row, SqlStore

_x = asyncpg.exceptions

#: asyncpg / socket exceptions → catalog errors. First match wins; unmatched → unavailable.
FAILURES = FailureTable(
    "postgresql",
    [
        FailureRule(_x.InvalidAuthorizationSpecificationError, StoreAuthFailed, why="bad password, unknown role"),
        FailureRule(_x.InsufficientPrivilegeError, StoreAuthFailed, why="the role may not read the table"),
        FailureRule(_x.InvalidCatalogNameError, StoreMisconfigured, why="the database does not exist"),
        FailureRule(_x.QueryCanceledError, StoreTimeout, why="statement_timeout fired on the server"),
        FailureRule(_x.SyntaxOrAccessError, StoreMisconfigured, why="unknown table/column/function, bad SQL"),
        FailureRule(_x.DataError, StoreMisconfigured, why="the subject does not fit the column type"),
        FailureRule(_x._base.ClientConfigurationError, StoreMisconfigured, why="bad URL or connection option"),
        FailureRule(_x._base.DataError, StoreMisconfigured, why="the subject does not fit the parameter type"),
        FailureRule(_x.PostgresConnectionError, StoreUnavailable, why="connection lost"),
        FailureRule(_x.OperatorInterventionError, StoreUnavailable, why="server shutting down or starting"),
        FailureRule(_x.InsufficientResourcesError, StoreUnavailable, why="too many connections, disk full"),
        FailureRule(_x.InterfaceError, StoreUnavailable, why="connection closed under the driver"),
        FailureRule(ssl.SSLError, StoreUnavailable, why="TLS handshake failed"),
        FailureRule((OSError, EOFError, asyncio.IncompleteReadError), StoreUnavailable, why="refused, DNS, reset"),
        FailureRule(TimeoutError, StoreTimeout, why="driver-level connect/command timeout"),
        FailureRule(ValueError, StoreMisconfigured, why="unparsable URL"),
    ],
    code_of=lambda exc: getattr(exc, "sqlstate", None),
)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset for read-only lookups: asyncpg's default (``RESET ALL; UNLISTEN *; …``) costs
    a round trip per lookup, and single SELECTs change no session state worth resetting."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PostgresStore(SqlStore):
    schemes = ("postgresql", "postgres")
    dialect = _sql.POSTGRES
    failures = FAILURES

    def __init__(self, config: StoreConfig, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(config, env=env)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                # min_size=0: creating the pool opens no connection, so it cannot fail
                # half-way; connections are opened (and reopened) by acquire().
                self._pool = await asyncpg.create_pool(
                    dsn=self.config.url,
                    password=secret(self._env, self.config.password_env),
                    min_size=0,
                    max_size=self.config.pool_size,
                    timeout=self.config.timeout,
                    reset=_keep_session,
                )
            return self._pool

    async def _execute(self, text: str, params: Sequence[Any]) -> list[Row]:
        pool = self._pool or await self._get_pool()
        conn = await pool.acquire()
        try:
            records = await conn.fetch(text, *params)
        except BaseException:
            # After a cancel asyncpg waits for the server's acknowledgement before the
            # connection is reusable: let that happen off the caller's time budget.
            in_background(pool.release(conn))
            raise
        await pool.release(conn)
        return [dict(r.items()) for r in records]

    def _bindable(self, value: str) -> bool:
        # PostgreSQL text cannot hold NUL: no stored id can equal such a subject.
        return "\x00" not in value

    async def _describe_query(self, text: str) -> list[str]:
        async with (self._pool or await self._get_pool()).acquire() as conn:
            statement = await conn.prepare(text)
            return [a.name for a in statement.get_attributes()]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.config.timeout)
            except TimeoutError:  # a connection still busy cancelling an abandoned query
                pool.terminate()
