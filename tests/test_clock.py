"""Clock readers: the system clock's are the C functions themselves; any other clock is read through it."""

from __future__ import annotations

import time

from subwarden.clock import SYSTEM_CLOCK, FrozenClock, SystemClock, monotonic_reader, wall_reader


def test_the_system_clock_is_read_through_time_itself() -> None:
    assert wall_reader(SYSTEM_CLOCK) is time.time
    assert monotonic_reader(SystemClock()) is time.monotonic


def test_another_clock_is_read_through_its_own_methods_and_follows_it() -> None:
    clock = FrozenClock(now=100.0)
    now, mono = wall_reader(clock), monotonic_reader(clock)
    before = mono()
    clock.advance(2.5)
    assert now() == 102.5
    assert mono() == before + 2.5


class _SlowSystemClock(SystemClock):
    """A subclass may change what the system clock answers: it is not taken for the system clock."""

    def now(self) -> float:
        return 7.0

    def monotonic(self) -> float:
        return 8.0


def test_a_subclass_of_the_system_clock_keeps_its_own_answers() -> None:
    clock = _SlowSystemClock()
    assert wall_reader(clock)() == 7.0
    assert monotonic_reader(clock)() == 8.0
