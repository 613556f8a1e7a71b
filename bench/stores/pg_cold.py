"""Cold-path benchmark: the gateway's resolve stage for an uncached user (``ResolveUserStage.run``:
user-cache miss, load coalescing, circuit breaker, per-lookup budget, the store's query and row
mapping, the cache fill), and the store calls alone (``PostgresStore.fetch(build_query(...))``), for
distinct users, vs asyncpg's raw single-row ``fetchrow`` of the same query, in the same run, same pool
size and concurrency. The goal's ratio is the resolve stage's; the store-only ratio is kept beside it.

    .venv/bin/python bench/stores/pg_cold.py [--users 80000] [--concurrency 32] [--rounds 20]

Creates a uniquely named table in the local ``test`` database and drops it afterwards.
Prints lookups/s for both and the ratio (target: store ≥ 70 % of raw).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop

from subwarden.clock import SYSTEM_CLOCK
from subwarden.config.models import CacheConfig, StoreConfig
from subwarden.http.serve import settle_gc
from subwarden.identity.breaker import CircuitBreaker
from subwarden.identity.cache import UserCache
from subwarden.identity.mapping import Candidate
from subwarden.identity.resolve import ResolveUserStage
from subwarden.identity.stores.postgres import PostgresStore
from subwarden.pipeline.context import RequestContext

URL = "postgresql://postgres@127.0.0.1:5432/test"


async def seed(table: str, count: int) -> None:
    conn = await asyncpg.connect(URL)
    try:
        await conn.execute(
            f"CREATE TABLE {table} (user_id text PRIMARY KEY, status text, roles text[], email text,"
            " display_name text)"
        )
        await conn.copy_records_to_table(
            table,
            records=[(f"user-{i:07d}", "active", ["dev"], f"u{i}@example.com", f"User {i}") for i in range(count)],
        )
        await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


async def no_reset(conn: asyncpg.Connection) -> None:
    return None


def resolve_stage(store: PostgresStore, config: StoreConfig) -> Callable[[str], Awaitable[object]]:
    """One cold resolution as a request makes it: a context with the mapping stage's candidate for the
    user id, run through the resolve stage (a fresh cache, so every distinct id misses)."""
    breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset, SYSTEM_CLOCK)
    stage = ResolveUserStage(store, UserCache(CacheConfig(), SYSTEM_CLOCK), breaker, config.timeout)

    async def resolve(user_id: str) -> object:
        ctx = RequestContext("GET", "/", [])
        ctx.candidates = (Candidate(0, "sub", "user_id", "sub→user_id", user_id, user_id, False, "bench"),)
        pending = stage.run(ctx)
        if pending is not None:
            await pending
        if ctx.user is None or ctx.cache_state != "miss":  # a miss that loaded the user, or not a data point
            raise RuntimeError(f"resolve stage did not load {user_id}: {ctx.error!r} ({ctx.cache_state})")
        return ctx.user

    return resolve


async def drive(lookup: Callable[[str], Awaitable[object]], ids: list[str], concurrency: int) -> float:
    """Lookups per second with ``concurrency`` workers sharing the id list (each id once)."""
    queue = iter(ids)

    async def worker() -> None:
        for user_id in queue:
            await lookup(user_id)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(ids) / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    table = f"sw_bench_{secrets.token_hex(4)}"
    await seed(table, args.users)
    config = StoreConfig(url=URL, table=table, lookup={"user_id": "user_id"}, attributes={"email": "email"},
                         pool_size=args.pool, timeout=5.0)
    store = PostgresStore(config)
    text = store.build_query("user_id", "x").text
    # The raw baseline gets the store's one-round-trip release too (asyncpg's default reset
    # query would add a round trip per fetchrow and flatter the store).
    pool = await asyncpg.create_pool(URL, min_size=args.pool, max_size=args.pool, reset=no_reset)
    try:
        await store.lookup("user_id", "warm-up")
        resolve = resolve_stage(store, config)
        ids = [f"user-{i:07d}" for i in range(args.users)]
        chunk = args.users // (3 * args.rounds)
        # The collector as a gateway worker runs it (start-up objects frozen, young ones collected less
        # often): the resolve stage keeps every user it loads, the other two sides keep nothing.
        settle_gc()
        sides: dict[str, Callable[[str], Awaitable[object]]] = {
            "raw": lambda v: pool.fetchrow(text, v),
            "store": lambda v: store.fetch(store.build_query("user_id", v)),
            "stage": resolve,
        }
        rates: dict[str, list[float]] = {name: [] for name in sides}
        # Short interleaved rounds, each side on ids no other side touched (so every lookup is cold): load
        # drift on a shared machine hits all sides alike, and ratios are taken per round. The order of the
        # sides rotates from round to round.
        names = list(sides)
        for round_ in range(args.rounds):
            order = names[round_ % 3:] + names[:round_ % 3]
            for position, name in enumerate(order):
                start = (3 * round_ + position) * chunk
                rates[name].append(await drive(sides[name], ids[start:start + chunk], args.concurrency))
        store_ratios = [s / r for s, r in zip(rates["store"], rates["raw"], strict=True)]
        stage_ratios = [s / r for s, r in zip(rates["stage"], rates["raw"], strict=True)]
        print(f"users={args.users} concurrency={args.concurrency} pool={args.pool} rounds={args.rounds}x{chunk}")
        print(f"asyncpg fetchrow      : {statistics.median(rates['raw']):9.0f} lookups/s (median)")
        print(f"PostgresStore.fetch   : {statistics.median(rates['store']):9.0f} lookups/s (median)")
        print(f"ResolveUserStage.run  : {statistics.median(rates['stage']):9.0f} lookups/s (median)")
        print(f"store ratio per round : {' '.join(f'{r:.0%}' for r in store_ratios)}")
        print(f"store ratio (median)  : {statistics.median(store_ratios):9.1%}")
        print(f"stage ratio per round : {' '.join(f'{r:.0%}' for r in stage_ratios)}")
        print(f"ratio (median)        : {statistics.median(stage_ratios):9.1%}  (resolve stage; target >= 70%)")
    finally:
        await pool.close()
        await store.close()
        conn = await asyncpg.connect(URL)
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=80_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    uvloop.run(main(parser.parse_args()))
