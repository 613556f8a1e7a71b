"""The record writer: an O(1) ``record(ctx)`` on the hot path, a bounded queue, a batched drain.

Shaping records, updating metrics and writing sinks all happen in one worker
thread, so the event loop only pays for a list append per request (``RecordQueue``,
compiled). When the queue is full the newest record is dropped and counted, never silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter_ns
from typing import Any, Protocol

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.observe.queue import Finished, RecordQueue
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.sinks import RecordBatch, Sink
from subwarden.pipeline.context import RequestContext

log = logging.getLogger("subwarden.observe.records")

#: A queued request and the perf_counter_ns() reading when it finished.
_Item = Finished


class BatchObserver(Protocol):
    def observe(self, batch: RecordBatch) -> None: ...


class RecordWriter:
    """Queues finished requests and drains them in batches to the sinks (and metrics)."""

    def __init__(
        self,
        shaper: RecordShaper,
        sinks: Sequence[Sink],
        *,
        queue_size: int = 65_536,
        batch_size: int = 512,
        flush_interval: float = 0.5,
        metrics: BatchObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
        perf_ns: Callable[[], int] = perf_counter_ns,
        drop_log_interval: float = 10.0,
    ) -> None:
        self.shaper = shaper
        self.sinks = tuple(sinks)
        self.metrics = metrics
        self.queue = RecordQueue(queue_size, batch_size, perf_ns, self._wake_drain)
        self._interval = flush_interval
        self._clock = clock
        self._perf_ns = perf_ns
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._drop_log_interval = drop_log_interval
        self._last_drop_log = clock.monotonic()
        self._dropped_logged = 0
        self._written = 0
        self._sink_errors = 0
        self._shape_errors = 0
        self._batches = 0

    # ------------------------------------------------------------ hot path
    @property
    def record(self) -> Callable[[Any], None]:
        """Queue a finished request for recording (``RecordQueue.record``: O(1), never blocks, never raises)."""
        return self.queue.record

    def _wake_drain(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the background drain (idempotent)."""
        if self._task is not None:
            return
        self._closing = False
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="subwarden-records")
        self._task = asyncio.get_running_loop().create_task(self._drain_loop(), name="subwarden-records-drain")

    async def close(self) -> None:
        """Flush everything queued, then close the sinks."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        executor = self._executor or ThreadPoolExecutor(max_workers=1)
        await self._flush(executor)
        await asyncio.get_running_loop().run_in_executor(executor, self._close_sinks)
        executor.shutdown(wait=True)
        self._executor = None
        self._log_drops(force=True)

    def stats(self) -> dict[str, float]:
        """Queue state for metrics and /readyz."""
        return {
            "queued": len(self.queue.items),
            "capacity": self.queue.capacity,
            "dropped": self.queue.dropped,
            "written": self._written,
            "batches": self._batches,
            "sink_errors": self._sink_errors,
            "shape_errors": self._shape_errors,
        }

    # ------------------------------------------------------------ drain
    async def _drain_loop(self) -> None:
        assert self._executor is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            await self._flush(self._executor)
            await asyncio.get_running_loop().run_in_executor(self._executor, self._flush_sinks, False)
            self._log_drops()

    async def _flush(self, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        queue = self.queue
        while queue.items:
            await loop.run_in_executor(executor, self._write_batch, queue.take(queue.batch_size))

    def flush_sync(self) -> None:
        """Write everything queued from the calling thread (tools and tests without a loop)."""
        while self.queue.items:
            self._write_batch(self.queue.take(self.queue.batch_size))
        self._flush_sinks(True)

    def _flush_sinks(self, force: bool) -> None:
        for sink in self.sinks:
            try:
                sink.flush(force)
            except Exception as exc:  # noqa: BLE001 - a failing sink must not stop the others
                self._sink_errors += 1
                log.error("record sink %s failed to flush: %s", type(sink).__name__, type(exc).__name__)

    def _write_batch(self, items: list[_Item]) -> None:
        batch = self._shape_all(items)
        for sink in self.sinks:
            try:
                sink.write(batch)
            except Exception as exc:  # noqa: BLE001 - a failing sink must not stop the others
                self._sink_errors += 1
                log.error(
                    "record sink %s failed (%d records lost): %s", type(sink).__name__, len(batch), type(exc).__name__
                )
        if self.metrics is not None:
            self.metrics.observe(batch)
        self._written += len(batch.requests)
        self._batches += 1

    def _shape_all(self, batch: list[_Item]) -> RecordBatch:
        if not self.sinks:  # metrics only: no rows to build, just leave out contexts metrics cannot read
            if all(type(ctx.timings) is dict for ctx, _ in batch):
                return RecordBatch((), batch)
            return RecordBatch((), [item for item in batch if self._has_timings(item[0])])
        rows, shaped, failed = self.shaper.rows(batch, int(self._clock.now() * 1e6), self._perf_ns())
        for item, error in failed:
            self._shape_errors += 1
            log.error("could not shape a record (request %s): %s", getattr(item[0], "request_id", None), error)
        return RecordBatch(rows, shaped)

    def _has_timings(self, ctx: RequestContext) -> bool:
        if type(ctx.timings) is dict:
            return True
        self._shape_errors += 1
        log.error("could not count a request (request %s): no stage timings", ctx.request_id)
        return False

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001
                log.error("closing record sink %s failed: %s", type(sink).__name__, type(exc).__name__)

    def _log_drops(self, *, force: bool = False) -> None:
        now = self._clock.monotonic()
        if not force and now - self._last_drop_log < self._drop_log_interval:
            return
        dropped = self.queue.dropped
        new = dropped - self._dropped_logged
        if new:
            log.warning("dropped %d call records: queue full (records.queue_size=%d)", new, self.queue.capacity)
            self._dropped_logged = dropped
        self._last_drop_log = now
