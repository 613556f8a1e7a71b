"""Shared helpers for backends: flat rows → ``UserRecord``, exact filtering, near-miss kinds.

A "row" is a mapping of store field name → value (an SQL row, a JSON object).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from subwarden.config.models import StoreConfig
from subwarden.errors import StoreMisconfigured
from subwarden.identity.stores.base import UserRecord, UserStatus, parse_roles

#: Most rows one lookup returns; more than one already means "ambiguous".
MAX_MATCHES = 10
#: Most rows a looser near-miss search returns.
MAX_NEAR_MISSES = 20

_MISSING = object()


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a stored value (dates as ISO text, UUIDs/decimals as text)."""
    if type(value) is str or value is None:
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class RowMapper:
    """Rows → ``UserRecord`` for one store's config, with the status table built once (hot path).

    A configured field absent from a row is a mapping error, never a miss. With
    ``strict=False`` only the id is required (documents that omit optional keys).
    """

    __slots__ = ("_direct", "attributes", "backend", "config", "statuses", "strict")

    def __init__(self, config: StoreConfig, backend: str, *, strict: bool = True) -> None:
        self.config, self.backend, self.strict = config, backend, strict
        self.attributes = tuple(config.attributes.items())
        values = config.status_values
        self.statuses: dict[str, UserStatus] = {}
        for status, accepted in ((UserStatus.active, values.active), (UserStatus.disabled, values.disabled),
                                 (UserStatus.locked, values.locked), (UserStatus.deleted, values.deleted)):
            for text in accepted:
                self.statuses.setdefault(text.lower(), status)
        #: Stored texts already in the compared form ("active"): found without strip() and lower().
        self._direct = {text: status for text, status in self.statuses.items() if text == text.strip()}

    def status(self, raw: Any) -> UserStatus:
        """Same rule as ``base.classify_status`` (unknown or missing → disabled), by table lookup."""
        if raw is None:
            return UserStatus.active if self.config.status_field is None else UserStatus.disabled
        if type(raw) is str:
            direct = self._direct.get(raw)
            if direct is not None:
                return direct
        return self.statuses.get(str(raw).strip().lower(), UserStatus.disabled)

    def _field(self, row: Mapping[str, Any], name: str, required: bool) -> Any:
        value = row.get(name, _MISSING)
        if value is _MISSING:
            if not required:
                return None
            raise StoreMisconfigured(f"{self.backend}: the answer has no field {name!r}", backend=self.backend,
                                     field=name)
        return value

    def record(self, row: Mapping[str, Any], searched: str | None) -> UserRecord:
        # The serving path (every cold lookup): one ``get`` per field; ``_field`` only for a missing one.
        c, strict, get = self.config, self.strict, row.get
        user_id = get(c.id_field, _MISSING)
        if user_id is _MISSING:
            user_id = self._field(row, c.id_field, True)
        if user_id is None:
            raise StoreMisconfigured(f"{self.backend}: a row has no value in {c.id_field!r}", backend=self.backend)
        status = UserStatus.active
        if c.status_field:
            raw = get(c.status_field, _MISSING)
            status = self.status(self._field(row, c.status_field, strict) if raw is _MISSING else raw)
        roles: tuple[str, ...] = ()
        if c.roles_field:
            raw = get(c.roles_field, _MISSING)
            roles = _roles(self._field(row, c.roles_field, strict) if raw is _MISSING else raw)
        attributes: dict[str, Any] = {}
        for name, f in self.attributes:
            value = get(f, _MISSING)
            if value is _MISSING:
                value = self._field(row, f, strict)
            attributes[name] = value if type(value) is str or value is None else plain(value)
        since = get(c.status_since_field) if c.status_since_field else None
        matched = get(searched) if searched else None
        return UserRecord(
            user_id if type(user_id) is str else str(plain(user_id)),
            status,
            roles,
            attributes,
            matched if matched is None or type(matched) is str else str(plain(matched)),
            None if since is None else str(plain(since)),
        )


def _roles(raw: Any) -> tuple[str, ...]:
    """``parse_roles``, with a fast path for a list of non-empty strings (a text[] column)."""
    if type(raw) is list and all(type(r) is str and r for r in raw):
        return tuple(raw)
    return parse_roles(raw)


def is_exact(row: Mapping[str, Any], searched: str | None, value: str, casefold: bool = False) -> bool:
    """True unless the searched field holds text that differs from ``value`` (loose collation);
    with ``casefold``, differs even after Unicode case folding."""
    stored = row.get(searched) if searched else None
    if not isinstance(stored, str):
        return True
    return stored.casefold() == value.casefold() if casefold else stored == value


def near_miss_kind(stored: str, value: str) -> str | None:
    """How ``stored`` loosely equals ``value`` (``None`` when equal or unrelated)."""
    if stored == value:
        return None
    if stored.strip() == value.strip():
        return "trimmed"
    if stored.casefold() == value.casefold():
        return "casefold"
    if stored.strip().casefold() == value.strip().casefold():
        return "casefold_trimmed"
    return None


def other_fields(config: StoreConfig, attribute: str) -> list[tuple[str, str]]:
    """(attribute, field) pairs searched for ``other_attribute`` near misses: every other lookup
    field, plus the id field when no lookup attribute uses it."""
    searched = config.lookup.get(attribute)
    pairs = [(a, f) for a, f in config.lookup.items() if a != attribute and f != searched]
    fields = {f for _, f in pairs} | {searched}
    if config.id_field not in fields:
        pairs.append((config.id_field, config.id_field))
    return pairs


def searched_field(config: StoreConfig, attribute: str, backend: str) -> str:
    try:
        return config.lookup[attribute]
    except KeyError:
        raise StoreMisconfigured(
            f"{backend}: lookup attribute {attribute!r} is not in identity.store.lookup {sorted(config.lookup)}",
            backend=backend,
        ) from None


def secret(env: Mapping[str, str] | None, name: str | None) -> str | None:
    """The value of environment variable ``name`` (``env`` injected by tests, else os.environ)."""
    if not name:
        return None
    return (os.environ if env is None else env).get(name)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def unique(items: Iterable[str | None]) -> list[str]:
    """Distinct non-empty names, first occurrence order."""
    return list(dict.fromkeys(i for i in items if i))
