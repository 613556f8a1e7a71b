"""The user cache: positive and negative TTLs, bounded LRU, single-flight per key, stale-if-error.

Keys are ``(issuer label, lookup attribute, normalized subject)``. An entry is a
``CachedUser`` (record or None, stored_at): None means "not found" (negative entry).
Store errors are never cached. Expired entries stay until evicted or replaced, so
stale-if-error can serve the last good user while the store is failing.

Eviction is least-recently-used by position (a ``get`` hit moves the entry to the
end) with a second chance for entries the admission memo used in place (it sets
``USED`` instead of moving them; pipeline/memo.py): such an entry at the front is
moved to the end once instead of being evicted. An entry leaving the cache is
marked ``GONE``, which is how the memo learns that its copy is no longer valid.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from subwarden.clock import Clock, monotonic_reader
from subwarden.config.models import CacheConfig
from subwarden.errors import STORE_ERRORS, GatewayError
from subwarden.eviction import GONE, LIVE, USED, evict_over
from subwarden.identity.stores.base import UserRecord

CacheKey = tuple[str, str, str]
Loader = Callable[[], Awaitable[list[UserRecord]]]


class CachedUser:
    """One entry: the record (None = not found), when it was stored (monotonic), and its ``state``."""

    __slots__ = ("record", "state", "stored_at")

    def __init__(self, record: UserRecord | None, stored_at: float) -> None:
        self.record = record
        self.stored_at = stored_at
        self.state = LIVE


Entry = CachedUser


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
        "_by_user", "_entries", "_inflight", "_monotonic", "_prefixes", "coalesced", "evictions", "hits",
        "max_entries", "misses", "negative_hits", "negative_ttl", "positive_ttl", "stale_if_error",
        "stale_served",
    )

    def __init__(self, config: CacheConfig, clock: Clock) -> None:
        self.positive_ttl = config.positive_ttl
        self.negative_ttl = config.negative_ttl
        self.max_entries = config.max_entries
        self.stale_if_error = config.stale_if_error
        #: The clock's monotonic reader (``time.monotonic`` itself for the system clock: read per request).
        self._monotonic = monotonic_reader(clock)
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()
        self._by_user: dict[str, CacheKey | set[CacheKey]] = {}
        self._prefixes: set[tuple[str, str]] = set()
        self._inflight: dict[CacheKey, list[asyncio.Future[list[UserRecord]]]] = {}
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
        record = entry.record
        age = self._monotonic() - entry.stored_at
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

    def held(self, keys: tuple[CacheKey, ...], user: UserRecord) -> tuple[CachedUser, ...] | None:
        """The entries ``get`` answers for ``keys`` now: fresh negatives, then a fresh hit on ``user``; else None.

        Nothing is counted (the admission memo learning what the resolve stage just read).
        """
        mono = self._monotonic()
        out: list[CachedUser] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                return None
            record = entry.record
            if mono - entry.stored_at >= (self.negative_ttl if record is None else self.positive_ttl):
                return None
            out.append(entry)
            if record is user:
                return tuple(out)
            if record is not None:
                return None
        return None

    def reuse(self, held: tuple[CachedUser, ...]) -> float | None:
        """The age of the last of ``held`` if each is still held and fresh now; else None (nothing counted).

        Counted as the resolve stage's ``get`` calls would be (a negative hit for each negative entry, a hit
        for a found user), but only once every entry passed; each is marked used (eviction's second chance)
        instead of being moved. The admission memo calls this with every entry the resolve stage read.
        """
        mono = self._monotonic()
        age = 0.0
        for entry in held:
            age = mono - entry.stored_at
            if entry.state == GONE or age >= (self.negative_ttl if entry.record is None else self.positive_ttl):
                return None
        for entry in held:
            entry.state = USED
            if entry.record is None:
                self.negative_hits += 1
            else:
                self.hits += 1
        return age

    async def load(self, key: CacheKey, loader: Loader) -> Loaded:
        """Query the store once per key however many callers miss together; cache the answer.

        The first caller runs the query itself and hands its outcome to the callers that joined it. No
        task per miss: a task and a shield around it cost ~20 us of CPU per cold lookup, about a third of
        the store call (bench/stores/pg_cold.py). If that first caller is cancelled, the others do not
        inherit its cancellation: one of them queries again.
        """
        waiters = self._inflight.get(key)
        while waiters is not None:
            self.coalesced += 1
            waiter: asyncio.Future[list[UserRecord]] = asyncio.get_running_loop().create_future()
            waiters.append(waiter)
            try:
                return Loaded(await waiter, "coalesced")
            except _QueryAbandoned:
                waiters = self._inflight.get(key)  # take over the query, or join whoever did
            except GatewayError as exc:
                return self._stale_or_raise(key, exc)
        self.misses += 1
        joined: list[asyncio.Future[list[UserRecord]]] = []
        self._inflight[key] = joined
        try:
            records = await loader()
        except BaseException as exc:
            del self._inflight[key]
            handed: BaseException = _QueryAbandoned() if isinstance(exc, asyncio.CancelledError) else exc
            for waiter in joined:
                if not waiter.done():
                    waiter.set_exception(handed)
            if isinstance(exc, GatewayError):
                return self._stale_or_raise(key, exc)
            raise
        del self._inflight[key]
        self._store(key, records)
        for waiter in joined:
            if not waiter.done():
                waiter.set_result(records)
        return Loaded(records, "miss")

    def _stale_or_raise(self, key: CacheKey, exc: GatewayError) -> Loaded:
        stale = self._stale(key) if isinstance(exc, STORE_ERRORS) else None
        if stale is None:
            raise exc
        self.stale_served += 1
        return Loaded([stale[0]], "stale", stale[1])

    def _stale(self, key: CacheKey) -> tuple[UserRecord, float] | None:
        entry = self._entries.get(key)
        if entry is None or entry.record is None or self.stale_if_error <= 0:
            return None
        age = self._monotonic() - entry.stored_at
        if age - self.positive_ttl >= self.stale_if_error:
            return None
        return entry.record, age

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
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            old.state = GONE
            if old.record is not None:
                self._unindex(old.record.user_id, key)
        entries[key] = CachedUser(record, self._monotonic())
        self._prefixes.add((key[0], key[1]))
        if record is not None:
            self._index(record.user_id, key)
        for evicted_key, evicted in evict_over(entries, self.max_entries):
            if evicted.record is not None:
                self._unindex(evicted.record.user_id, evicted_key)
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
        entry.state = GONE
        if entry.record is not None:
            self._unindex(entry.record.user_id, key)
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
        for entry in self._entries.values():
            entry.state = GONE
        self._entries.clear()
        self._by_user.clear()
        return count

    def peek(self, key: CacheKey) -> EntryView | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        record = entry.record
        age = self._monotonic() - entry.stored_at
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


class _QueryAbandoned(Exception):
    """Handed to the callers waiting on a query whose first caller was cancelled: they query again."""
