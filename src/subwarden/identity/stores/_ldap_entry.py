"""LDAP entries → ``UserRecord``: exact matching, account status (status attribute, AD flags,
OpenLDAP ppolicy lock) and roles from DN-valued attributes. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from subwarden.config.models import StoreConfig
from subwarden.errors import StoreMisconfigured
from subwarden.identity.stores._ldap_filter import rdn_value
from subwarden.identity.stores.base import UserRecord, UserStatus, classify_status

AD_ACCOUNTDISABLE = 0x2
AD_LOCKOUT = 0x10
AD_FLAGS = ("userAccountControl", "lockoutTime")
PPOLICY_LOCK = "pwdAccountLockedTime"


@dataclass(frozen=True, slots=True)
class Entry:
    """One search result: its DN and attribute values (names lower-cased, values as text)."""

    dn: str
    attrs: Mapping[str, list[str]] = field(default_factory=dict)
    #: Roles found by a group search (filled in after the user search).
    group_roles: tuple[str, ...] = ()

    @classmethod
    def from_raw(cls, dn: str, raw: Mapping[str, Iterable[bytes]]) -> Entry:
        attrs: dict[str, list[str]] = {}
        for name, values in raw.items():
            key = name.split(";", 1)[0].lower()
            attrs.setdefault(key, []).extend(v.decode("utf-8", "replace") for v in values)
        return cls(dn=dn, attrs=attrs)

    def values(self, name: str) -> list[str]:
        if name.lower() == "dn":
            return [self.dn]
        return self.attrs.get(name.lower(), [])

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


def requested_attributes(config: StoreConfig, field: str, ppolicy: bool) -> list[str]:
    """Every attribute a lookup reads: the mapping, the searched one, AD flags, the ppolicy lock."""
    names = [
        config.id_field,
        config.status_field,
        config.status_since_field,
        config.roles_field,
        *config.attributes.values(),
        field,
        *(AD_FLAGS if config.ldap.ad_user_account_control else ()),
        PPOLICY_LOCK if ppolicy else None,
    ]
    return list(dict.fromkeys(n for n in names if n and n.lower() != "dn"))


def exact_value(entry: Entry, field: str, value: str, casefold: bool = False) -> str | None:
    """The stored value of ``field`` equal to ``value`` (LDAP matching rules ignore case), or
    equal after Unicode case folding with ``casefold``."""
    if not casefold:
        return value if value in entry.values(field) else None
    folded = value.casefold()
    return next((v for v in entry.values(field) if v.casefold() == folded), None)


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def entry_status(entry: Entry, config: StoreConfig) -> UserStatus:
    """The status attribute first; then AD's disabled bit and lockout; then a ppolicy lock."""
    if config.status_field is not None:
        status = classify_status(entry.first(config.status_field), config)
        if status is not UserStatus.active:
            return status
    if config.ldap.ad_user_account_control:
        flags = _int(entry.first("userAccountControl"))
        if flags & AD_ACCOUNTDISABLE:
            return UserStatus.disabled
        if flags & AD_LOCKOUT or _int(entry.first("lockoutTime")) > 0:
            return UserStatus.locked
    if entry.first(PPOLICY_LOCK):
        return UserStatus.locked
    return UserStatus.active


def _attribute(values: list[str]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def record_from_entry(entry: Entry, config: StoreConfig, matched: str) -> UserRecord:
    user_id = entry.first(config.id_field)
    if user_id is None:
        raise StoreMisconfigured(f"ldap: entry {entry.dn!r} has no {config.id_field!r} (id_field)", backend="ldap")
    roles = [rdn_value(v) for v in entry.values(config.roles_field)] if config.roles_field else []
    return UserRecord(
        user_id=user_id,
        status=entry_status(entry, config),
        roles=tuple(dict.fromkeys([*roles, *entry.group_roles])),
        attributes={name: _attribute(entry.values(f)) for name, f in config.attributes.items()},
        matched_value=matched,
        status_since=entry.first(config.status_since_field) if config.status_since_field else None,
    )
