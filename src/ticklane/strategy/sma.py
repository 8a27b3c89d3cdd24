"""Built-in strategy ``sma``: simple-moving-average crossover on bar closes."""

from __future__ import annotations

from ticklane.bars.events import BarData
from ticklane.core.errors import BadDataError
from ticklane.strategy.base import BAR_TYPE_PARAMETER, SIZE_PARAMETERS, BarCloseStrategy, Parameter
from ticklane.strategy.indicators import (
    CROSSED_ABOVE,
    CROSSED_BELOW,
    Crossover,
    SimpleMovingAverage,
)
from ticklane.strategy.signal import HOLD, Signal


class SmaCrossover(BarCloseStrategy):
    """Buys when the short SMA of bar closes crosses above the long SMA; sells on the reverse.

    Parameters (defaults in brackets):

    - ``short_period`` (10, >= 1): bars in the short moving average.
    - ``long_period`` (30, >= 2): bars in the long moving average; must exceed ``short_period``.
    - ``bar_type`` ("1m"): the bars to run on, "1m" .. "1w" or "N-tick".
    - ``quantity`` (unset) / ``equity_fraction`` (1): order size, see ``SIZE_PARAMETERS``.

    A cross is a change of sign of ``short - long`` between consecutive bar closes (an exact
    tie is no side: see ``Crossover``); the signal comes on the close where the new side is
    first seen. Nothing is signalled until the long SMA is full, and the first full bar only
    establishes the side. The strategy does not track a position: it signals every cross and
    the engine decides what a SELL means when nothing is held.

    Only bar-close events count (``ON_CLOSE_BAR``); synthetic bars (no trades in the interval,
    close = last price) update the averages like any other bar, as a chart would show them.
    """

    name = "sma"
    description = "SMA crossover: buy when the short average crosses above the long one."
    parameters = (
        Parameter("short_period", "int", 10, "Bars in the short moving average.", minimum=1),
        Parameter("long_period", "int", 30, "Bars in the long moving average.", minimum=2),
        BAR_TYPE_PARAMETER,
        *SIZE_PARAMETERS,
    )

    _short: SimpleMovingAverage
    _long: SimpleMovingAverage
    _cross: Crossover

    def setup(self) -> None:
        short, long = self.params["short_period"], self.params["long_period"]
        if short >= long:
            raise BadDataError(
                f"strategy sma: short_period ({short}) must be less than long_period ({long})",
                field="short_period",
                value=short,
            )
        self._short = SimpleMovingAverage(short)
        self._long = SimpleMovingAverage(long)
        self._cross = Crossover()

    def reset(self) -> None:
        self._short.reset()
        self._long.reset()
        self._cross.reset()

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if not bar_data.metadata.is_bar_closed:
            return HOLD
        close = bar_data.close
        short = self._short.update(close)
        long = self._long.update(close)
        if short is None or long is None:
            return HOLD
        cross = self._cross.update(short - long)
        if cross == CROSSED_ABOVE:
            return self.buy("short SMA crossed above")
        if cross == CROSSED_BELOW:
            return self.sell("short SMA crossed below")
        return HOLD
