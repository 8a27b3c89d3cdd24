"""Helpers for the bar tests: trades as arrays, recorded events, and events written out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from ticklane.bars.aggregator import BarAggregator
from ticklane.bars.events import BarData, BarDataMode, BarEvent
from ticklane.core.bars import BarType
from ticklane.core.columnar import TRADE_DTYPE
from ticklane.core.fixed import PRICE_SCALE, QUANTITY_SCALE
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import parse_datetime

BTC = InstrumentId("binance", "BTCUSDT")
SECOND = 10**9
MINUTE = 60 * SECOND
BUY, SELL = 1, 2

Trade = tuple[int, int, int, int, int]  # ts_event, price_raw, quantity_raw, side, trade_id


def ns(text: str) -> int:
    return parse_datetime(text)


def p(units: float | int) -> int:
    """A price in whole units (or tenths), scaled."""
    return round(units * 10) * (PRICE_SCALE // 10)


def q(units: int) -> int:
    return units * QUANTITY_SCALE


def trade_array(trades: Sequence[Trade]) -> npt.NDArray[Any]:
    data = np.zeros(len(trades), dtype=TRADE_DTYPE)
    for row, (ts, price, quantity, side, trade_id) in enumerate(trades):
        data[row] = (ts, trade_id, price, quantity, side, False)
    return data


class Recorder:
    """An aggregator and the snapshots of every event it emitted."""

    def __init__(self, bar_type: BarType, mode: BarDataMode) -> None:
        self.events: list[BarEvent] = []
        self.aggregator = BarAggregator(BTC, bar_type, mode, self.keep)

    def keep(self, bar: BarData) -> None:
        self.events.append(bar.snapshot())

    def trades(self, trades: Sequence[Trade]) -> list[BarEvent]:
        for trade in trades:
            self.aggregator.on_trade(*trade)
        return self.events


def tick_event(
    trade: Trade,
    bar: tuple[int, int],
    ohlc: tuple[int, int, int, int],
    volume: int,
    tick_count: int,
    *,
    first: bool = False,
) -> BarEvent:
    """The event of ``trade`` in the bar ``(open_time, close_time)`` with its OHLC so far."""
    ts, price, quantity, side, trade_id = trade
    return BarEvent(
        ts_event=ts,
        has_tick=True,
        tick_price=price,
        tick_quantity=quantity,
        tick_side=side,
        tick_trade_id=trade_id,
        open_time=bar[0],
        close_time=bar[1],
        open=ohlc[0],
        high=ohlc[1],
        low=ohlc[2],
        close=ohlc[3],
        volume=volume,
        tick_count=tick_count,
        is_first_tick=first,
        is_bar_closed=False,
        is_synthetic=False,
    )


def close_event(
    bar: tuple[int, int], ohlc: tuple[int, int, int, int], volume: int, tick_count: int
) -> BarEvent:
    """The close of the bar ``(open_time, close_time)``, stamped at its close time."""
    return BarEvent(
        ts_event=bar[1],
        has_tick=False,
        tick_price=0,
        tick_quantity=0,
        tick_side=0,
        tick_trade_id=0,
        open_time=bar[0],
        close_time=bar[1],
        open=ohlc[0],
        high=ohlc[1],
        low=ohlc[2],
        close=ohlc[3],
        volume=volume,
        tick_count=tick_count,
        is_first_tick=False,
        is_bar_closed=True,
        is_synthetic=False,
    )


def synthetic_event(bar: tuple[int, int], price: int) -> BarEvent:
    """A closed bar without ticks: everything at the last price, no volume."""
    return msgspec.structs.replace(
        close_event(bar, (price, price, price, price), 0, 0), is_synthetic=True
    )


def random_trades(seed: int, width: int, intervals: int, first_open: int) -> npt.NDArray[Any]:
    """Seeded trades over ``intervals`` bars of ``width`` ns from ``first_open``.

    A market with quiet spells: some runs of two to five bars have no trade at all; about a
    third of the busy bars have a trade stamped exactly on their open; trades often share a
    timestamp (one taker, several makers) and often repeat the previous price.
    """
    rng = np.random.default_rng(seed)
    trades: list[Trade] = []
    price = p(100)
    interval = 0
    while interval < intervals:
        if rng.random() < 0.15:
            interval += int(rng.integers(2, 6))
            continue
        offsets = np.sort(rng.integers(0, width, int(rng.integers(1, 7))))
        if rng.random() < 0.35:
            offsets[0] = 0
        for offset in offsets.tolist():
            for _ in range(2 if rng.random() < 0.2 else 1):
                price += int(rng.choice([-1, 0, 0, 1])) * (PRICE_SCALE // 10)
                ts = first_open + interval * width + offset
                side = int(rng.integers(1, 3))
                trades.append((ts, price, int(rng.integers(1, 100)) * 10**6, side, len(trades)))
        interval += 1
    return trade_array(trades)
