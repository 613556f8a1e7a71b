"""Circuit breaker per store: fail fast after consecutive store failures, probe once, recover.

closed ──N consecutive failures──▶ open ──reset seconds──▶ half_open (one probe in flight)
  ▲                                  ▲                          │
  └────────── probe succeeds ────────┼──── probe fails ◀────────┘
Only store failures count; "not found" is a successful answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from subwarden.clock import Clock
from subwarden.errors import StoreCircuitOpen

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class CircuitBreaker:
    __slots__ = ("_clock", "_opened_at", "_probing", "failures", "opens", "rejected", "reset", "state", "threshold")

    def __init__(self, threshold: int, reset: float, clock: Clock) -> None:
        self.threshold = threshold
        self.reset = reset
        self._clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opens = 0
        self.rejected = 0
        self._opened_at = 0.0
        self._probing = False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` unless the circuit is open; record its outcome."""
        self.admit()
        try:
            result = await operation()
        except (asyncio.CancelledError, Exception) as exc:
            self.ended(exc)
            raise
        self.ended(None)
        return result

    # The steps of ``call``, for a caller that awaits its operation itself (one coroutine less per query).
    def admit(self) -> None:
        """Raise ``StoreCircuitOpen`` unless a query may go out now (closed, or the half-open probe)."""
        if self.state == CLOSED:
            return
        waited = self._clock.monotonic() - self._opened_at
        if self.state == OPEN and waited >= self.reset:
            self.state = HALF_OPEN
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return
        self.rejected += 1
        raise StoreCircuitOpen(
            "circuit open",
            consecutive_failures=self.failures,
            open_for=round(waited, 3),
            probe_in=round(max(self.reset - waited, 0.0), 3),
        )

    def ended(self, error: BaseException | None) -> None:
        """Record how an admitted query ended: ``None`` answered (found or not found); a cancel by its
        caller is no outcome (the next call may probe); any other exception (store errors and anything
        else a backend let through) is a failure."""
        if error is None:
            self._succeeded()
        elif isinstance(error, asyncio.CancelledError):
            self._probing = False
        else:
            self._failed()

    def _failed(self) -> None:
        self._probing = False
        self.failures += 1
        if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.threshold):
            self.state = OPEN
            self.opens += 1
            self._opened_at = self._clock.monotonic()

    def _succeeded(self) -> None:
        self._probing = False
        self.failures = 0
        self.state = CLOSED

    def stats(self) -> dict[str, float]:
        return {
            "store_breaker_state": STATE_VALUES[self.state],
            "store_breaker_consecutive_failures": self.failures,
            "store_breaker_opens": self.opens,
            "store_breaker_rejected": self.rejected,
        }
