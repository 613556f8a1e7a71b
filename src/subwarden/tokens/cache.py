"""The verified-token cache: a bounded LRU keyed by the token string; a hit skips parsing and signature."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from subwarden.tokens.keys import VerifyKey


class VerifiedToken:
    """What a successful signature check established; exp/nbf are still checked on every hit."""

    __slots__ = ("alg", "claims", "exp", "header", "issuer", "key", "kid", "nbf")

    def __init__(self, header: dict[str, Any], claims: dict[str, Any], issuer: Any, alg: str, key: VerifyKey) -> None:
        self.header = header
        self.claims = claims
        self.issuer = issuer
        self.alg = alg
        self.kid: str | None = header.get("kid")
        self.key = key
        self.exp = claims.get("exp")
        self.nbf = claims.get("nbf")


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
        self._entries[token] = entry
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        self._entries.pop(token, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
