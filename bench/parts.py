"""In-process CPU of the hot path's parts for cached tokens: admission, record shaping, record writing.

    .venv/bin/python bench/parts.py [--requests 50000]

Same gateway as bench/hotpath.py (as `serve` builds it, records on); each part timed alone over
pre-built contexts, so one change to one part can be compared with the last.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import hotpath  # noqa: E402
from subwarden.observe.metrics import GatewayMetrics  # noqa: E402
from subwarden.observe.records import RecordWriter  # noqa: E402
from subwarden.pipeline.context import RequestContext  # noqa: E402
from subwarden.serve import build_serving_gateway  # noqa: E402


def _ctx(token: str) -> RequestContext:
    headers = [(b"host", b"127.0.0.1:8080"), (b"authorization", b"Bearer " + token.encode())]
    return RequestContext(
        "GET", "/bench", headers, host="127.0.0.1:8080", request_id="0123456789abcdef0123",
        trace_id="0" * 32, traceparent="00-" + "0" * 32 + "-" + "1" * 16 + "-01", started_ns=time.perf_counter_ns(),
    )


def _us(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:6.2f} us"


async def _run(args: argparse.Namespace) -> None:
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    (work / "records.db").unlink(missing_ok=True)
    config, keys = hotpath._config(work, True, args.users)
    tokens = hotpath.read_tokens(hotpath.token_file(keys, work, f"cached-{args.users}", hotpath.user_ids(args.users)))
    gateway = build_serving_gateway(config)
    await gateway.start()
    for token in tokens * 2:  # verify every token and cache every user, then let the admission memo learn it
        ctx = _ctx(token)
        pending = gateway.pipeline.admit(ctx)
        if pending is not None:
            await pending
        if ctx.error is not None:
            raise SystemExit(f"warm-up request failed: {ctx.error.code}")
    ctxs = [_ctx(tokens[i % len(tokens)]) for i in range(args.requests)]
    gc.collect()
    gc.freeze()
    n = len(ctxs)
    t = time.process_time()
    for ctx in ctxs:
        gateway.pipeline.admit(ctx)
    elapsed = time.process_time() - t
    memo = gateway.pipeline.memo
    answered = f"  ({sum(c.admission_memo for c in ctxs)} of {n} by the admission memo)" if memo is not None else ""
    print("admission (all stages, cached)", _us(elapsed, n) + answered)
    for ctx in ctxs:
        ctx.status = ctx.upstream_status = 200
        ctx.outcome = "allowed"
        ctx.upstream_target = "127.0.0.1:9"
        ctx.upstream_ms = 0.4
    t = time.process_time()
    for i in range(n):
        _ctx(tokens[i % len(tokens)])
    print("RequestContext construction   ", _us(time.process_time() - t, n))
    writer = next(r for r in gateway.runtimes if hasattr(r, "flush_sync"))
    shaper = writer.shaper  # type: ignore[attr-defined]
    # The first pass meets each identity once (its record parts are built then), later ones reuse them.
    for label in ("record shaping (row)          ", "record shaping (row), warm    "):
        t = time.process_time()
        for ctx in ctxs:
            shaper.row(ctx, 1.0, ctx.started_ns + 1000)
        print(label, _us(time.process_time() - t, n))
    t = time.process_time()
    for ctx in ctxs:
        writer.record(ctx)  # type: ignore[attr-defined]
    writer.flush_sync()  # type: ignore[attr-defined]
    print("record + drain (sqlite+metrics)", _us(time.process_time() - t, n))
    # records.sqlite: null, stdout off: the drain only feeds metrics.
    metrics_only = RecordWriter(shaper, [], metrics=GatewayMetrics(process=False))
    t = time.process_time()
    for ctx in ctxs:
        metrics_only.record(ctx)
    metrics_only.flush_sync()
    print("record + drain (metrics only) ", _us(time.process_time() - t, n))
    await gateway.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=50_000)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--work", type=Path, default=HERE / "results" / "tmp" / "hotpath", help="keys, tokens, dbs")
    uvloop.run(_run(p.parse_args()))


if __name__ == "__main__":
    main()
