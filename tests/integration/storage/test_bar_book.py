"""Vendor bars (the ``bars`` table) on both backends: stored once, read back in order, bad
bars rejected by name while the others are stored."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from ticklane.core.bars import Bar, BarType, Timeframe
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_MINUTE
from ticklane.storage.base import TickStore

T0 = 1_704_067_200 * 10**9  # 2024-01-01
ES = InstrumentId("cme", "ESH1")
ONE_MINUTE = BarType.time(Timeframe.ONE_MINUTE)


def bar(minute: int, close: str = "3720.25", **changes: object) -> Bar:
    made = Bar(
        exchange="cme",
        symbol="ESH1",
        bar_type=ONE_MINUTE,
        open_time=T0 + minute * NANOS_PER_MINUTE,
        close_time=T0 + (minute + 1) * NANOS_PER_MINUTE,
        open=Decimal("3720.00"),
        high=Decimal("3721.50"),
        low=Decimal("3719.75"),
        close=Decimal(close),
        volume=Decimal("12"),
        tick_count=0,
    )
    return msgspec.structs.replace(made, **changes)


def test_bars_are_stored_once_and_read_back_in_time_order(store: TickStore) -> None:
    bars = [bar(2), bar(0), bar(1, close="3721.00")]
    first = store.bars.insert(bars, "databento")
    assert (first.received, first.inserted, first.duplicates) == (3, 3, 0)
    again = store.bars.insert([bar(1, close="3721.25"), bar(3)], "databento")
    assert (again.inserted, again.duplicates) == (1, 1)  # the stored bar of minute 1 is kept

    read = store.bars.get(ES, Timeframe.ONE_MINUTE, T0, T0 + 3 * NANOS_PER_MINUTE)
    assert read == [bar(0), bar(1, close="3721.00"), bar(2)]
    assert store.bars.get(ES, Timeframe.ONE_HOUR, T0, T0 + 10 * NANOS_PER_MINUTE) == []
    [series] = store.bars.summary()
    assert (series.exchange, series.symbol, series.timeframe, series.source) == (
        "cme",
        "ESH1",
        "1m",
        "databento",
    )
    assert (series.bars, series.first_open_ns) == (4, T0)
    assert series.last_open_ns == T0 + 3 * NANOS_PER_MINUTE


def test_a_malformed_bar_is_rejected_by_name_and_the_others_are_stored(store: TickStore) -> None:
    bad_range = bar(1, close="3800")  # above the high
    bad_width = bar(2, close_time=T0 + 2 * NANOS_PER_MINUTE + 1)
    tick_bar = bar(3, bar_type=BarType.ticks(100))
    result = store.bars.insert([bar(0), bad_range, bad_width, tick_bar], "databento")
    assert (result.received, result.inserted, result.duplicates) == (4, 1, 0)
    assert [(e.position, e.field) for e in result.rejected] == [
        (1, "low"),
        (2, "close_time"),
        (3, "bar_type"),
    ]
    assert "must lie between low 3719.75 and high 3721.50" in result.rejected[0].message
    assert store.bars.get(ES, Timeframe.ONE_MINUTE, T0, T0 + 10 * NANOS_PER_MINUTE) == [bar(0)]


def test_one_second_bars_are_a_timeframe_of_their_own(store: TickStore) -> None:
    second = BarType.time(Timeframe.ONE_SECOND)
    bars = [
        bar(0, bar_type=second, open_time=T0 + i * 10**9, close_time=T0 + (i + 1) * 10**9)
        for i in range(3)
    ]
    assert store.bars.insert(bars, "databento").inserted == 3
    assert store.bars.get(ES, Timeframe.ONE_SECOND, T0, T0 + 10**10) == bars
    assert store.bars.get(ES, Timeframe.ONE_MINUTE, T0, T0 + 10**10) == []
