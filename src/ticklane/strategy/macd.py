"""Built-in strategy ``macd``: MACD line / signal line crossover on bar closes."""

from __future__ import annotations

from ticklane.bars.events import BarData
from ticklane.core.errors import BadDataError
from ticklane.strategy.base import BAR_TYPE_PARAMETER, SIZE_PARAMETERS, BarCloseStrategy, Parameter
from ticklane.strategy.indicators import CROSSED_ABOVE, CROSSED_BELOW, MACD, Crossover
from ticklane.strategy.signal import HOLD, Signal


class MacdCrossover(BarCloseStrategy):
    """Buys when the MACD line crosses above its signal line; sells on the reverse.

    Parameters (defaults in brackets):

    - ``fast_period`` (12, >= 1) and ``slow_period`` (26, >= 2): the two EMAs of bar closes
      whose difference is the MACD line; fast must be shorter than slow.
    - ``signal_period`` (9, >= 1): the EMA of the MACD line that is the signal line.
    - ``bar_type`` ("1m"): the bars to run on, "1m" .. "1w" or "N-tick".
    - ``quantity`` (unset) / ``equity_fraction`` (1): order size, see ``SIZE_PARAMETERS``.

    A cross is a change of sign of ``macd - signal`` between consecutive bar closes (an exact
    tie is no side: see ``Crossover``), signalled on the close where the new side is first
    seen; the first bar with a signal line only establishes the side. EMA seeding is described
    in ``indicators``. No position is tracked: every cross is signalled.

    Only bar-close events count (``ON_CLOSE_BAR``); synthetic bars (no trades in the interval,
    close = last price) update the EMAs like any other bar, as a chart would show them.
    """

    name = "macd"
    description = "MACD crossover: buy when the MACD line crosses above its signal line."
    parameters = (
        Parameter("fast_period", "int", 12, "Bars in the fast EMA.", minimum=1),
        Parameter("slow_period", "int", 26, "Bars in the slow EMA.", minimum=2),
        Parameter("signal_period", "int", 9, "Bars in the signal-line EMA.", minimum=1),
        BAR_TYPE_PARAMETER,
        *SIZE_PARAMETERS,
    )

    _macd: MACD
    _cross: Crossover

    def setup(self) -> None:
        fast, slow = self.params["fast_period"], self.params["slow_period"]
        if fast >= slow:
            raise BadDataError(
                f"strategy macd: fast_period ({fast}) must be less than slow_period ({slow})",
                field="fast_period",
                value=fast,
            )
        self._macd = MACD(fast, slow, self.params["signal_period"])
        self._cross = Crossover()

    def reset(self) -> None:
        self._macd.reset()
        self._cross.reset()

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if not bar_data.metadata.is_bar_closed:
            return HOLD
        macd = self._macd
        macd.update(bar_data.close)
        histogram = macd.histogram
        if histogram is None:
            return HOLD
        cross = self._cross.update(histogram)
        if cross == CROSSED_ABOVE:
            return self.buy("MACD crossed above signal")
        if cross == CROSSED_BELOW:
            return self.sell("MACD crossed below signal")
        return HOLD
