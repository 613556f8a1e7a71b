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
from subwarden.identity.stores.base import UserRecord, UserStatus, classify_status, parse_roles

#: Most rows one lookup returns; more than one already means "ambiguous".
MAX_MATCHES = 10
#: Most rows a looser near-miss search returns.
MAX_NEAR_MISSES = 20

_MISSING = object()


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a stored value (dates as ISO text, UUIDs/decimals as text)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _required(row: Mapping[str, Any], name: str, backend: str, strict: bool = True) -> Any:
    value = row.get(name, _MISSING)
    if value is _MISSING:
        if not strict:
            return None
        raise StoreMisconfigured(f"{backend}: the answer has no field {name!r}", backend=backend, field=name)
    return value


def record_from_row(
    row: Mapping[str, Any], config: StoreConfig, searched: str | None, backend: str, *, strict: bool = True
) -> UserRecord:
    """Map one row; a configured field absent from the row is a mapping error, never a miss.

    With ``strict=False`` (JSON documents, where optional keys are omitted) only the id is required.
    """
    user_id = _required(row, config.id_field, backend)
    if user_id is None:
        raise StoreMisconfigured(f"{backend}: a row has no value in {config.id_field!r}", backend=backend)
    status = UserStatus.active
    if config.status_field is not None:
        status = classify_status(_required(row, config.status_field, backend, strict), config)
    roles = parse_roles(_required(row, config.roles_field, backend, strict)) if config.roles_field else ()
    since = row.get(config.status_since_field) if config.status_since_field else None
    matched = row.get(searched) if searched else None
    return UserRecord(
        user_id=str(plain(user_id)),
        status=status,
        roles=roles,
        attributes={name: plain(_required(row, f, backend, strict)) for name, f in config.attributes.items()},
        matched_value=None if matched is None else str(plain(matched)),
        status_since=None if since is None else str(plain(since)),
    )


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
