"""Measurements for the report (not a test): memory per cached user, SQLite lookup latency, hit-path cost.

Run: .venv/bin/python tests/identity/measure_identity.py [users]
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from identity_support import make_config, make_ctx, make_users_db

from subwarden.clock import SYSTEM_CLOCK
from subwarden.config.models import CacheConfig, StoreConfig
from subwarden.identity.build import build_identity
from subwarden.identity.cache import UserCache
from subwarden.identity.stores.sqlite import SqliteStore
from subwarden.identity.stores.sqlite_sql import RowMapper
from subwarden.pipeline.stage import Pipeline


def memory_per_user(count: int, with_email: bool) -> float:
    config = StoreConfig(url="sqlite:///x.db", attributes={"email": "email"} if with_email else {})
    rows = RowMapper(config, "sqlite:///x.db")
    cache = UserCache(CacheConfig(max_entries=count), SYSTEM_CLOCK)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        user_id = f"user-{i:09d}"
        row = {"user_id": user_id, "status": "active", "roles": "user,admin" if i % 7 else "user",
               "email": f"{user_id}@example.com"}
        key = ("idp", "user_id", "".join(["user-", f"{i:09d}"]))  # the token's string, not the row's
        cache._store(key, [rows.user(row, row["user_id"])])
        del row
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(cache) == count
    return used / count


async def sqlite_latency(users: int = 10_000, lookups: int = 3000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(f"user-{i}", f"user-{i}@example.com", "active", None, "user", None, None) for i in range(users)]
        db = make_users_db(Path(tmp) / "users.db", rows)
        store = SqliteStore(StoreConfig(url=f"sqlite:///{db}", lookup={"user_id": "user_id"}))
        await store.lookup("user_id", "user-0")
        samples = []
        for i in range(lookups):
            t0 = time.perf_counter_ns()
            await store.lookup("user_id", f"user-{i % users}")
            samples.append((time.perf_counter_ns() - t0) / 1000)
        t0 = time.perf_counter()
        for start in range(0, lookups, 64):
            await asyncio.gather(*(store.lookup("user_id", f"user-{(start + j) % users}") for j in range(64)))
        concurrent_rate = lookups / (time.perf_counter() - t0)
        await store.close()
    samples.sort()
    return {
        "p50_us": statistics.median(samples),
        "p99_us": samples[int(len(samples) * 0.99)],
        "sequential_per_s": 1e6 / statistics.mean(samples),
        "concurrent64_per_s": concurrent_rate,
    }


async def hit_path_ns(rounds: int = 100_000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = make_users_db(Path(tmp) / "users.db")
        config = make_config(db, auth={"required_roles": ["user"]})
        runtime = build_identity(config, SYSTEM_CLOCK)
        pipeline = Pipeline(runtime.stages)
        claims = {"sub": "alice", "jti": "j", "iat": int(time.time())}
        pending = pipeline.admit(make_ctx(config, claims))
        if pending is not None:
            await pending
        contexts = [make_ctx(config, claims) for _ in range(rounds)]
        t0 = time.perf_counter_ns()
        for ctx in contexts:
            assert pipeline.admit(ctx) is None
        elapsed = time.perf_counter_ns() - t0
        assert contexts[-1].error is None and contexts[-1].cache_state == "hit"
        await runtime.close()
    return elapsed / rounds


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"memory per cached user ({count:,} users, id+status+roles+email): {memory_per_user(count, True):.0f} B")
    print(f"memory per cached user ({count:,} users, id+status+roles): {memory_per_user(count, False):.0f} B")
    print("sqlite lookup (10k users):", {k: round(v, 1) for k, v in asyncio.run(sqlite_latency()).items()})
    print(f"identity stages on a cache hit (map..enrich): {asyncio.run(hit_path_ns()):.0f} ns/request")


if __name__ == "__main__":
    main()
