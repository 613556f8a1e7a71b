"""Cold-path store benchmark: the store calls the resolve stage makes for an uncached user
(``PostgresStore.fetch(build_query(...))``), for distinct users, vs asyncpg's raw
single-row ``fetchrow`` of the same query, in the same run, same pool size and concurrency.

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

from subwarden.config.models import StoreConfig
from subwarden.identity.stores.postgres import PostgresStore

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
        ids = [f"user-{i:07d}" for i in range(args.users)]
        chunk = args.users // (2 * args.rounds)
        raw_rates, store_rates = [], []
        # Short interleaved rounds, each on ids the other side never touched: load drift on a
        # shared machine hits both sides alike, and the ratio is taken per pair of rounds.
        for round_ in range(args.rounds):
            start = 2 * round_ * chunk
            first, second = ids[start:start + chunk], ids[start + chunk:start + 2 * chunk]
            raw_ids, store_ids = (first, second) if round_ % 2 == 0 else (second, first)
            raw_rates.append(await drive(lambda v: pool.fetchrow(text, v), raw_ids, args.concurrency))
            store_rates.append(await drive(lambda v: store.fetch(store.build_query("user_id", v)), store_ids,
                                             args.concurrency))
        ratios = [s / r for s, r in zip(store_rates, raw_rates, strict=True)]
        print(f"users={args.users} concurrency={args.concurrency} pool={args.pool} rounds={args.rounds}x{chunk}")
        print(f"asyncpg fetchrow      : {statistics.median(raw_rates):9.0f} lookups/s (median)")
        print(f"PostgresStore.fetch   : {statistics.median(store_rates):9.0f} lookups/s (median)")
        print(f"ratio per round       : {' '.join(f'{r:.0%}' for r in ratios)}")
        print(f"ratio (median)        : {statistics.median(ratios):9.1%}  (target >= 70%)")
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
