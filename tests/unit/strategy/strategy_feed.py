"""Driving strategies in tests: bar-close and tick events built directly as ``BarData``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ticklane.bars.events import BarData
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.fixed import price_to_raw
from ticklane.core.identifiers import InstrumentId
from ticklane.strategy.base import Strategy
from ticklane.strategy.signal import HOLD, Action, Signal

INSTRUMENT = InstrumentId("binance", "BTCUSDT")
MINUTE_BARS = BarType.time(Timeframe.ONE_MINUTE)


def raw(price: float) -> int:
    return price_to_raw(Decimal(str(price)))


def bar_close(data: BarData, close: float, *, synthetic: bool = False) -> BarData:
    """Make ``data`` the close event of a bar with O=H=L=C=``close``."""
    data.has_tick = False
    data.open_raw = data.high_raw = data.low_raw = data.close_raw = raw(close)
    data.metadata.is_bar_closed = True
    data.metadata.is_synthetic = synthetic
    data.metadata.tick_count = 0 if synthetic else 1
    return data


def tick(data: BarData, price: float) -> BarData:
    """Make ``data`` a mid-bar tick event at ``price`` (the bar's close so far is ``price``)."""
    data.has_tick = True
    data.tick_price_raw = data.close_raw = raw(price)
    data.metadata.is_bar_closed = False
    data.metadata.is_synthetic = False
    return data


def run_closes(
    strategy: Strategy, closes: Sequence[float], *, synthetic: bool = False
) -> list[tuple[int, Action]]:
    """Feed one bar close per price; the (bar index, action) of every non-HOLD signal."""
    data = BarData(INSTRUMENT, MINUTE_BARS)
    signals: list[tuple[int, Action]] = []
    for index, close in enumerate(closes):
        signal = strategy.on_bar_data(bar_close(data, close, synthetic=synthetic))
        if signal is not HOLD:
            signals.append((index, signal.action))
    return signals


def signals_of(strategy: Strategy, closes: Sequence[float]) -> list[Signal]:
    """Every signal (HOLD included) for one bar close per price."""
    data = BarData(INSTRUMENT, MINUTE_BARS)
    return [strategy.on_bar_data(bar_close(data, close)) for close in closes]
