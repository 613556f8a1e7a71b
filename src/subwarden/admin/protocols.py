"""What the control plane acts on, as small Protocols: any object with these methods will do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from subwarden.identity.stores.base import SelfTestReport
from subwarden.observe.query import RecordQuery


class StoreSelfTest(Protocol):
    """A user store (``UserStore`` fits): connect, check the mapping's fields, resolve a canary."""

    def self_test(self, canary: str | None = None) -> Awaitable[SelfTestReport]: ...


class RecordStats(Protocol):
    """The record writer's queue state (``RecordWriter`` fits)."""

    def stats(self) -> dict[str, float]: ...


class RecordSearch(Protocol):
    """Reads stored records (``observe.query.RecordReader`` fits); blocking, run in a thread."""

    def query(self, q: RecordQuery) -> list[dict[str, Any]]: ...


class CacheControl(Protocol):
    """User-cache invalidation (``identity.cache.UserCache`` fits); each returns entries dropped."""

    def invalidate_user(self, user_id: str) -> int: ...

    def invalidate_subject(self, issuer: str, subject: str) -> int: ...

    def invalidate_all(self) -> int: ...


class RevocationControl(Protocol):
    """Revocations (``identity.revocation.RevocationList`` fits); a shared list may answer awaitables."""

    def revoke_jti(self, issuer: str, jti: str, until: float) -> Awaitable[None] | None: ...

    def revoke_subject(self, issuer: str, user_id: str, before: float) -> Awaitable[None] | None: ...


#: ``POST /admin/diagnose``: the JSON body ({"token", "route", "at", "no_cache"}) in, a JSON report out.
Diagnose = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
