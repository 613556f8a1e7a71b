"""Store-call time budgets share one timer per (loop, timeout): an overrun is cancelled at its deadline,
a call that finished in time is never cancelled later, and finished budgets do not pile up."""

from __future__ import annotations

import asyncio

import pytest

from subwarden.errors import StoreTimeout
from subwarden.identity.stores import postgres
from subwarden.identity.stores._deadlines import BudgetSpent, deadlines, within
from subwarden.identity.stores._failures import guarded


async def test_only_the_call_that_overran_is_cancelled_and_each_at_its_own_deadline() -> None:
    loop = asyncio.get_running_loop()

    async def call(delay: float) -> float:
        started = loop.time()
        try:
            await guarded(postgres.FAILURES, 0.2, asyncio.sleep(delay))
        except StoreTimeout:
            return loop.time() - started
        return -1.0

    async def later(delay: float, start_after: float) -> float:
        await asyncio.sleep(start_after)
        return await call(delay)

    # Started 0.1 s apart: the second overrun must end ~0.2 s after its own start, not the first's.
    quick, slow, slower = await asyncio.gather(call(0.01), later(5.0, 0.0), later(5.0, 0.1))
    assert quick == -1.0
    assert 0.19 <= slow < 0.35
    assert 0.19 <= slower < 0.35


async def test_a_task_that_finished_its_call_in_time_is_not_cancelled_when_the_deadline_passes() -> None:
    await guarded(postgres.FAILURES, 0.05, asyncio.sleep(0))
    await asyncio.sleep(0.15)  # past the deadline of the finished call, in the same task: must not raise


async def test_finished_budgets_are_dropped_as_new_calls_start() -> None:
    for _ in range(1000):
        await guarded(postgres.FAILURES, 30.0, asyncio.sleep(0))
    assert len(deadlines(30.0)) <= 1


async def test_two_timeouts_in_one_loop_keep_their_own_deadlines() -> None:
    with pytest.raises(StoreTimeout):
        await asyncio.gather(
            guarded(postgres.FAILURES, 10.0, asyncio.sleep(0.1)),
            guarded(postgres.FAILURES, 0.05, asyncio.sleep(5.0)),
        )
    # The 10 s budget's call ended normally (its task was not cancelled by the 0.05 s timer).
    assert await guarded(postgres.FAILURES, 10.0, asyncio.sleep(0.1, result="ok")) == "ok"


async def test_nested_budgets_that_expire_together_cancel_the_task_once() -> None:
    # The resolve stage's budget around the store's own, with the same timeout: both end in one pass.
    with pytest.raises(TimeoutError) as caught:
        await within(0.05, guarded(postgres.FAILURES, 0.05, asyncio.sleep(5.0)))
    assert isinstance(caught.value, BudgetSpent)  # the outer budget, the first to expire, answers
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # no second CancelledError left pending


async def test_a_task_cancelled_by_its_caller_is_not_reported_as_a_spent_budget() -> None:
    async def slow() -> None:
        await within(0.05, asyncio.sleep(5.0))

    task = asyncio.ensure_future(slow())
    await asyncio.sleep(0.049)
    task.cancel()  # the caller's cancel, at about the deadline
    with pytest.raises(asyncio.CancelledError):
        await task
