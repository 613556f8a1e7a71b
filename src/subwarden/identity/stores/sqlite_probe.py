"""Read-only checks of the SQLite store that the serving path never runs: self-test and near misses.

The functions taking a store run on one of its worker threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from subwarden.errors import GatewayError, StoreMisconfigured
from subwarden.identity.stores import sqlite_sql as sql
from subwarden.identity.stores._records import near_miss_kind, other_fields
from subwarden.identity.stores.base import NearMiss, SelfTestReport, SelfTestStep, UserRecord, UserStatus

if TYPE_CHECKING:
    from subwarden.identity.stores.sqlite import SqliteStore


def self_test_steps(store: SqliteStore, report: SelfTestReport) -> None:
    """Append the connect and mapping steps; stop at the first failing one."""
    try:
        store.execute("SELECT 1")
    except GatewayError as exc:
        report.steps.append(SelfTestStep("connect", False, f"{exc.code}: {exc.detail.get('error', exc.reason)}"))
        return
    report.steps.append(SelfTestStep("connect", True, store.path))
    problem = _custom_query_problem(store) if store.config.query else _table_problem(store)
    report.steps.append(SelfTestStep("mapping", problem is None, problem or "table and columns exist"))


def _table_problem(store: SqliteStore) -> str | None:
    config = store.config
    schema, _, table = config.table.rpartition(".")
    pragma = f"PRAGMA {sql.quote(schema, 'table') + '.' if schema else ''}table_info({sql.quote(table, 'table')})"
    try:
        _, rows = store.execute(pragma)
    except GatewayError as exc:
        return f"{exc.code}: {exc.detail.get('error', exc.reason)}"
    if not rows:
        return f"table {config.table!r} not found"
    present = {row[1] for row in rows}
    wanted = dict.fromkeys([*sql.selected_columns(config), *config.lookup.values()])
    missing = [c for c in wanted if c not in present]
    return f"missing column(s) in {config.table!r}: {', '.join(missing)}" if missing else None


def _custom_query_problem(store: SqliteStore) -> str | None:
    config = store.config
    assert config.query is not None
    text = f"SELECT * FROM ({config.query.strip().rstrip(';')}) LIMIT 0"
    try:
        names, _ = store.execute(text, {"value": "", "attribute": ""})
    except GatewayError as exc:
        return f"{exc.code}: {exc.detail.get('error', exc.reason)}"
    missing = [c for c in sql.selected_columns(config) if c not in names]
    return f"the custom query does not return column(s): {', '.join(missing)}" if missing else None


def canary_step(store: SqliteStore, result: list[UserRecord] | GatewayError, canary: str) -> SelfTestStep:
    if isinstance(result, GatewayError):
        return SelfTestStep("canary", False, f"{result.code}: {result.detail.get('error', result.reason)}")
    if len(result) != 1:
        return SelfTestStep("canary", False, f"canary subject matches {len(result)} users (expected 1)")
    user = result[0]
    ok = user.status is UserStatus.active
    return SelfTestStep("canary", ok, f"resolves to {user.user_id!r} ({user.status.value})")


def near_misses(store: SqliteStore, attribute: str, value: str) -> list[NearMiss]:
    """Case / whitespace variants on the searched column, then the exact value under other columns."""
    config = store.config
    field = config.lookup.get(attribute)
    if field is None or (config.query is not None and not _table_usable(store)):
        return []
    found: list[NearMiss] = []
    where = f"sw_fold_trim({sql.quote(field)}) = ?"
    for user in _users(store, field, where, value.strip().casefold()):
        kind = near_miss_kind(user.matched_value or "", value)
        if kind is not None:
            found.append(NearMiss(kind, attribute, user.matched_value or "", user))
    for other, column in other_fields(store.config, attribute):
        for user in _users(store, column, f"{sql.quote(column)} = ?", value):
            found.append(NearMiss("other_attribute", other, user.matched_value or value, user))
    return found




def _users(store: SqliteStore, field: str, where: str, param: str) -> list[UserRecord]:
    text = sql.select_text(store.config, field, where, sql.MAX_NEAR_MISSES)
    names, rows = store.execute(text, (param,))
    return [store.rows.user(dict(zip(names, row, strict=True)), row[-1]) for row in rows]


def _table_usable(store: SqliteStore) -> bool:
    try:
        return _table_problem(store) is None
    except StoreMisconfigured:
        return False
