"""SQLite user store (``sqlite:///relative/path``, ``sqlite:////absolute/path``), the embedded default.

Queries run in a small dedicated thread pool, one read-only connection per
thread, so the event loop never waits on the disk. A replaced database file is
noticed (inode change) and reopened.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

from subwarden.config.models import StoreConfig
from subwarden.errors import GatewayError, StoreMisconfigured, StoreUnavailable
from subwarden.identity.stores import sqlite_sql as sql
from subwarden.identity.stores.base import NearMiss, SelfTestReport, StoreQuery, UserRecord, UserStore
from subwarden.identity.stores.sqlite_probe import self_test_steps

T = TypeVar("T")
MAX_THREADS = 4


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _fold_trim(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


class SqliteStore(UserStore):
    schemes = ("sqlite",)
    supports_casefold = True

    def __init__(self, config: StoreConfig) -> None:
        super().__init__(config)
        self.path = sql.sqlite_path(config.url)
        for column in [*sql.selected_columns(config), *config.lookup.values()]:
            sql.quote(column)
        sql.quote(config.table, "table")
        if config.query is not None and ":value" not in config.query:
            from subwarden.config.loader import ConfigError

            raise ConfigError("identity.store.query: the custom query must use the bound parameter :value")
        self.rows = sql.RowMapper(config, config.url)
        self._threads = min(config.pool_size, MAX_THREADS)
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    @property
    def identity(self) -> str:
        return self.config.url

    # ------------------------------------------------------------ pure
    def build_query(self, attribute: str, value: str) -> StoreQuery:
        field = self._field(attribute)
        if self.config.query is not None:
            return StoreQuery("sqlite", attribute, field, self.config.query, (value, attribute))
        text = sql.select_text(self.config, field, f"{sql.quote(field)} = ?", sql.MAX_MATCHES)
        return StoreQuery("sqlite", attribute, field, text, (value,))

    def build_casefold_query(self, attribute: str, value: str) -> StoreQuery:
        field, folded = self._field(attribute), value.casefold()
        if self.config.query is not None:
            return StoreQuery("sqlite", attribute, field, self.config.query, (folded, attribute), casefold=True)
        text = sql.select_text(self.config, field, f"sw_casefold({sql.quote(field)}) = ?", sql.MAX_MATCHES)
        return StoreQuery("sqlite", attribute, field, text, (folded,), casefold=True)

    def _field(self, attribute: str) -> str:
        field = self.config.lookup.get(attribute)
        if field is None:
            raise StoreMisconfigured("sqlite: unknown lookup attribute", attribute=attribute,
                                     known=sorted(self.config.lookup))
        return field

    # ------------------------------------------------------------ I/O
    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        return await self._in_thread(self._fetch_sync, query)

    def _fetch_sync(self, query: StoreQuery) -> list[UserRecord]:
        params: Any = query.params
        if self.config.query is not None and query.text == self.config.query:
            params = {"value": query.params[0], "attribute": query.attribute}
        names, rows = self.execute(query.text, params)
        return self.rows.users(names, rows, query.field, query.params[0], query.casefold)

    def execute(self, text: str, params: Any = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run SQL on this thread's connection: (column names, rows). Worker threads only."""
        try:
            cursor = self.connection().execute(text, params)
            rows = cursor.fetchmany(sql.MAX_NEAR_MISSES)
        except sqlite3.Error as exc:
            raise sql.store_error(exc, self.identity) from None
        return [d[0] for d in cursor.description or ()], rows

    async def near_misses(self, attribute: str, value: str) -> list[NearMiss]:
        from subwarden.identity.stores.sqlite_probe import near_misses

        return await self._in_thread(near_misses, self, attribute, value)

    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        report = SelfTestReport(self.identity)
        try:
            async with asyncio.timeout(self.config.timeout * 5):
                await self._in_thread(self_test_steps, self, report)
                if canary is not None and report.ok:
                    from subwarden.identity.stores.sqlite_probe import canary_step

                    report.steps.append(canary_step(self, await self._canary(canary), canary))
        except TimeoutError:
            from subwarden.identity.stores.base import SelfTestStep

            report.steps.append(SelfTestStep("timeout", False, f"self-test exceeded {self.config.timeout * 5:g}s"))
        return report

    async def _canary(self, canary: str) -> list[UserRecord] | GatewayError:
        try:
            return await self.lookup(next(iter(self.config.lookup)), canary)
        except GatewayError as exc:
            return exc

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    # ------------------------------------------------------------ threads and connections
    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="sqlite-store")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def connection(self) -> sqlite3.Connection:
        """This worker thread's read-only connection, reopened when the file was replaced."""
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise StoreUnavailable("sqlite: database file not accessible", store=self.identity,
                                   error=type(exc).__name__) from None
        inode = (stat.st_dev, stat.st_ino)
        local = self._local
        if getattr(local, "inode", None) != inode:
            self._reopen(local, inode)
        connection: sqlite3.Connection = local.connection
        return connection

    def _reopen(self, local: threading.local, inode: tuple[int, int]) -> None:
        old = getattr(local, "connection", None)
        try:
            connection = sqlite3.connect(
                f"file:{url_quote(self.path)}?mode=ro", uri=True, timeout=self.config.timeout,
                check_same_thread=False, isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise sql.store_error(exc, self.identity) from None
        connection.create_function("sw_casefold", 1, _casefold, deterministic=True)
        connection.create_function("sw_fold_trim", 1, _fold_trim, deterministic=True)
        with self._lock:
            if old is not None:
                self._connections.remove(old)
                old.close()
            self._connections.append(connection)
        local.connection, local.inode = connection, inode
