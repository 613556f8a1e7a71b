"""Circuit breaker per store: opens after consecutive failures, fails fast, probes once, recovers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

import pytest
from identity_support import WrappedStore, admit, make_config, make_ctx, make_users_db

from subwarden.clock import FrozenClock
from subwarden.errors import StoreCircuitOpen, StoreTimeout, StoreUnavailable
from subwarden.identity.breaker import CircuitBreaker
from subwarden.identity.build import build_identity
from subwarden.identity.stores.base import create_store
from subwarden.pipeline.stage import Pipeline


class Operation:
    def __init__(self) -> None:
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return "ok"


async def trip(breaker: CircuitBreaker, op: Operation, times: int) -> None:
    op.fail = StoreUnavailable("down")
    for _ in range(times):
        with pytest.raises(StoreUnavailable):
            await breaker.call(op)


async def test_opens_after_the_configured_consecutive_failures_and_fails_fast(clock: FrozenClock) -> None:
    breaker, op = CircuitBreaker(3, 10, clock), Operation()
    await trip(breaker, op, 2)
    assert breaker.state == "closed"
    await trip(breaker, op, 1)
    assert breaker.state == "open"
    with pytest.raises(StoreCircuitOpen) as caught:
        await breaker.call(op)
    assert op.calls == 3
    assert caught.value.detail["consecutive_failures"] == 3
    assert breaker.stats()["store_breaker_state"] == 2


async def test_a_success_resets_the_consecutive_failure_count(clock: FrozenClock) -> None:
    breaker, op = CircuitBreaker(3, 10, clock), Operation()
    await trip(breaker, op, 2)
    op.fail = None
    assert await breaker.call(op) == "ok"
    await trip(breaker, op, 2)
    assert breaker.state == "closed"


async def test_timeouts_count_as_failures(clock: FrozenClock) -> None:
    breaker, op = CircuitBreaker(1, 10, clock), Operation()
    op.fail = StoreTimeout("slow")
    with pytest.raises(StoreTimeout):
        await breaker.call(op)
    assert breaker.state == "open"


async def test_after_the_reset_time_one_half_open_probe_runs_while_others_fail_fast(clock: FrozenClock) -> None:
    breaker, op = CircuitBreaker(1, 10, clock), Operation()
    await trip(breaker, op, 1)
    clock.advance(10)
    op.fail, op.gate = None, asyncio.Event()
    probe = asyncio.ensure_future(breaker.call(op))
    await asyncio.sleep(0)
    assert breaker.state == "half_open"
    with pytest.raises(StoreCircuitOpen):
        await breaker.call(op)
    op.gate.set()
    assert await probe == "ok"
    assert breaker.state == "closed"
    assert op.calls == 2


async def test_a_failed_probe_opens_the_circuit_again_for_another_reset_period(clock: FrozenClock) -> None:
    breaker, op = CircuitBreaker(2, 10, clock), Operation()
    await trip(breaker, op, 2)
    clock.advance(10)
    await trip(breaker, op, 1)
    assert breaker.state == "open"
    clock.advance(9)
    with pytest.raises(StoreCircuitOpen):
        await breaker.call(op)
    clock.advance(1)
    op.fail = None
    assert await breaker.call(op) == "ok"
    assert breaker.opens == 2


async def cancel_while_held(probe: Awaitable[object], gate: asyncio.Event) -> None:
    """Start ``probe``, cancel it while it waits at ``gate``, then open the gate."""
    started = asyncio.ensure_future(probe)
    await asyncio.sleep(0)
    started.cancel()
    await asyncio.gather(started, return_exceptions=True)
    gate.set()


async def test_a_cancelled_probe_lets_the_next_call_probe(clock: FrozenClock) -> None:
    breaker, op = CircuitBreaker(1, 10, clock), Operation()
    await trip(breaker, op, 1)
    clock.advance(10)
    op.fail, op.gate = None, asyncio.Event()
    await cancel_while_held(breaker.call(op), op.gate)
    assert await breaker.call(op) == "ok"


async def test_the_resolve_stage_takes_the_breakers_steps_failures_open_it_and_a_cancelled_probe_frees_it(
    users_db: Path, clock: FrozenClock
) -> None:
    config = make_config(users_db, store={"breaker_failures": 2, "breaker_reset": 5})
    store = WrappedStore(create_store(config.identity.store))
    runtime = build_identity(config, clock, store=store)
    resolve, query = runtime.resolve, store.build_query("user_id", "alice")
    try:
        store.fail = StoreUnavailable("down")
        for _ in range(2):
            with pytest.raises(StoreUnavailable):
                await resolve.fetch(query)
        with pytest.raises(StoreCircuitOpen):
            await resolve.fetch(query)
        assert store.fetches == 2 and runtime.breaker.state == "open"
        clock.advance(5)
        store.fail, store.gate = None, asyncio.Event()
        await cancel_while_held(resolve.fetch(query), store.gate)
        assert [u.user_id for u in await resolve.fetch(query)] == ["alice"]
        assert runtime.breaker.state == "closed" and runtime.breaker.failures == 0
    finally:
        await runtime.close()


async def test_user_not_found_does_not_count_and_a_missing_store_file_opens_then_recovers(
    tmp_path: Path, clock: FrozenClock
) -> None:
    db = tmp_path / "users.db"
    config = make_config(db, store={"breaker_failures": 2, "breaker_reset": 5})
    runtime = build_identity(config, clock)
    pipeline = Pipeline(runtime.stages)
    codes = []
    for subject in ["a", "b", "c"]:
        codes.append((await admit(pipeline, make_ctx(config, {"sub": subject}))).error.code)  # type: ignore[union-attr]
    assert codes == ["store_unavailable", "store_unavailable", "store_circuit_open"]
    make_users_db(db)
    for _ in range(3):
        ctx = await admit(pipeline, make_ctx(config, {"sub": "nobody"}))
        assert ctx.error is not None and ctx.error.code == "store_circuit_open"
    clock.advance(5)
    ctx = await admit(pipeline, make_ctx(config, {"sub": "alice"}))
    assert ctx.error is None and ctx.user is not None
    for subject in ["x", "y", "z"]:
        ctx = await admit(pipeline, make_ctx(config, {"sub": subject}))
        assert ctx.error is not None and ctx.error.code == "user_not_found"
    assert runtime.breaker.state == "closed"
    await runtime.close()


async def test_stale_if_error_also_serves_the_last_good_user_while_the_circuit_is_open(
    tmp_path: Path, clock: FrozenClock
) -> None:
    db = make_users_db(tmp_path / "users.db")
    config = make_config(
        db, store={"breaker_failures": 1, "breaker_reset": 60}, cache={"positive_ttl": 5, "stale_if_error": 120}
    )
    runtime = build_identity(config, clock)
    pipeline = Pipeline(runtime.stages)
    assert (await admit(pipeline, make_ctx(config, {"sub": "alice"}))).error is None
    db.unlink()
    clock.advance(10)
    failed = await admit(pipeline, make_ctx(config, {"sub": "bob"}))
    assert failed.error is not None and failed.error.code == "store_unavailable"
    assert runtime.breaker.state == "open"
    ctx = await admit(pipeline, make_ctx(config, {"sub": "alice"}))
    assert ctx.error is None and ctx.cache_state == "stale"
    assert runtime.breaker.rejected == 1
    await runtime.close()
