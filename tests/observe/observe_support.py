"""Constants and helpers shared by the observe tests (a unique module name, unlike conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from subwarden.clock import FrozenClock
from subwarden.observe.metrics import GatewayMetrics
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.pipeline.context import RequestContext

KEYS = Path(__file__).parent / "keys"
HASH_KEY = b"observe-test-subject-hash-key-0123456789"
FINGERPRINT = "0123456789abcdef"

CtxFactory = Callable[..., RequestContext]


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until true; fails the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def metrics_after(
    shaper: RecordShaper, clock: FrozenClock, contexts: Any, **writer_options: Any
) -> tuple[str, RecordWriter]:
    """The metrics exposition after a metrics-only drain (no sinks) of ``contexts``, and the writer."""
    metrics = GatewayMetrics(process=False)
    writer = RecordWriter(shaper, [], metrics=metrics, clock=clock, **writer_options)
    for ctx in contexts:
        writer.record(ctx)
    writer.flush_sync()
    return metrics.exposition()[0].decode(), writer


def frozen_perf_ns(clock: FrozenClock) -> Callable[[], int]:
    """A perf_counter_ns stand-in that moves only with ``clock`` (exact record timestamps)."""
    return lambda: int(clock.monotonic() * 1e9)


def broken_context(ctx: RequestContext, **fields: Any) -> Any:
    """A stand-in for ``ctx`` with slots set to values their types forbid (a bug elsewhere).

    The compiled build refuses such assignments on a real RequestContext, so the stand-in copies
    its values into a plain object the writer reads the same way.
    """
    names = [n for n in dir(ctx) if not n.startswith("_") and not callable(getattr(ctx, n))]
    stand_in = SimpleNamespace(**{n: getattr(ctx, n) for n in names})
    stand_in.__dict__.update(fields)
    return stand_in
