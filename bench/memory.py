"""Memory per cached user: fill subwarden's UserCache with N users in a fresh process, measure RSS and tracemalloc.

Run as a script (``python memory.py N rss|tracemalloc``) it prints one JSON line; ``measure`` runs both.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ISSUER = "bench"
ATTRIBUTE = "user_id"


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _record_factory() -> Any:
    """Build records the way the SQLite store does (its row mapper) so store-side savings show up here."""
    from subwarden.config.models import StoreConfig
    from subwarden.identity.stores.sqlite_sql import RowMapper

    mapper = RowMapper(StoreConfig(url="sqlite:///bench.db", attributes={"email": "email"}), "sqlite")

    def make(i: int) -> Any:
        # Fresh strings per row, as sqlite3 returns them; the searched value is a second copy of the id.
        uid = f"user-{i:07d}"
        row = {"user_id": uid, "status": "active", "roles": "reader,writer", "email": f"{uid}@bench.example"}
        return mapper.user(row, f"user-{i:07d}")
    return make


async def _fill(count: int) -> Any:
    from subwarden.clock import SystemClock
    from subwarden.config.models import CacheConfig
    from subwarden.identity.cache import UserCache

    cache = UserCache(CacheConfig(max_entries=count + 1, positive_ttl=3600), SystemClock())
    make = _record_factory()

    def loader_for(i: int) -> Any:
        async def load() -> list[Any]:
            return [make(i)]
        return load

    for i in range(count):
        # The key's subject is the token's sub claim: its own string, not the record's.
        await cache.load((ISSUER, ATTRIBUTE, f"user-{i:07d}"), loader_for(i))
    return cache


def _measure_once(count: int, mode: str) -> dict[str, Any]:
    import subwarden.identity.cache  # noqa: F401  (import cost is not the cache's)

    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else _rss_bytes()
    started = time.monotonic()
    cache = asyncio.run(_fill(count))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else _rss_bytes()
    assert len(cache) == count
    used = after - before
    result = {"mode": mode, "users": count, "bytes": used, "bytes_per_user": round(used / count, 1),
              "fill_seconds": round(time.monotonic() - started, 2)}
    if mode == "tracemalloc":
        result["top_sites"] = _top_sites(count)
    return result


def _top_sites(count: int, limit: int = 6) -> list[dict[str, Any]]:
    """Where the cached bytes were allocated (file:line), per user."""
    stats = tracemalloc.take_snapshot().statistics("lineno")[:limit]
    return [{"site": f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}",
             "bytes_per_user": round(s.size / count, 1)} for s in stats]


def measure(rss_users: int, traced_users: int) -> dict[str, Any]:
    """RSS growth for ``rss_users`` and a tracemalloc breakdown for ``traced_users`` (tracing is ~5x slower),
    each in its own interpreter so nothing else is on the heap."""
    results: dict[str, Any] = {"users": rss_users}
    for mode, count in (("rss", rss_users), ("tracemalloc", traced_users)):
        out = subprocess.run([sys.executable, __file__, str(count), mode], capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            results[mode] = {"error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    print(json.dumps(_measure_once(int(sys.argv[1]), sys.argv[2])))
