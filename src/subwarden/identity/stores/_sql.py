"""Pure SQL building shared by the PostgreSQL and MySQL stores (no I/O here).

Table mode selects the mapped columns with an exact comparison on the searched
column; query mode binds ``:value`` / ``:attribute`` into the operator's own SQL.
Values are always bound parameters, never spliced into the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from subwarden.config.models import StoreConfig
from subwarden.errors import StoreMisconfigured
from subwarden.identity.stores._records import MAX_MATCHES, MAX_NEAR_MISSES, unique
from subwarden.identity.stores.base import StoreQuery

_NAMED = re.compile(r"(?<![:\w]):(value|attribute)\b")


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """How one SQL dialect quotes names, spells parameters and compares exactly."""

    backend: str
    quote_char: str
    #: Exact comparison of column ``{col}`` with parameter ``{v}``.
    exact: str
    #: Placeholder style: "dollar" ($1, $2) or "pyformat" (%(value)s).
    params: str
    loose: str = "LOWER(TRIM({col})) = LOWER(TRIM({v}))"
    folded: str = "LOWER({col}) = LOWER({v})"

    def ident(self, name: str) -> str:
        q = self.quote_char
        quoted = q + name.replace(q, q + q) + q
        return quoted.replace("%", "%%") if self.params == "pyformat" else quoted

    def table(self, name: str) -> str:
        return ".".join(self.ident(part) for part in name.split("."))

    def param(self, name: str) -> str:
        if self.params == "dollar":
            return "$1" if name == "value" else "$2"
        return f"%({name})s"


POSTGRES = SqlDialect(backend="postgresql", quote_char='"', exact="{col} = {v}", params="dollar")
# A case-insensitive collation (MariaDB's default utf8mb4_general_ci) would make "=" fold
# case; the first test keeps the index usable, the binary-collation test makes it exact.
MYSQL = SqlDialect(
    backend="mysql",
    quote_char="`",
    exact="{col} = {v} AND CONVERT({col} USING utf8mb4) COLLATE utf8mb4_bin = {v}",
    params="pyformat",
)


def selected_columns(config: StoreConfig, field: str | None = None) -> list[str]:
    """The columns a table-mode lookup reads: id, status, status-since, roles, attributes, searched."""
    return unique(
        [
            config.id_field,
            config.status_field,
            config.status_since_field,
            config.roles_field,
            *config.attributes.values(),
            field,
        ]
    )


def custom_query_text(query: str, dialect: SqlDialect) -> str:
    """The operator's query with ``:value``/``:attribute`` turned into the dialect's placeholders."""
    if dialect.params == "pyformat":
        query = query.replace("%", "%%")
    return _NAMED.sub(lambda m: dialect.param(m.group(1)), query)


def uses_attribute(query: str) -> bool:
    return any(m.group(1) == "attribute" for m in _NAMED.finditer(query))


def has_value_param(query: str) -> bool:
    return any(m.group(1) == "value" for m in _NAMED.finditer(query))


def _select(config: StoreConfig, dialect: SqlDialect, field: str, where: str, limit: int) -> str:
    cols = ", ".join(dialect.ident(c) for c in selected_columns(config, field))
    return f"SELECT {cols} FROM {dialect.table(config.table)} WHERE {where} LIMIT {limit}"


def lookup_query(
    config: StoreConfig, dialect: SqlDialect, attribute: str, field: str, value: str, casefold: bool = False
) -> StoreQuery:
    """The lookup (exact, or case-insensitive with ``casefold``); ``params[0]`` is always the value.

    A custom query is run as written either way; the rows are post-filtered by the fetch.
    """
    if config.query is not None:
        params: tuple[str, ...] = (value, attribute) if uses_attribute(config.query) else (value,)
        text = custom_query_text(config.query, dialect)
    else:
        compare = dialect.folded if casefold else dialect.exact
        where = compare.format(col=dialect.ident(field), v=dialect.param("value"))
        params, text = (value,), _select(config, dialect, field, where, MAX_MATCHES)
    return StoreQuery(dialect.backend, attribute, field, text, params, casefold=casefold)


def loose_query(config: StoreConfig, dialect: SqlDialect, attribute: str, field: str, value: str) -> StoreQuery:
    """Near-miss search (table mode only): the searched column compared trimmed and lower-cased."""
    where = dialect.loose.format(col=dialect.ident(field), v=dialect.param("value"))
    text = _select(config, dialect, field, where, MAX_NEAR_MISSES)
    return StoreQuery(backend=dialect.backend, attribute=attribute, field=field, text=text, params=(value,))


def probe_query(config: StoreConfig, dialect: SqlDialect) -> str:
    """A query that reads no row but fails if the table or a mapped column does not exist."""
    fields = unique([*selected_columns(config), *config.lookup.values()])
    cols = ", ".join(dialect.ident(c) for c in fields)
    return f"SELECT {cols} FROM {dialect.table(config.table)} WHERE 1 = 0"


def check_query_columns(config: StoreConfig, names: list[str]) -> str:
    """Raise ``StoreMisconfigured`` unless a custom query returns every mapped column."""
    missing = [c for c in selected_columns(config) if c not in names]
    if missing:
        raise StoreMisconfigured(
            f"the custom query returns no column {', '.join(missing)} (it returns {', '.join(names)})"
        )
    return f"custom query returns {', '.join(names)}"
