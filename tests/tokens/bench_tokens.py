"""Micro-benchmark (not a test): token stages on a verified-cache hit, and a full RS256 verification.

Run: .venv/bin/python tests/tokens/bench_tokens.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tokens_kit import bearer, claims, make_config, sign

from subwarden.clock import FrozenClock
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.stage import Pipeline
from subwarden.tokens.build import build_tokens
from subwarden.tokens.compact import parse_compact


def per_op_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main() -> None:
    clock = FrozenClock()
    token = sign(claims(clock))
    headers = bearer(token)
    cached = build_tokens(make_config(), clock)
    uncached = build_tokens(make_config(tokens={"verified_cache_size": 0}), clock)
    stages = cached.stages
    pipeline = Pipeline(stages)

    def new_ctx() -> RequestContext:
        return RequestContext("GET", "/", headers)

    def three_stages() -> None:
        ctx = new_ctx()
        for stage in stages:
            stage.run(ctx)

    def through_pipeline() -> None:
        pipeline.admit(new_ctx())

    def full_verify() -> None:
        ctx = new_ctx()
        for stage in uncached.stages:
            stage.run(ctx)

    three_stages()
    assert new_ctx() is not None
    base = per_op_us(new_ctx, 100_000)
    print(f"RequestContext() alone:                      {base:6.2f} µs/op")
    print(f"cache hit, 3 stages (minus ctx creation):    {per_op_us(three_stages, 100_000) - base:6.2f} µs/op")
    print(f"cache hit, Pipeline.admit (minus ctx):       {per_op_us(through_pipeline, 100_000) - base:6.2f} µs/op")
    print(f"strict parse_compact only:                   {per_op_us(lambda: parse_compact(token), 20_000):6.2f} µs/op")
    print(f"RS256 full verify, no cache (minus ctx):     {per_op_us(full_verify, 3_000) - base:6.2f} µs/op")


if __name__ == "__main__":
    main()
