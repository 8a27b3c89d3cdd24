"""Channel breakout: an example user strategy to copy and adapt.

Give the path of this file wherever a strategy name is accepted (``create_strategy`` takes a
built-in's name or a ``.py`` path); its parameters are passed the same way as a built-in's,
e.g. ``{"lookback": 50, "equity_fraction": "0.5"}``. The SHA-256 of the file is recorded with
every result, so a result can always be traced to the exact code that produced it.

What a strategy file needs:

- exactly one ``Strategy`` subclass (or set ``STRATEGY = ClassName`` to pick one of several);
- ``name``, ``description`` and ``parameters`` on the class;
- ``on_bar_data`` returning ``HOLD`` or a ``Signal``; the ``BarData`` it receives is reused
  by the caller, so keep numbers from it, never the object itself.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from ticklane.bars.events import BarData, BarDataMode
from ticklane.core.bars import BarType
from ticklane.strategy.base import SIZE_PARAMETERS, Parameter, Strategy
from ticklane.strategy.signal import HOLD, Signal


class ChannelBreakout(Strategy):
    """Buys a close above the highest high of the previous ``lookback`` bars; sells a close
    below their lowest low.

    Parameters (defaults in brackets):

    - ``lookback`` (20, >= 1): bars in the channel, not counting the bar being closed.
    - ``bar_type`` ("1m"): the bars to run on, "1m" .. "1w" or "N-tick".
    - ``quantity`` (unset) / ``equity_fraction`` (1): order size, see ``SIZE_PARAMETERS``.

    It keeps a flag for "bought and not yet sold", so it buys only when flat and sells only
    when long. Synthetic bars (no trades in the interval) join the channel like any other.
    """

    name = "breakout"
    description = "Channel breakout: buy above the recent high, sell below the recent low."
    parameters = (
        Parameter("lookback", "int", 20, "Bars in the channel.", minimum=1),
        Parameter("bar_type", "bar_type", "1m", "Bars to run on: 1m .. 1w or N-tick."),
        *SIZE_PARAMETERS,
    )

    # Set in on_initialize, which runs on every initialize(params).
    _highs: deque[float]
    _lows: deque[float]
    _long: bool
    _bar_type: BarType
    _quantity: Decimal | None
    _fraction: Decimal | None

    def on_initialize(self) -> None:
        # self.params holds every parameter, validated (defaults where none was given).
        lookback = self.params["lookback"]
        self._highs = deque(maxlen=lookback)
        self._lows = deque(maxlen=lookback)
        self._long = False
        self._bar_type = BarType.parse(str(self.params["bar_type"]))
        self._quantity, self._fraction = self.order_size()

    def reset(self) -> None:
        # Called before each run: forget everything seen so far.
        self._highs.clear()
        self._lows.clear()
        self._long = False

    def bar_data_mode(self) -> BarDataMode:
        return BarDataMode.ON_CLOSE_BAR  # called once per finished bar

    def preferred_bar_type(self) -> BarType:
        return self._bar_type

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if not bar_data.metadata.is_bar_closed:
            return HOLD
        close = bar_data.close
        signal = HOLD
        if len(self._highs) == self._highs.maxlen:  # the channel is full
            # max/min walk the window: fine once per bar for a modest lookback
            if not self._long and close > max(self._highs):
                self._long = True
                signal = Signal.buy(self._quantity, equity_fraction=self._fraction)
            elif self._long and close < min(self._lows):
                self._long = False
                signal = Signal.sell(self._quantity, equity_fraction=self._fraction)
        # Only now add this bar, so the channel is always the bars before it.
        self._highs.append(bar_data.high)
        self._lows.append(bar_data.low)
        return signal
