"""The user-store contract every backend implements, and the URL-scheme registry.

A backend turns a lookup (attribute, value) into a pure ``StoreQuery`` that
diagnose can show, then fetches it. Fetching is the only I/O. Each backend
translates its own driver's exceptions, in one place, into the catalog's
store errors: ``StoreUnavailable``, ``StoreAuthFailed``,
``StoreMisconfigured``, ``StoreTimeout``. Not found is an empty list, never an
exception; an exception is never a "not found".
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from subwarden.config.models import StoreConfig


class UserStatus(StrEnum):
    active = "active"
    disabled = "disabled"
    locked = "locked"
    deleted = "deleted"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user as the store holds it; ``user_id`` is the canonical id sent upstream."""

    user_id: str
    status: UserStatus = UserStatus.active
    roles: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: The value stored in the field that was searched (for exact-match post-filtering).
    matched_value: str | None = None
    #: When the status last changed, if the store says (ISO 8601 text).
    status_since: str | None = None


@dataclass(frozen=True, slots=True)
class StoreQuery:
    """What a lookup runs, built without I/O; ``text`` is SQL, an LDAP filter or a URL."""

    backend: str
    attribute: str
    field: str
    text: str
    params: tuple[Any, ...] = ()
    #: Compare ignoring case (Unicode casefold); set by ``build_casefold_query``.
    casefold: bool = False

    def describe(self) -> str:
        if not self.params:
            return self.text
        return f"{self.text}  -- params: {list(self.params)!r}"


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A user the exact lookup did not find but a looser, read-only search did (diagnose only).

    ``kind`` is one of ``casefold`` (matches ignoring case), ``trimmed`` (matches
    after stripping whitespace), ``casefold_trimmed``, or ``other_attribute``
    (the value is stored under ``attribute`` instead of the searched one).
    """

    kind: str
    attribute: str
    stored_value: str
    user: UserRecord


@dataclass(frozen=True, slots=True)
class SelfTestStep:
    name: str
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class SelfTestReport:
    """Readiness of a store: connect → mapping (fields exist) → canary resolves."""

    store: str
    steps: list[SelfTestStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed_step(self) -> SelfTestStep | None:
        return next((s for s in self.steps if not s.ok), None)


class UserStore(abc.ABC):
    """A backend resolving users. Constructed from ``StoreConfig``; connects lazily."""

    #: Scheme(s) this backend serves, e.g. ("postgresql", "postgres").
    schemes: tuple[str, ...] = ()
    #: Whether ``build_casefold_query`` is implemented (checked at start-up when a mapping casefolds).
    supports_casefold: ClassVar[bool] = False
    #: Whether ``fetch`` keeps to ``config.timeout`` itself (``_failures.guarded``); the resolve stage
    #: then sets no time budget of its own around it (a second one cost a coroutine and a deadline a query).
    bounds_own_time: ClassVar[bool] = False

    def __init__(self, config: StoreConfig) -> None:
        self.config = config

    @property
    @abc.abstractmethod
    def identity(self) -> str:
        """Where the store is, secrets redacted (e.g. ``postgresql://app:***@db:5432/users``)."""

    @abc.abstractmethod
    def build_query(self, attribute: str, value: str) -> StoreQuery:
        """The exact query ``fetch`` runs for this lookup. Pure: no I/O."""

    def build_casefold_query(self, attribute: str, value: str) -> StoreQuery:
        """The query for a case-insensitive lookup (``normalization.casefold``). Pure: no I/O.

        A backend supporting it returns a query with ``casefold=True``; ``fetch`` then
        returns every user whose field casefolds to ``value.casefold()`` (more than
        one means ambiguous, which the resolve stage refuses).
        """
        raise NotImplementedError(f"{type(self).__name__} does not support casefold lookups")

    @abc.abstractmethod
    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        """Run ``query``: every user whose field equals the value *exactly* (0, 1 or more).

        Raises only the catalog's store errors. Backends whose comparison is
        looser than exact (case-insensitive collations, LDAP matching rules)
        must post-filter so the result is exact.
        """

    async def lookup(self, attribute: str, value: str) -> list[UserRecord]:
        return await self.fetch(self.build_query(attribute, value))

    @abc.abstractmethod
    async def near_misses(self, attribute: str, value: str) -> list[NearMiss]:
        """Read-only looser searches the serving path never runs (diagnose only).

        Case-insensitive and whitespace-trimmed matches on ``attribute``'s
        field, and exact matches of ``value`` under every other lookup field.
        """

    @abc.abstractmethod
    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        """Connect, check the mapping's fields exist, optionally resolve ``canary``."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


StoreFactory = Callable[[StoreConfig], UserStore]

#: scheme → "module:Class", imported on first use so optional drivers stay optional.
_REGISTRY: dict[str, str | StoreFactory] = {}


def register_store(scheme: str, target: str | StoreFactory) -> None:
    """Register a backend for a URL scheme (a factory, or a lazy "module:Class" path)."""
    _REGISTRY[scheme] = target


def registered_schemes() -> list[str]:
    return sorted(_REGISTRY)


def create_store(config: StoreConfig) -> UserStore:
    """Build the backend for ``config.url``'s scheme; an unknown scheme is a config error."""
    from subwarden.config.loader import ConfigError

    scheme = config.url.split(":", 1)[0].lower()
    target = _REGISTRY.get(scheme)
    if target is None:
        raise ConfigError(
            f"identity.store.url: unknown scheme {scheme!r}; known: {', '.join(registered_schemes())}"
        )
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"identity.store.url: the {scheme} backend needs an optional driver ({exc.name}); "
                f"install subwarden[{_EXTRA_FOR.get(scheme, scheme)}]"
            ) from None
        factory: StoreFactory = getattr(module, class_name)
    else:
        factory = target
    return factory(config)


_EXTRA_FOR = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "ldap": "ldap",
    "ldaps": "ldap",
}

register_store("sqlite", "subwarden.identity.stores.sqlite:SqliteStore")
register_store("postgresql", "subwarden.identity.stores.postgres:PostgresStore")
register_store("postgres", "subwarden.identity.stores.postgres:PostgresStore")
register_store("mysql", "subwarden.identity.stores.mysql:MysqlStore")
register_store("mariadb", "subwarden.identity.stores.mysql:MysqlStore")
register_store("ldap", "subwarden.identity.stores.ldap:LdapStore")
register_store("ldaps", "subwarden.identity.stores.ldap:LdapStore")
register_store("http", "subwarden.identity.stores.http:HttpUserStore")
register_store("https", "subwarden.identity.stores.http:HttpUserStore")


def classify_status(raw: Any, config: StoreConfig) -> UserStatus:
    """Map a stored status value to a ``UserStatus``; unknown values count as disabled (fail closed)."""
    if raw is None:
        return UserStatus.active if config.status_field is None else UserStatus.disabled
    text = str(raw).strip().lower()
    values = config.status_values
    for status, accepted in (
        (UserStatus.active, values.active),
        (UserStatus.disabled, values.disabled),
        (UserStatus.locked, values.locked),
        (UserStatus.deleted, values.deleted),
    ):
        if text in (a.lower() for a in accepted):
            return status
    return UserStatus.disabled


def lookup_matches(stored: Any, value: str, casefold: bool = False) -> bool:
    """The post-filter every backend applies: exact equality, or equality after casefold.

    Integers compare by their decimal text (an INTEGER id column matched by a string subject).
    """
    if isinstance(stored, int) and not isinstance(stored, bool):
        stored = str(stored)
    if not isinstance(stored, str):
        return False
    return stored.casefold() == value.casefold() if casefold else stored == value


def parse_roles(raw: Any) -> tuple[str, ...]:
    """Roles from a list, a JSON list text, or comma/space separated text."""
    if raw is None:
        return ()
    if isinstance(raw, (list, tuple)):
        return tuple(str(r) for r in raw if str(r))
    text = str(raw).strip()
    if text.startswith("["):
        import json

        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, list):
            return tuple(str(r) for r in loaded if str(r))
    return tuple(p for p in text.replace(",", " ").split() if p)
