"""Clocks for the real-time driver: the wall clock live, a simulated one in tests and replays."""

from __future__ import annotations

import time
from typing import Protocol

from ticklane.core.errors import BadDataError


class Clock(Protocol):
    """Tells the current time in UTC nanoseconds."""

    def now_ns(self) -> int: ...


class WallClock:
    """The system clock."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()


class SimulatedClock:
    """A clock that moves only when told to; it never goes backwards."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set_time(self, ts_ns: int) -> None:
        """Move the clock to ``ts_ns``, which must not be before the current time."""
        if ts_ns < self._now:
            raise BadDataError(
                f"clock: {ts_ns} is before the current time {self._now}", field="ts_ns", value=ts_ns
            )
        self._now = ts_ns

    def advance(self, delta_ns: int) -> None:
        """Move the clock ``delta_ns`` (>= 0) forward."""
        self.set_time(self._now + delta_ns)
