"""The events a bar aggregator hands to strategies: ``BarData`` with its ``BarMetadata``.

Speed matters here (a strategy may be called on every tick, millions of times a second), so a
``BarData`` is one mutable object per aggregator, updated in place and valid only during the
call that receives it: a strategy that keeps one across calls must keep ``snapshot()`` instead.
Values are carried as the scaled integers of ``core.fixed`` (exact); ``price``, ``open`` ...
give floats for indicator maths, ``current_tick`` and ``ohlc_bar`` give exact ``Decimal``
objects, built only when asked for.

Which events a strategy receives depends on its ``BarDataMode``; every mode receives the
bar-close events (``current_tick is None``), synthetic ones included:

- ``ON_EACH_TICK``: an event for every tick, then each bar close.
- ``ON_PRICE_MOVE``: an event for a tick whose price differs from the previous tick's (the
  first tick of the data always counts), then each bar close.
- ``ON_CLOSE_BAR``: bar closes only.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

import msgspec

from ticklane.core.bars import Bar, BarType
from ticklane.core.fixed import PRICE_SCALE, QUANTITY_SCALE, price_from_raw, quantity_from_raw
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.ticks import TradeTick


class BarDataMode(Enum):
    """Which events a strategy receives (see the module docstring)."""

    ON_EACH_TICK = "on_each_tick"
    ON_PRICE_MOVE = "on_price_move"
    ON_CLOSE_BAR = "on_close_bar"


class BarEvent(msgspec.Struct, frozen=True):
    """An immutable copy of one ``BarData`` event, for tests, logs and strategies that keep it.

    Prices are scaled by ``PRICE_SCALE`` and quantities by ``QUANTITY_SCALE``; the tick fields
    are 0 for a bar-close event.
    """

    ts_event: int
    has_tick: bool
    tick_price: int
    tick_quantity: int
    tick_side: int
    tick_trade_id: int
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    tick_count: int
    is_first_tick: bool
    is_bar_closed: bool
    is_synthetic: bool


class BarMetadata:
    """State of the bar an event belongs to."""

    __slots__ = (
        "bar_type",
        "close_time",
        "is_bar_closed",
        "is_first_tick",
        "is_synthetic",
        "open_time",
        "tick_count",
    )

    def __init__(self, bar_type: BarType) -> None:
        self.bar_type = bar_type
        self.is_first_tick = False  # this tick opened the bar
        self.is_bar_closed = False  # this event closes the bar
        self.is_synthetic = False  # the bar had no ticks: O=H=L=C=last price, volume 0
        self.tick_count = 0  # ticks in the bar so far
        self.open_time = 0  # ns, inclusive (tick bars: the first tick's time)
        self.close_time = 0  # ns, exclusive (tick bars: the last tick's time once closed)


class BarData:
    """One event: the tick that triggered it (if any) and the bar's OHLC state so far.

    Reused in place by its aggregator: valid only during the call that receives it.
    """

    __slots__ = (
        "close_raw",
        "has_tick",
        "high_raw",
        "instrument",
        "low_raw",
        "metadata",
        "open_raw",
        "tick_price_raw",
        "tick_quantity_raw",
        "tick_side",
        "tick_trade_id",
        "ts_event",
        "volume_raw",
    )

    def __init__(self, instrument: InstrumentId, bar_type: BarType) -> None:
        self.instrument = instrument
        self.metadata = BarMetadata(bar_type)
        self.ts_event = 0  # the tick's time, or the bar's close time for a close event
        self.has_tick = False  # False for a bar-close event (then current_tick is None)
        self.tick_price_raw = 0
        self.tick_quantity_raw = 0
        self.tick_side = 0
        self.tick_trade_id = 0
        self.open_raw = 0
        self.high_raw = 0
        self.low_raw = 0
        self.close_raw = 0
        self.volume_raw = 0

    # Floats for indicator maths (exact values: current_tick, ohlc_bar).
    @property
    def price(self) -> float:
        """The tick's price, or the bar's close for a bar-close event."""
        return (self.tick_price_raw if self.has_tick else self.close_raw) / PRICE_SCALE

    @property
    def open(self) -> float:
        return self.open_raw / PRICE_SCALE

    @property
    def high(self) -> float:
        return self.high_raw / PRICE_SCALE

    @property
    def low(self) -> float:
        return self.low_raw / PRICE_SCALE

    @property
    def close(self) -> float:
        return self.close_raw / PRICE_SCALE

    @property
    def volume(self) -> float:
        return self.volume_raw / QUANTITY_SCALE

    @property
    def current_tick(self) -> TradeTick | None:
        """The triggering tick with exact values; None for a bar-close event."""
        if not self.has_tick:
            return None
        return TradeTick(
            exchange=self.instrument.exchange,
            symbol=self.instrument.symbol,
            price=price_from_raw(self.tick_price_raw),
            quantity=quantity_from_raw(self.tick_quantity_raw),
            side=Side(self.tick_side),
            ts_event=self.ts_event,
            trade_id=self.tick_trade_id,
        )

    @property
    def ohlc_bar(self) -> Bar:
        """The bar so far (or as closed), with exact values."""
        meta = self.metadata
        return Bar(
            exchange=self.instrument.exchange,
            symbol=self.instrument.symbol,
            bar_type=meta.bar_type,
            open_time=meta.open_time,
            close_time=meta.close_time,
            open=price_from_raw(self.open_raw),
            high=price_from_raw(self.high_raw),
            low=price_from_raw(self.low_raw),
            close=price_from_raw(self.close_raw),
            volume=quantity_from_raw(self.volume_raw),
            tick_count=meta.tick_count,
            is_synthetic=meta.is_synthetic,
        )

    @property
    def close_price(self) -> Decimal:
        """The bar's close so far, exact."""
        return price_from_raw(self.close_raw)

    def snapshot(self) -> BarEvent:
        """An immutable copy of this event."""
        meta = self.metadata
        return BarEvent(
            ts_event=self.ts_event,
            has_tick=self.has_tick,
            tick_price=self.tick_price_raw if self.has_tick else 0,
            tick_quantity=self.tick_quantity_raw if self.has_tick else 0,
            tick_side=self.tick_side if self.has_tick else 0,
            tick_trade_id=self.tick_trade_id if self.has_tick else 0,
            open_time=meta.open_time,
            close_time=meta.close_time,
            open=self.open_raw,
            high=self.high_raw,
            low=self.low_raw,
            close=self.close_raw,
            volume=self.volume_raw,
            tick_count=meta.tick_count,
            is_first_tick=meta.is_first_tick,
            is_bar_closed=meta.is_bar_closed,
            is_synthetic=meta.is_synthetic,
        )
