"""Time budgets for store calls: one event-loop timer per (loop, timeout), not one per call.

A uvloop timer set and cancelled per lookup cost ~3-4 µs of CPU, ~7 % of a cold PostgreSQL lookup.
Calls with the same timeout end in the order they start, so their deadlines sit in a FIFO already in
order; one timer, armed at the oldest open deadline, cancels the tasks that overran (exactly at their
deadline) and re-arms for the next. ``start_budget`` takes one for the running task (the stores'
``guarded`` does, inline); ``within`` is the budget as a call (the resolve stage's, around a store that
keeps no budget of its own). Finished budgets are dropped from the front as new ones arrive, so the
queue holds about the calls in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Final, TypeVar

T = TypeVar("T")


class BudgetSpent(TimeoutError):
    """``within``'s budget ran out (a ``TimeoutError``, as ``asyncio.timeout`` raises)."""


class Budget:
    """One call's deadline; ``expired`` once the timer cancelled its task."""

    __slots__ = ("deadline", "done", "expired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[object]) -> None:
        self.deadline = deadline
        self.task = task
        self.done = False
        self.expired = False

    def spent(self) -> bool:
        """On the ``CancelledError`` of its call: True (and the task uncancelled) if this budget's timer
        cancelled it, False if the cancel came from elsewhere and must propagate."""
        if not self.expired:
            return False
        self.task.uncancel()
        return True


class Deadlines:
    """The budgets of one event loop with one timeout."""

    __slots__ = ("_loop", "_queue", "_timeout", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._queue: deque[Budget] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, task: asyncio.Task[object]) -> Budget:
        """A budget for ``task`` from now; the caller sets ``done`` when its call ends, however it ends."""
        queue = self._queue
        while queue and queue[0].done:
            queue.popleft()
        budget = Budget(self._loop.time() + self._timeout, task)
        queue.append(budget)
        if self._timer is None:
            self._timer = self._loop.call_at(budget.deadline, self._expire)
        return budget

    def _expire(self) -> None:
        self._timer = None
        queue, now = self._queue, self._loop.time()
        while queue and (queue[0].done or queue[0].deadline <= now):
            budget = queue.popleft()
            if not budget.done:
                budget.done = True
                # A task already being cancelled (by an enclosing budget that expired in the same pass, or
                # by its caller) is not cancelled twice: one CancelledError, raised where it was asked for.
                if not budget.task.cancelling():
                    budget.expired = True
                    budget.task.cancel()
        if queue:
            self._timer = self._loop.call_at(queue[0].deadline, self._expire)

    def __len__(self) -> int:
        return len(self._queue)


#: Per event loop (a worker has one; tests start many), per timeout.
_BY_LOOP: Final[dict[tuple[asyncio.AbstractEventLoop, float], Deadlines]] = {}


def deadlines(timeout: float) -> Deadlines:
    """The running loop's budgets for ``timeout``."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get((loop, timeout))
    if found is None:
        for key in [key for key in _BY_LOOP if key[0].is_closed()]:  # loops of finished tests
            del _BY_LOOP[key]
        found = _BY_LOOP[(loop, timeout)] = Deadlines(loop, timeout)
    return found


def start_budget(timeout: float) -> Budget:
    """A budget of ``timeout`` seconds for the running task, from now. The caller sets ``done`` when its
    call ends, however it ends, and asks ``spent()`` on a ``CancelledError``."""
    task = asyncio.current_task()
    assert task is not None
    return deadlines(timeout).start(task)


async def within(timeout: float, work: Awaitable[T]) -> T:
    """Await ``work`` for at most ``timeout`` seconds (the running task is cancelled when the budget is
    spent); ``BudgetSpent`` then, anything else ``work`` raises as it is. ``asyncio.timeout`` without a
    timer per call."""
    budget = start_budget(timeout)
    try:
        return await work
    except asyncio.CancelledError:
        if not budget.spent():
            raise
        raise BudgetSpent from None
    finally:
        budget.done = True
