"""Injected time sources: wall clock for claims, monotonic clock for TTLs and timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (for exp/nbf/iat)."""

    def monotonic(self) -> float:
        """Monotonic seconds (for TTLs, cooldowns, breakers)."""


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FrozenClock:
    """A clock tests move by hand."""

    __slots__ = ("_mono", "_now")

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self._now = now
        self._mono = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds


SYSTEM_CLOCK = SystemClock()


def wall_reader(clock: Clock) -> Callable[[], float]:
    """``clock.now``; ``time.time`` itself for the system clock, so a compiled caller makes a C call, not a
    Python method call (~1.2k instructions) per read."""
    return time.time if type(clock) is SystemClock else clock.now


def monotonic_reader(clock: Clock) -> Callable[[], float]:
    """``clock.monotonic``; ``time.monotonic`` itself for the system clock (see ``wall_reader``)."""
    return time.monotonic if type(clock) is SystemClock else clock.monotonic
