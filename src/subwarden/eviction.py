"""Second-chance eviction shared by the verified-token cache and the user cache.

Entries carry a ``state``: ``LIVE`` (held), ``USED`` (held and read by the admission memo since it
was last passed over) or ``GONE`` (no longer held: the memo checks this instead of looking up).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Protocol, TypeVar

#: Entry states: held; held and used since last passed over for eviction; no longer held.
LIVE, USED, GONE = 0, 1, 2


class Evictable(Protocol):
    state: int


K = TypeVar("K", bound=Hashable)
E = TypeVar("E", bound=Evictable)


def evict_over(entries: OrderedDict[K, E], limit: int) -> Iterator[tuple[K, E]]:
    """Drop the oldest entries while more than ``limit`` are held, yielding each one dropped (marked GONE).

    An entry marked USED since it was last passed over goes to the end instead, once (its second chance).
    """
    while len(entries) > limit:
        key, entry = entries.popitem(last=False)
        if entry.state == USED:
            entry.state = LIVE
            entries[key] = entry
            continue
        entry.state = GONE
        yield key, entry
