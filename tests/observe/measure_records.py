"""Measurement, not a test: hot-path cost of ``record(ctx)`` (ns), µs per record of each drain part, drain throughput.

Run: ``.venv/bin/python tests/observe/measure_records.py`` (from the repository root).
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from time import perf_counter, perf_counter_ns, thread_time

from subwarden.clock import SYSTEM_CLOCK
from subwarden.errors import UserNotFound
from subwarden.identity.stores.base import UserRecord
from subwarden.observe.metrics import GatewayMetrics
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import RecordBatch, Sink, SqliteSink, StdoutSink, dump_row
from subwarden.observe.subject_hash import SubjectHasher
from subwarden.pipeline.context import RequestContext

N_HOT = 1_000_000
N_DRAIN = 100_000
N_PARTS = 20_480


class _Route:
    name = "api"


class _Issuer:
    label = "corp"


def finished_ctx(i: int) -> RequestContext:
    ctx = RequestContext("GET", f"/api/orders/{i}", [], request_id=f"req-{i}", trace_id="t" * 32,
                         started_ns=perf_counter_ns())
    ctx.route = _Route()  # type: ignore[assignment]
    ctx.issuer = _Issuer()
    ctx.claims = {"iss": "https://idp.test", "sub": f"user-{i % 1000}", "exp": 1, "iat": 0}
    ctx.subject, ctx.mapping_claim, ctx.mapping_rule = f"user-{i % 1000}", "sub", "sub->user_id"
    ctx.timings = {"route": 800, "extract": 600, "verify": 3_000, "validate": 900, "map": 700, "resolve": 1_200}
    if i % 10 == 0:
        ctx.error, ctx.failed_stage, ctx.status, ctx.outcome = UserNotFound(), "resolve", 401, "denied"
    else:
        ctx.user, ctx.status, ctx.outcome = UserRecord(f"u-{i % 1000}"), 200, "allowed"
        ctx.upstream_status, ctx.upstream_target, ctx.upstream_ms = 200, "127.0.0.1:9000", 0.8
    ctx.cache_state = "hit"
    return ctx


def shaper() -> RecordShaper:
    return RecordShaper(fingerprint="0123456789abcdef", hasher=SubjectHasher(os.urandom(32)))


def hot_path_ns() -> tuple[float, float]:
    """ns per record(ctx): accepted (the queue emptied every 512, as the drain does) and dropped (queue full)."""
    ctx = finished_ctx(1)
    writer = RecordWriter(shaper(), [], queue_size=65_536, batch_size=1 << 30)
    queue = writer.queue
    rounds = N_HOT // 512

    def accepted() -> None:
        for _ in range(rounds):
            for _ in range(512):
                writer.record(ctx)
            queue.items.clear()

    accept = timeit.timeit(accepted, number=1) / (rounds * 512) * 1e9
    full = RecordWriter(shaper(), [], queue_size=16)
    for _ in range(16):
        full.record(ctx)
    record = full.record
    drop = timeit.timeit("record(ctx)", globals={"record": record, "ctx": ctx}, number=N_HOT) / N_HOT * 1e9
    return accept, drop


async def drain_rate(sinks: list[Sink], metrics: GatewayMetrics | None) -> float:
    writer = RecordWriter(shaper(), sinks, queue_size=N_DRAIN, batch_size=512, flush_interval=0.05,
                          metrics=metrics, clock=SYSTEM_CLOCK)
    contexts = [finished_ctx(i) for i in range(N_DRAIN)]
    await writer.start()
    t0 = perf_counter()
    for ctx in contexts:
        writer.record(ctx)
    await writer.close()
    elapsed = perf_counter() - t0
    assert writer.stats()["written"] == N_DRAIN
    return N_DRAIN / elapsed


def per_record_us(run: Callable[[], object], n: int) -> float:
    return min(timeit.repeat(run, timer=thread_time, number=1, repeat=5)) / n * 1e6


def parts_us(tmp: Path) -> dict[str, float]:
    """CPU µs per record of each drain part, on 512-record batches (best of five, thread CPU time)."""
    contexts = [finished_ctx(i) for i in range(N_PARTS)]
    shape, n = shaper(), len(contexts)
    rows = [shape.row(ctx, 1.8e9, ctx.started_ns + 1000) for ctx in contexts]
    spans = range(0, n, 512)
    batches = [RecordBatch(rows[i:i + 512], [c.timings for c in contexts[i:i + 512]]) for i in spans]
    sink, metrics = SqliteSink(tmp / "parts.db"), GatewayMetrics(process=False)
    parts = {
        "shape (row)": per_record_us(lambda: [shape.row(c, 1.8e9, c.started_ns + 1000) for c in contexts], n),
        "  of which subject hash": per_record_us(lambda: [shape._hasher.hash(c.subject) for c in contexts], n),
        "stdout JSON line": per_record_us(lambda: [dump_row(r) for r in rows], n),
        "SQLite insert": per_record_us(lambda: ([sink.write(b) for b in batches], sink.flush()), n),
        "metrics": per_record_us(lambda: [metrics.observe(b) for b in batches], n),
    }
    sink.close()
    return parts


async def main() -> None:
    accept, drop = hot_path_ns()
    print(f"record(ctx) hot path: {accept:.0f} ns accepted, {drop:.0f} ns when full (dropped, counted)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, micros in parts_us(Path(tmp)).items():
            print(f"{name}: {micros:.2f} µs/record")
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, list[Sink], GatewayMetrics | None]] = [
            ("shape only", [], None),
            ("stdout JSON lines", [StdoutSink(io.StringIO())], None),
            ("SQLite", [SqliteSink(Path(tmp) / "a.db")], None),
            ("SQLite + stdout + metrics", [SqliteSink(Path(tmp) / "b.db"), StdoutSink(io.StringIO())],
             GatewayMetrics()),
        ]
        for name, sinks, metrics in cases:
            rate = await drain_rate(sinks, metrics)
            print(f"drain, {name}: {rate:,.0f} records/s")


if __name__ == "__main__":
    asyncio.run(main())
