"""Built-in strategy ``rsi``: buy oversold, sell overbought, on bar closes."""

from __future__ import annotations

from ticklane.bars.events import BarData
from ticklane.core.errors import BadDataError
from ticklane.strategy.base import BAR_TYPE_PARAMETER, SIZE_PARAMETERS, BarCloseStrategy, Parameter
from ticklane.strategy.indicators import RSI
from ticklane.strategy.signal import HOLD, Signal


class RsiStrategy(BarCloseStrategy):
    """Buys when Wilder's RSI of bar closes is below ``oversold``, sells when above ``overbought``.

    Parameters (defaults in brackets):

    - ``period`` (14, >= 1): bars in the RSI (ready after ``period + 1`` closes).
    - ``oversold`` (30) and ``overbought`` (70): levels with 0 < oversold < overbought < 100.
    - ``bar_type`` ("1m"): the bars to run on, "1m" .. "1w" or "N-tick".
    - ``quantity`` (unset) / ``equity_fraction`` (1): order size, see ``SIZE_PARAMETERS``.

    Rules on each bar close, with a flag for "a BUY was signalled and not yet closed by a
    SELL" (the strategy's own view; it starts flat and is cleared by ``reset``):

    - RSI < ``oversold`` and flat: BUY, now long. While still oversold, no further BUYs.
    - RSI > ``overbought`` and long: SELL, now flat. It never SELLs without an earlier BUY.

    Only bar-close events count (``ON_CLOSE_BAR``); synthetic bars (no trades in the interval,
    close = last price) update the RSI like any other bar, as a chart would show them.
    """

    name = "rsi"
    description = "RSI levels: buy when oversold, sell when overbought."
    parameters = (
        Parameter("period", "int", 14, "Bars in the RSI (Wilder's smoothing).", minimum=1),
        Parameter("oversold", "float", 30.0, "Buy below this RSI.", minimum=0, maximum=100),
        Parameter("overbought", "float", 70.0, "Sell above this RSI.", minimum=0, maximum=100),
        BAR_TYPE_PARAMETER,
        *SIZE_PARAMETERS,
    )

    _rsi: RSI
    _oversold: float
    _overbought: float
    _long: bool

    def setup(self) -> None:
        oversold, overbought = self.params["oversold"], self.params["overbought"]
        if not 0 < oversold < overbought < 100:
            raise BadDataError(
                f"strategy rsi: need 0 < oversold ({oversold:g}) < overbought "
                f"({overbought:g}) < 100",
                field="oversold",
                value=oversold,
            )
        self._oversold, self._overbought = float(oversold), float(overbought)
        self._rsi = RSI(self.params["period"])
        self._long = False

    def reset(self) -> None:
        self._rsi.reset()
        self._long = False

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if not bar_data.metadata.is_bar_closed:
            return HOLD
        self._rsi.update(bar_data.close)
        rsi = self._rsi.value
        if rsi is None:
            return HOLD
        if not self._long and rsi < self._oversold:
            self._long = True
            return self.buy("oversold")
        if self._long and rsi > self._overbought:
            self._long = False
            return self.sell("overbought")
        return HOLD
