"""The user cache: positive and negative TTLs, bounded LRU, single-flight per key, stale-if-error.

Keys are ``(issuer label, lookup attribute, normalized subject)``. An entry is a
2-tuple ``(record or None, stored_at)``: None means "not found" (negative entry).
Store errors are never cached. Expired entries stay until evicted or replaced, so
stale-if-error can serve the last good user while the store is failing.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from subwarden.clock import Clock
from subwarden.config.models import CacheConfig
from subwarden.errors import STORE_ERRORS, GatewayError
from subwarden.identity.stores.base import UserRecord

CacheKey = tuple[str, str, str]
Entry = tuple[UserRecord | None, float]
Loader = Callable[[], Awaitable[list[UserRecord]]]


class Loaded(NamedTuple):
    """What a lookup through the cache produced: the store's answer and how it was obtained."""

    records: list[UserRecord]
    #: "miss" (this request queried the store), "coalesced" (waited on another's query), "stale".
    state: str
    age: float | None = None


class EntryView(NamedTuple):
    """A read-only look at one entry (diagnose): no counters move, no LRU reordering."""

    user: UserRecord | None
    age: float
    fresh: bool

    @property
    def negative(self) -> bool:
        return self.user is None


class UserCache:
    """Cache-through user lookups; ``get`` is synchronous, ``load`` queries once per key."""

    __slots__ = (
        "_by_user", "_clock", "_entries", "_inflight", "_prefixes", "coalesced", "evictions", "hits",
        "max_entries", "misses", "negative_hits", "negative_ttl", "positive_ttl", "stale_if_error",
        "stale_served",
    )

    def __init__(self, config: CacheConfig, clock: Clock) -> None:
        self.positive_ttl = config.positive_ttl
        self.negative_ttl = config.negative_ttl
        self.max_entries = config.max_entries
        self.stale_if_error = config.stale_if_error
        self._clock = clock
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()
        self._by_user: dict[str, CacheKey | set[CacheKey]] = {}
        self._prefixes: set[tuple[str, str]] = set()
        self._inflight: dict[CacheKey, asyncio.Future[list[UserRecord]]] = {}
        self.hits = self.misses = self.negative_hits = self.coalesced = 0
        self.stale_served = self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------ hot path
    def get(self, key: CacheKey) -> tuple[UserRecord | None, float] | None:
        """A fresh entry as ``(record or None, age)``; None when absent or expired (a miss)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        record, stored_at = entry
        age = self._clock.monotonic() - stored_at
        if record is None:
            if age >= self.negative_ttl:
                return None
            self.negative_hits += 1
        else:
            if age >= self.positive_ttl:
                return None
            self.hits += 1
        self._entries.move_to_end(key)
        return record, age

    async def load(self, key: CacheKey, loader: Loader) -> Loaded:
        """Query the store once per key however many callers miss together; cache the answer."""
        future = self._inflight.get(key)
        state = "coalesced"
        if future is None:
            state = "miss"
            future = asyncio.ensure_future(self._fill(key, loader))
            future.add_done_callback(_retrieve)
            self._inflight[key] = future
            self.misses += 1
        else:
            self.coalesced += 1
        try:
            return Loaded(await asyncio.shield(future), state)
        except GatewayError as exc:
            stale = self._stale(key) if isinstance(exc, STORE_ERRORS) else None
            if stale is None:
                raise
            self.stale_served += 1
            return Loaded([stale[0]], "stale", stale[1])

    async def _fill(self, key: CacheKey, loader: Loader) -> list[UserRecord]:
        try:
            records = await loader()
            self._store(key, records)
            return records
        finally:
            self._inflight.pop(key, None)

    def _stale(self, key: CacheKey) -> tuple[UserRecord, float] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] is None or self.stale_if_error <= 0:
            return None
        age = self._clock.monotonic() - entry[1]
        if age - self.positive_ttl >= self.stale_if_error:
            return None
        return entry[0], age

    # ------------------------------------------------------------ storage
    def _store(self, key: CacheKey, records: list[UserRecord]) -> None:
        if len(records) == 1 and self.positive_ttl > 0:
            self._put(key, records[0])
        elif not records and self.negative_ttl > 0:
            self._put(key, None)
        else:
            self.invalidate(key)

    def _put(self, key: CacheKey, record: UserRecord | None) -> None:
        if self.max_entries <= 0:
            return
        old = self._entries.pop(key, None)
        if old is not None and old[0] is not None:
            self._unindex(old[0].user_id, key)
        self._entries[key] = (record, self._clock.monotonic())
        self._prefixes.add((key[0], key[1]))
        if record is not None:
            self._index(record.user_id, key)
        while len(self._entries) > self.max_entries:
            evicted_key, evicted = self._entries.popitem(last=False)
            if evicted[0] is not None:
                self._unindex(evicted[0].user_id, evicted_key)
            self.evictions += 1

    def _index(self, user_id: str, key: CacheKey) -> None:
        held = self._by_user.get(user_id)
        if held is None:
            self._by_user[user_id] = key
        elif isinstance(held, set):
            held.add(key)
        elif held != key:
            self._by_user[user_id] = {held, key}

    def _unindex(self, user_id: str, key: CacheKey) -> None:
        held = self._by_user.get(user_id)
        if isinstance(held, set):
            held.discard(key)
            if len(held) == 1:
                self._by_user[user_id] = held.pop()
        elif held == key:
            del self._by_user[user_id]

    # ------------------------------------------------------------ invalidation and inspection
    def invalidate(self, key: CacheKey) -> bool:
        """Drop one entry; True if there was one."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        if entry[0] is not None:
            self._unindex(entry[0].user_id, key)
        return True

    def invalidate_user(self, user_id: str) -> int:
        """Drop every entry resolving to ``user_id``, and negative entries keyed by that id."""
        held = self._by_user.get(user_id)
        keys: set[CacheKey] = set(held) if isinstance(held, set) else {held} if held else set()
        keys |= {(issuer, attribute, user_id) for issuer, attribute in self._prefixes}
        return sum(self.invalidate(k) for k in keys)

    def invalidate_subject(self, issuer: str, subject: str) -> int:
        """Drop the entries of ``subject`` (normalized key) under every attribute of ``issuer``."""
        keys = {(i, attribute, subject) for i, attribute in self._prefixes if i == issuer}
        return sum(self.invalidate(k) for k in keys)

    def invalidate_all(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self._by_user.clear()
        return count

    def peek(self, key: CacheKey) -> EntryView | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        record, stored_at = entry
        age = self._clock.monotonic() - stored_at
        return EntryView(record, age, age < (self.negative_ttl if record is None else self.positive_ttl))

    def stats(self) -> dict[str, float]:
        return {
            "user_cache_hits": self.hits,
            "user_cache_misses": self.misses,
            "user_cache_negative_hits": self.negative_hits,
            "user_cache_coalesced": self.coalesced,
            "user_cache_stale_served": self.stale_served,
            "user_cache_evictions": self.evictions,
            "user_cache_entries": len(self._entries),
            "user_cache_inflight": len(self._inflight),
        }


def _retrieve(future: asyncio.Future[list[UserRecord]]) -> None:
    """Mark a failed fill's exception as seen when every waiter was cancelled."""
    if not future.cancelled():
        future.exception()
