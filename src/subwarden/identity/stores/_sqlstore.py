"""The SQL store logic both SQL backends share; a subclass supplies the pool and ``_execute``.

Every query runs under ``guarded`` (time budget + the backend's failure table),
and one stale pooled connection is retried once, so a restarted server is
used again without rebuilding the store.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar

from subwarden.config.loader import ConfigError
from subwarden.config.models import StoreConfig
from subwarden.identity.stores import _sql
from subwarden.identity.stores._failures import FailureTable, guarded
from subwarden.identity.stores._records import (
    RowMapper,
    is_exact,
    near_miss_kind,
    other_fields,
    redact_url,
    searched_field,
)
from subwarden.identity.stores._selftest import Check, run_checks, with_canary
from subwarden.identity.stores.base import NearMiss, SelfTestReport, StoreQuery, UserRecord, UserStore

Row = dict[str, Any]


class SqlStore(UserStore):
    """Table/column mapping or a custom query over a pooled SQL connection."""

    dialect: ClassVar[_sql.SqlDialect]
    failures: ClassVar[FailureTable]
    bounds_own_time = True  # every query runs under guarded(..., config.timeout, ...)

    def __init__(self, config: StoreConfig, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        if config.query is not None and not _sql.has_value_param(config.query):
            raise ConfigError("identity.store.query: the query must bind the subject as :value")
        self._env = env
        self._queries: dict[tuple[str, bool], StoreQuery] = {}
        self._rows_to_users = RowMapper(config, self.dialect.backend)

    @property
    def identity(self) -> str:
        return redact_url(self.config.url)

    @abc.abstractmethod
    async def _execute(self, text: str, params: Sequence[Any]) -> list[Row]:
        """Run ``text`` with ``params`` (value, then attribute) on a pooled connection."""

    supports_casefold = True

    def build_query(self, attribute: str, value: str) -> StoreQuery:
        return self._query(attribute, value, False)

    def build_casefold_query(self, attribute: str, value: str) -> StoreQuery:
        """``LOWER(col) = LOWER(value)``, post-filtered by Unicode casefold (index ``lower(col)``)."""
        return self._query(attribute, value, True)

    def _query(self, attribute: str, value: str, casefold: bool) -> StoreQuery:
        # Only the bound value changes between lookups: the SQL text is built once per attribute.
        template = self._queries.get((attribute, casefold))
        if template is None:
            field = searched_field(self.config, attribute, self.dialect.backend)
            template = _sql.lookup_query(self.config, self.dialect, attribute, field, "", casefold)
            self._queries[(attribute, casefold)] = template
        t = template
        return StoreQuery(t.backend, t.attribute, t.field, t.text, (value, *t.params[1:]), casefold=t.casefold)

    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        value, field, folded = str(query.params[0]), query.field, query.casefold
        if not self._bindable(value):
            return []
        rows = await self._run(query.text, query.params)
        record = self._rows_to_users.record
        return [record(row, field) for row in rows if is_exact(row, field, value, folded)]

    def _record(self, row: Row, field: str) -> UserRecord:
        return self._rows_to_users.record(row, field)

    def _bindable(self, value: str) -> bool:
        """Whether the server can hold ``value`` at all (otherwise no row can equal it)."""
        return True

    async def _rows(self, query: StoreQuery) -> list[Row]:
        if not self._bindable(str(query.params[0])):
            return []
        return await self._run(query.text, query.params)

    def _run(self, text: str, params: Sequence[Any] = ()) -> Awaitable[list[Row]]:
        """One statement under ``guarded`` (its coroutine, not a wrapper's: no extra frame per resume). A
        pooled connection can be dead after a server restart: one fresh try (guarded's ``again``)."""
        return guarded(self.failures, self.config.timeout, self._execute(text, params),
                       lambda: self._execute(text, params))

    # ------------------------------------------------------------ diagnose
    async def near_misses(self, attribute: str, value: str) -> list[NearMiss]:
        field = searched_field(self.config, attribute, self.dialect.backend)
        misses: dict[tuple[str, str], NearMiss] = {}
        for query in self._loose_queries(attribute, field, value):
            for row in await self._rows(query):
                stored = row.get(field)
                kind = near_miss_kind(stored, value) if isinstance(stored, str) else None
                if isinstance(stored, str) and kind is not None:
                    user = self._record(row, field)
                    misses.setdefault((attribute, user.user_id), NearMiss(kind, attribute, stored, user))
        for other, other_field in self._other_fields(attribute):
            query = _sql.lookup_query(self.config, self.dialect, other, other_field, value)
            for user in await self.fetch(query):
                stored_value = user.matched_value or value
                misses.setdefault((other, user.user_id), NearMiss("other_attribute", other, stored_value, user))
        return list(misses.values())

    def _loose_queries(self, attribute: str, field: str, value: str) -> list[StoreQuery]:
        if self.config.query is None:
            return [_sql.loose_query(self.config, self.dialect, attribute, field, value)]
        variants = {value.strip(), value.lower(), value.strip().lower(), value.casefold()} - {value}
        return [_sql.lookup_query(self.config, self.dialect, attribute, field, v) for v in sorted(variants)]

    def _other_fields(self, attribute: str) -> list[tuple[str, str]]:
        pairs = other_fields(self.config, attribute)
        if self.config.query is None:
            return pairs
        # A custom query only searches another field if it branches on :attribute.
        return [p for p in pairs if p[0] in self.config.lookup] if _sql.uses_attribute(self.config.query) else []

    # ------------------------------------------------------------ readiness
    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        checks: list[tuple[str, Check]] = [("connect", self._check_connect), ("mapping", self._check_mapping)]
        return await run_checks(self.identity, with_canary(self, checks, canary))

    async def _check_connect(self) -> str:
        await self._run("SELECT 1")
        return "connected"

    async def _check_mapping(self) -> str:
        if self.config.query is None:
            await self._run(_sql.probe_query(self.config, self.dialect))
            return f"table {self.config.table} has columns {', '.join(_sql.selected_columns(self.config))}"
        text = _sql.custom_query_text(self.config.query, self.dialect)
        names = await guarded(self.failures, self.config.timeout, self._describe_query(text))
        return _sql.check_query_columns(self.config, names)

    @abc.abstractmethod
    async def _describe_query(self, text: str) -> list[str]:
        """The column names ``text`` (a converted custom query) returns, without reading rows."""
