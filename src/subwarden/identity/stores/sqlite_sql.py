"""Pure pieces of the SQLite store: URL → path, identifier quoting, query text, rows → users, errors."""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from subwarden.config.models import StoreConfig
from subwarden.errors import GatewayError, StoreMisconfigured, StoreUnavailable
from subwarden.identity.stores.base import UserRecord, UserStatus, classify_status, lookup_matches, parse_roles

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The searched column is also selected under this alias for the exact post-filter.
MATCHED = "sw_matched"
MAX_MATCHES = 10
MAX_NEAR_MISSES = 20
MAX_ROLE_SETS = 4096
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MISSING = object()

#: sqlite3 message fragment → catalog error; the first match wins, anything else is "unavailable".
_ERRORS: tuple[tuple[str, type[GatewayError]], ...] = (
    ("unable to open database file", StoreUnavailable),
    ("no such table", StoreMisconfigured),
    ("no such column", StoreMisconfigured),
    ("no such function", StoreMisconfigured),
    ("syntax error", StoreMisconfigured),
    ("file is not a database", StoreMisconfigured),
    ("binding", StoreMisconfigured),
    ("parameter", StoreMisconfigured),
)


def sqlite_path(url: str) -> str:
    """``sqlite:///rel/path`` → ``rel/path``; ``sqlite:////abs/path`` → ``/abs/path``."""
    from subwarden.config.loader import ConfigError

    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            f"identity.store.url: expected sqlite:///relative/path or sqlite:////absolute/path, got {url!r}"
        )
    return url[len(prefix):].split("?", 1)[0]


def quote(name: str, what: str = "column") -> str:
    """A validated, bracket-quoted SQL identifier (``schema.table`` allowed for tables).

    Not double quotes: SQLite reads an unknown "column" as a string literal, which would
    turn a misspelled column into a constant instead of an error.
    """
    from subwarden.config.loader import ConfigError

    parts = name.split(".") if what == "table" else [name]
    if not all(_IDENT.fullmatch(p) for p in parts):
        raise ConfigError(f"identity.store: {what} name {name!r} is not a plain SQL identifier")
    return ".".join(f"[{p}]" for p in parts)


def store_error(exc: sqlite3.Error, store: str) -> GatewayError:
    """Translate one sqlite3 exception into the catalog (the single boundary for this backend)."""
    message = str(exc)
    lowered = message.lower()
    if isinstance(exc, sqlite3.ProgrammingError):
        return StoreMisconfigured("sqlite: invalid query", store=store, error=message)
    for fragment, error in _ERRORS:
        if fragment in lowered:
            return error(f"sqlite: {fragment}", store=store, error=message)
    return StoreUnavailable("sqlite: database error", store=store, error=message)


def selected_columns(config: StoreConfig) -> list[str]:
    names = [config.id_field, config.status_field, config.status_since_field, config.roles_field,
             *config.attributes.values()]
    return list(dict.fromkeys(n for n in names if n))


def select_text(config: StoreConfig, field: str, where: str, limit: int) -> str:
    cols = ", ".join(quote(c) for c in selected_columns(config))
    return f"SELECT {cols}, {quote(field)} AS {MATCHED} FROM {quote(config.table, 'table')} WHERE {where} LIMIT {limit}"


class RowMapper:
    """Rows (column name → value) → ``UserRecord``s, sharing small objects between users."""

    __slots__ = ("_role_sets", "config", "store")

    def __init__(self, config: StoreConfig, store: str) -> None:
        self.config = config
        self.store = store
        #: Distinct role tuples, shared by every user holding the same roles (bounded).
        self._role_sets: dict[tuple[str, ...], tuple[str, ...]] = {}

    def users(self, names: list[str], rows: list[tuple[Any, ...]], field: str, value: str,
              casefold: bool) -> list[UserRecord]:
        self._require(names)
        users = []
        for row in rows:
            mapped = dict(zip(names, row, strict=True))
            matched = mapped.get(MATCHED, mapped.get(field, _MISSING))
            if matched is not _MISSING and not lookup_matches(matched, value, casefold):
                continue
            users.append(self.user(mapped, matched))
        return users

    def _require(self, names: list[str]) -> None:
        required = [self.config.id_field, self.config.status_field]
        missing = [n for n in required if n and n not in names]
        if missing:
            raise StoreMisconfigured("sqlite: the query does not return a mapped column", store=self.store,
                                     missing=missing)

    def _shared(self, roles: tuple[str, ...]) -> tuple[str, ...]:
        shared = self._role_sets.get(roles)
        if shared is None:
            shared = tuple(sys.intern(r) for r in roles)
            if len(self._role_sets) < MAX_ROLE_SETS:
                self._role_sets[shared] = shared
        return shared

    def user(self, row: Mapping[str, Any], matched: Any = None) -> UserRecord:
        config = self.config
        status = UserStatus.active
        if config.status_field is not None:
            status = classify_status(row.get(config.status_field), config)
        since = row.get(config.status_since_field) if config.status_since_field else None
        roles = parse_roles(row.get(config.roles_field)) if config.roles_field else ()
        attributes = {n: row[c] for n, c in config.attributes.items() if row.get(c) is not None}
        raw_id = row[config.id_field]
        if raw_id is None:
            raise StoreMisconfigured("sqlite: a matching row has no id", store=self.store, field=config.id_field)
        user_id = str(raw_id)
        if matched is _MISSING or matched is None:
            matched = None
        elif matched == user_id:
            matched = user_id  # share the string: one copy per cached user
        return UserRecord(
            user_id=user_id,
            status=status,
            roles=self._shared(roles),
            attributes=attributes or _EMPTY,
            matched_value=None if matched is None else str(matched),
            status_since=None if since is None else str(since),
        )
