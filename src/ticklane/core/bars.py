"""Timeframes, bar types and OHLC bars, with the bar-boundary rules every part of ticklane uses.

Boundary rules (the SQL bar queries and the bar aggregator follow exactly these):

- A time bar covers the half-open interval ``[open_time, close_time)``: a tick stamped exactly
  on a boundary opens the next bar.
- Bars are aligned to UTC: a bar of width ``w`` opens at ``origin + k * w`` for an integer ``k``.
  The origin is the Unix epoch for 1s to 1d, and Monday 1970-01-05T00:00Z for 1w, so weekly
  bars open on Mondays at 00:00 UTC.
- Open is the first tick's price and close the last tick's, ordered by ``(ts_event, trade_id)``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import Enum
from typing import Final

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MINUTE, NANOS_PER_SECOND

_MONDAY_ORIGIN_NS: Final = 4 * NANOS_PER_DAY  # 1970-01-01 was a Thursday


class Timeframe(Enum):
    """The widths a time bar can have (the reference's eight, and one second, the width of
    Databento's ohlcv-1s bars)."""

    ONE_SECOND = "1s"
    ONE_MINUTE = "1m"
    FIVE_MINUTES = "5m"
    FIFTEEN_MINUTES = "15m"
    THIRTY_MINUTES = "30m"
    ONE_HOUR = "1h"
    FOUR_HOURS = "4h"
    ONE_DAY = "1d"
    ONE_WEEK = "1w"

    @property
    def nanos(self) -> int:
        """The bar's width in nanoseconds."""
        return _WIDTHS[self]

    @property
    def origin_ns(self) -> int:
        """A timestamp on which a bar of this timeframe opens."""
        return _MONDAY_ORIGIN_NS if self is Timeframe.ONE_WEEK else 0

    def bar_open(self, ts_ns: int) -> int:
        """The open time of the bar that contains ``ts_ns``."""
        return self.origin_ns + (ts_ns - self.origin_ns) // self.nanos * self.nanos

    def bar_close(self, ts_ns: int) -> int:
        """The (exclusive) close time of the bar that contains ``ts_ns``."""
        return self.bar_open(ts_ns) + self.nanos

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise BadDataError(
                f"timeframe: {text!r} is not one of {allowed}", field="timeframe", value=text
            ) from None


_WIDTHS: Final = {
    Timeframe.ONE_SECOND: NANOS_PER_SECOND,
    Timeframe.ONE_MINUTE: NANOS_PER_MINUTE,
    Timeframe.FIVE_MINUTES: 5 * NANOS_PER_MINUTE,
    Timeframe.FIFTEEN_MINUTES: 15 * NANOS_PER_MINUTE,
    Timeframe.THIRTY_MINUTES: 30 * NANOS_PER_MINUTE,
    Timeframe.ONE_HOUR: NANOS_PER_HOUR,
    Timeframe.FOUR_HOURS: 4 * NANOS_PER_HOUR,
    Timeframe.ONE_DAY: NANOS_PER_DAY,
    Timeframe.ONE_WEEK: 7 * NANOS_PER_DAY,
}

_TICK_BAR_RE: Final = re.compile(r"^(\d+)-?ticks?$")


class BarType(msgspec.Struct, frozen=True):
    """Either a time bar (``timeframe`` set) or a tick-count bar (``tick_count`` set)."""

    timeframe: Timeframe | None = None
    tick_count: int | None = None

    def __post_init__(self) -> None:
        if (self.timeframe is None) == (self.tick_count is None):
            raise BadDataError("bar type: give exactly one of a timeframe or a tick count")
        if self.tick_count is not None and (
            isinstance(self.tick_count, bool) or self.tick_count < 1
        ):
            raise BadDataError(
                f"bar type: tick count {self.tick_count!r} must be a positive integer",
                field="tick_count",
                value=self.tick_count,
            )

    @classmethod
    def time(cls, timeframe: Timeframe) -> BarType:
        return cls(timeframe=timeframe)

    @classmethod
    def ticks(cls, count: int) -> BarType:
        return cls(tick_count=count)

    @classmethod
    def parse(cls, text: str) -> BarType:
        """``"1m"`` .. ``"1w"`` for time bars, ``"100-tick"`` or ``"100ticks"`` for tick bars."""
        match = _TICK_BAR_RE.match(text.strip().lower())
        if match:
            return cls.ticks(int(match.group(1)))
        return cls.time(Timeframe.parse(text))

    @property
    def is_time_based(self) -> bool:
        return self.timeframe is not None

    def __str__(self) -> str:
        if self.timeframe is not None:
            return self.timeframe.value
        return f"{self.tick_count}-tick"


class Bar(msgspec.Struct, frozen=True):
    """One OHLC bar over ``[open_time, close_time)``; ``is_synthetic`` marks a bar without ticks."""

    exchange: str
    symbol: str
    bar_type: BarType
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    tick_count: int
    is_synthetic: bool = False
