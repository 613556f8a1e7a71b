"""The hot half of the record writer, compiled: ``record(ctx)`` is one bounded append per request.

Only the event loop's thread touches the queue (requests finish there, and the drain takes batches
there before handing them to the record thread), so a plain list needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from subwarden.pipeline.context import RequestContext

#: A finished request as queued: the context and its perf_counter_ns() end.
Finished = tuple[RequestContext, int]


class RecordQueue:
    """Finished requests waiting to be recorded; when full the newest is dropped and counted."""

    def __init__(self, capacity: int, batch_size: int, perf_ns: Callable[[], int], wake: Callable[[], None]) -> None:
        self.items: list[Finished] = []
        self.capacity = capacity
        self.batch_size = batch_size
        self.dropped = 0
        self._perf_ns = perf_ns
        self._wake = wake

    def record(self, ctx: Any) -> None:
        """Queue ``ctx``. O(1), never blocks, never raises; a full batch wakes the drain.

        ``Any``, not ``RequestContext``: compiled, a typed parameter would raise on anything else, and
        the drain is what counts (and survives) a context it cannot shape.
        """
        items = self.items
        if len(items) >= self.capacity:
            self.dropped += 1
            return
        # One clock read: the wall time is derived from it in the drain (time.time() costs ~100 ns here).
        items.append((ctx, self._perf_ns()))
        if len(items) == self.batch_size:
            self._wake()

    def take(self, limit: int) -> list[Finished]:
        """The oldest ``limit`` queued requests (all, if fewer), removed from the queue."""
        items = self.items
        if len(items) <= limit:
            self.items = []
            return items
        batch = items[:limit]
        del items[:limit]
        return batch
