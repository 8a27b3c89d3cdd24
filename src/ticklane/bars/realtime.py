"""The real-time driver: live trades one by one, and a clock checked every second.

The driver adds nothing to the aggregator's rules: a trade goes to ``on_trade`` and a clock
check to ``advance_to``. A bar therefore closes at the first clock check at or after its close
time (or on the first later trade, if one comes first), and a live session gives the same
events as the historical driver over the same ticks, once its clock reaches the range end.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from ticklane.bars.aggregator import BarAggregator
from ticklane.bars.clock import Clock, SimulatedClock
from ticklane.core.columnar import TradeArray
from ticklane.core.errors import BadDataError
from ticklane.core.time import NANOS_PER_SECOND

CHECK_INTERVAL_NS: Final = NANOS_PER_SECOND


class RealtimeDriver:
    """Drives an aggregator from live trades and a clock.

    Options:

    - ``aggregator``: the ``BarAggregator`` to drive (the same class backtests use).
    - ``clock``: where ``check_clock`` reads the time (``WallClock`` live, ``SimulatedClock``
      in tests and replays).
    """

    __slots__ = ("_aggregator", "_clock")

    def __init__(self, aggregator: BarAggregator, clock: Clock) -> None:
        self._aggregator = aggregator
        self._clock = clock

    @property
    def aggregator(self) -> BarAggregator:
        return self._aggregator

    def on_trade(
        self, ts_event: int, price_raw: int, quantity_raw: int, side: int, trade_id: int
    ) -> None:
        """A live trade (scaled integers of ``core.fixed``)."""
        self._aggregator.on_trade(ts_event, price_raw, quantity_raw, side, trade_id)

    def on_clock(self, now_ns: int) -> None:
        """Time has reached ``now_ns``: close the bars it has passed."""
        self._aggregator.advance_to(now_ns)

    def check_clock(self) -> None:
        """Read the clock and act on it (``on_clock``)."""
        self.on_clock(self._clock.now_ns())

    async def run_clock(self, stop: asyncio.Event, interval_ns: int = CHECK_INTERVAL_NS) -> None:
        """Check the clock now and every ``interval_ns`` until ``stop`` is set.

        The caller owns the task running this (and logs its failure); trades keep arriving
        through ``on_trade`` on the same event loop, so the two never interleave mid-call.
        """
        if interval_ns <= 0:
            raise BadDataError(
                f"clock interval {interval_ns} ns is not positive", field="interval_ns"
            )
        timeout = interval_ns / NANOS_PER_SECOND  # asyncio's unit, at the edge only
        while True:
            self.check_clock()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancel
                    await stop.wait()


def replay_as_live(
    driver: RealtimeDriver,
    clock: SimulatedClock,
    data: TradeArray,
    end_ns: int,
    step_ns: int = CHECK_INTERVAL_NS,
) -> None:
    """Replay trades the way a live session would see them, then run the clock to ``end_ns``.

    ``clock`` steps ``step_ns`` at a time from where it stands, with a clock check after each
    step; the trades (a ``TRADE_DTYPE`` array, ascending) are delivered between the checks, so
    no check is later than a trade still to come. The last step stops exactly at ``end_ns``.
    """
    if step_ns <= 0:
        raise BadDataError(f"clock step {step_ns} ns is not positive", field="step_ns")
    now = clock.now_ns()
    for ts, trade_id, price, quantity, side, _maker in data.tolist():
        while now + step_ns <= ts:
            now += step_ns
            clock.set_time(now)
            driver.check_clock()
        driver.on_trade(ts, price, quantity, side, trade_id)
    while now < end_ns:
        now = min(now + step_ns, end_ns)
        clock.set_time(now)
        driver.check_clock()
