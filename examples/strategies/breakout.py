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

This one derives from ``BarCloseStrategy``, which gives it what every built-in has: calls on
bar closes only, the ``bar_type`` parameter, order sizing by ``quantity`` or
``equity_fraction``, and ``self.buy()`` / ``self.sell()`` of that size. Derive from
``Strategy`` directly to be called on every tick (``bar_data_mode``) or to size each order.
"""

from __future__ import annotations

from collections import deque

from ticklane.bars.events import BarData
from ticklane.strategy.base import BAR_TYPE_PARAMETER, SIZE_PARAMETERS, BarCloseStrategy, Parameter
from ticklane.strategy.signal import HOLD, Signal


class ChannelBreakout(BarCloseStrategy):
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
        BAR_TYPE_PARAMETER,
        *SIZE_PARAMETERS,
    )

    # Set in setup, which runs on every initialize(params).
    _highs: deque[float]
    _lows: deque[float]
    _long: bool

    def setup(self) -> None:
        # self.params holds every parameter, validated (defaults where none was given).
        lookback = self.params["lookback"]
        self._highs = deque(maxlen=lookback)
        self._lows = deque(maxlen=lookback)
        self._long = False

    def reset(self) -> None:
        # Called before each run: forget everything seen so far.
        self._highs.clear()
        self._lows.clear()
        self._long = False

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if not bar_data.metadata.is_bar_closed:
            return HOLD
        close = bar_data.close
        signal = HOLD
        if len(self._highs) == self._highs.maxlen:  # the channel is full
            # max/min walk the window: fine once per bar for a modest lookback
            if not self._long and close > max(self._highs):
                self._long = True
                signal = self.buy()
            elif self._long and close < min(self._lows):
                self._long = False
                signal = self.sell()
        # Only now add this bar, so the channel is always the bars before it.
        self._highs.append(bar_data.high)
        self._lows.append(bar_data.low)
        return signal
