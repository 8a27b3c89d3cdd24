"""``SignalTap``: the strategy as the paper trader's engine sees it.

The engine takes any ``Strategy``; the paper trader hands it a tap around the real one. The
tap passes every event to the real strategy and its answer back unchanged, with two additions
the engine has no hooks for:

- each decision (a ``Signal`` other than HOLD) is reported to ``on_signal`` with the event it
  answered, before the engine submits its order: the trader logs it as a ``signal`` row;
- while ``muted`` (warming up on past trades after a start or a restart) the strategy sees
  every event and updates its indicators, but its decisions are dropped: past trades are
  never traded again.

Name, parameters, bar type, mode and account come from the real strategy, so the engine, its
result and the log name the real strategy. Exceptions the strategy raises go through as they
are (the aggregator reports them as ``EventFailed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import cast

from ticklane.bars.events import BarData, BarDataMode
from ticklane.core.bars import BarType
from ticklane.strategy.base import Strategy
from ticklane.strategy.signal import HOLD, Action, Signal

SignalHandler = Callable[[Signal, BarData], None]


class SignalTap(Strategy):
    """Wraps ``inner`` (see the module docstring). Make one with ``SignalTap.around``."""

    name = "tap"
    description = "Passes events to a strategy and notes its decisions."

    def __init__(self, inner: Strategy, on_signal: SignalHandler) -> None:
        # Strategy.__init__ is not called: parameters and state are the inner strategy's.
        self.inner = inner
        self.params = inner.params
        self._account_id = None
        self.on_signal = on_signal
        self.muted = False

    @classmethod
    def around(cls, inner: Strategy, on_signal: SignalHandler) -> SignalTap:
        """A tap carrying the inner strategy's ``name``, ``description`` and ``parameters``
        (class attributes the engine and its result read)."""
        named = type(
            f"{type(inner).__name__}Tap",
            (cls,),
            {
                "name": inner.name,
                "description": inner.description,
                "parameters": inner.parameters,
                "__module__": __name__,
            },
        )
        return cast(type[SignalTap], named)(inner, on_signal)

    def on_bar_data(self, bar_data: BarData) -> Signal:
        signal = self.inner.on_bar_data(bar_data)
        if signal is HOLD:  # the common answer: one identity check
            return signal
        if self.muted:
            return HOLD
        # Anything but a Signal goes back as it is: the engine stops the run and says why.
        if isinstance(signal, Signal) and signal.action is not Action.HOLD:
            self.on_signal(signal, bar_data)
        return signal

    def initialize(self, params: Mapping[str, object]) -> None:
        self.inner.initialize(params)
        self.params = self.inner.params

    def bar_data_mode(self) -> BarDataMode:
        return self.inner.bar_data_mode()

    def preferred_bar_type(self) -> BarType:
        return self.inner.preferred_bar_type()

    def reset(self) -> None:
        self.inner.reset()

    def account_id(self) -> str | None:
        return self.inner.account_id()

    def set_account_id(self, account_id: str | None) -> None:
        self.inner.set_account_id(account_id)

    def order_size(self) -> tuple[Decimal | None, Decimal | None]:
        return self.inner.order_size()
