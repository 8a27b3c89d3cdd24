"""Built-in strategy ``bollinger``: mean reversion with Bollinger Bands on bar closes."""

from __future__ import annotations

from ticklane.bars.events import BarData
from ticklane.core.errors import BadDataError
from ticklane.strategy.base import BAR_TYPE_PARAMETER, SIZE_PARAMETERS, BarCloseStrategy, Parameter
from ticklane.strategy.indicators import BollingerBands
from ticklane.strategy.signal import HOLD, Signal


class BollingerReversion(BarCloseStrategy):
    """Buys a close below the lower band and sells when the close is back above the middle band.

    Parameters (defaults in brackets):

    - ``period`` (20, >= 1): bars in the moving mean (the middle band).
    - ``k`` (2.0, > 0): band width in population standard deviations of the closes.
    - ``bar_type`` ("1m"): the bars to run on, "1m" .. "1w" or "N-tick".
    - ``quantity`` (unset) / ``equity_fraction`` (1): order size, see ``SIZE_PARAMETERS``.

    Rules on each bar close, with a flag for "a BUY was signalled and not yet closed by a
    SELL" (the strategy's own view; it starts flat and is cleared by ``reset``); the bands
    include the bar being closed:

    - close < lower band and flat: BUY, now long.
    - close > middle band and long: SELL, now flat. The exit is the middle band (the mean the
      trade bets on returning to), not the upper band. The strategy never goes short.

    Only bar-close events count (``ON_CLOSE_BAR``); synthetic bars (no trades in the interval,
    close = last price) update the bands like any other bar, as a chart would show them.
    """

    name = "bollinger"
    description = "Bollinger mean reversion: buy below the lower band, exit at the middle band."
    parameters = (
        Parameter("period", "int", 20, "Bars in the middle band (moving mean).", minimum=1),
        Parameter("k", "float", 2.0, "Band width in standard deviations (> 0).", minimum=0),
        BAR_TYPE_PARAMETER,
        *SIZE_PARAMETERS,
    )

    _bands: BollingerBands
    _long: bool

    def setup(self) -> None:
        k = self.params["k"]
        if not k > 0:
            raise BadDataError(f"parameter k: {k!r} must be > 0", field="k", value=k)
        self._bands = BollingerBands(self.params["period"], k)
        self._long = False

    def reset(self) -> None:
        self._bands.reset()
        self._long = False

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if not bar_data.metadata.is_bar_closed:
            return HOLD
        close = bar_data.close
        bands = self._bands
        bands.update(close)
        if self._long:
            middle = bands.value
            if middle is not None and close > middle:
                self._long = False
                return self.sell("back above middle")
        else:
            lower = bands.lower
            if lower is not None and close < lower:
                self._long = True
                return self.buy("below lower band")
        return HOLD
