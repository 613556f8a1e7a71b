"""The verified-token cache: a bounded LRU keyed by the token string; a hit skips parsing and signature.

A ``get`` hit moves the entry to the end; the admission memo (pipeline/memo.py) instead marks the entry
``USED``, which earns it a second chance at eviction. An entry leaving the cache is marked ``GONE``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from subwarden.eviction import GONE, LIVE, USED, evict_over
from subwarden.pipeline.context import RequestContext
from subwarden.tokens.keys import VerifyKey


class VerifiedToken:
    """What a successful signature check established; the claims' clock window is still checked on every
    hit (validate stage, or the admission memo's ``time_window``)."""

    __slots__ = ("alg", "claims", "header", "issuer", "key", "kid", "state")

    def __init__(self, header: dict[str, Any], claims: dict[str, Any], issuer: Any, alg: str, key: VerifyKey) -> None:
        self.header = header
        self.claims = claims
        self.issuer = issuer
        self.alg = alg
        self.kid: str | None = header.get("kid")
        self.key = key
        self.state = LIVE

    def fill(self, ctx: RequestContext) -> None:
        """Set the verify stage's slots from this entry (a verified-cache hit, or the admission memo's replay)."""
        ctx.jose_header = self.header
        ctx.claims = self.claims
        ctx.issuer = self.issuer
        ctx.alg = self.alg
        ctx.kid = self.kid
        ctx.key_source = self.key.source
        ctx.token_cache_hit = True


class VerifiedCache:
    """Least-recently-used eviction beyond ``max_entries``; 0 disables caching."""

    __slots__ = ("_entries", "hits", "max_entries", "misses")

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, token: str) -> VerifiedToken | None:
        entry = self._entries.get(token)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(token)
        self.hits += 1
        return entry

    def put(self, token: str, entry: VerifiedToken) -> None:
        if self.max_entries <= 0:
            return
        entries = self._entries
        old = entries.pop(token, None)
        if old is not None:
            old.state = GONE
        entries[token] = entry
        for _ in evict_over(entries, self.max_entries):
            pass

    def peek(self, token: str) -> VerifiedToken | None:
        """The entry for ``token`` without counting or reordering (the admission memo learning it)."""
        return self._entries.get(token)

    def holds(self, entry: VerifiedToken) -> bool:
        """True if ``entry`` is still in the cache and its key not retired: what ``get`` plus the verify
        stage's retired-key test accept (the admission memo's re-check; nothing counted)."""
        return entry.state != GONE and not entry.key.retired

    def reused(self, entry: VerifiedToken) -> None:
        """Count a hit on a held ``entry``; marked used for eviction's second chance instead of being moved."""
        entry.state = USED
        self.hits += 1

    def discard(self, token: str) -> None:
        entry = self._entries.pop(token, None)
        if entry is not None:
            entry.state = GONE

    def clear(self) -> None:
        for entry in self._entries.values():
            entry.state = GONE
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
