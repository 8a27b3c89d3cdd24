"""The bar aggregator, event by event: each expected list below was worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ticklane.bars.aggregator import BarAggregator
from ticklane.bars.events import BarData, BarDataMode
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.columnar import TRADE_DTYPE
from ticklane.core.errors import BadDataError

from bar_ticks import (
    BTC,
    BUY,
    MINUTE,
    SECOND,
    SELL,
    Recorder,
    close_event,
    ns,
    p,
    q,
    synthetic_event,
    tick_event,
    trade_array,
)

ONE_MINUTE = BarType.time(Timeframe.ONE_MINUTE)
T0 = ns("2024-01-03T10:00:00Z")

# Five trades over three minutes, none in the second minute; the fourth is stamped exactly
# on the 10:02 boundary and the third repeats the second's price.
T1 = (T0 + 10 * SECOND, p(100), q(1), BUY, 1)
T2 = (T0 + 40 * SECOND, p(102), q(2), SELL, 2)
T3 = (T0 + 50 * SECOND, p(102), q(1), BUY, 3)
T4 = (T0 + 2 * MINUTE, p(99), q(3), SELL, 4)
T5 = (T0 + 2 * MINUTE + 30 * SECOND, p(101), q(1), BUY, 5)
FIVE_TRADES = (T1, T2, T3, T4, T5)

BAR_10_00 = (T0, T0 + MINUTE)
BAR_10_01 = (T0 + MINUTE, T0 + 2 * MINUTE)
BAR_10_02 = (T0 + 2 * MINUTE, T0 + 3 * MINUTE)

E1 = tick_event(T1, BAR_10_00, (p(100), p(100), p(100), p(100)), q(1), 1, first=True)
E2 = tick_event(T2, BAR_10_00, (p(100), p(102), p(100), p(102)), q(3), 2)
E3 = tick_event(T3, BAR_10_00, (p(100), p(102), p(100), p(102)), q(4), 3)
CLOSE_10_00 = close_event(BAR_10_00, (p(100), p(102), p(100), p(102)), q(4), 3)
SYNTHETIC_10_01 = synthetic_event(BAR_10_01, p(102))
E4 = tick_event(T4, BAR_10_02, (p(99), p(99), p(99), p(99)), q(3), 1, first=True)
E5 = tick_event(T5, BAR_10_02, (p(99), p(101), p(99), p(101)), q(4), 2)
CLOSE_10_02 = close_event(BAR_10_02, (p(99), p(101), p(99), p(101)), q(4), 2)


def run_five_trades(mode: BarDataMode, until: int) -> Recorder:
    recorder = Recorder(ONE_MINUTE, mode)
    recorder.trades(FIVE_TRADES)
    recorder.aggregator.advance_to(until)
    return recorder


def test_every_tick_mode_sees_each_trade_then_each_close_including_the_empty_minute() -> None:
    recorder = run_five_trades(BarDataMode.ON_EACH_TICK, until=T0 + 3 * MINUTE)
    assert recorder.events == [E1, E2, E3, CLOSE_10_00, SYNTHETIC_10_01, E4, E5, CLOSE_10_02]


def test_price_move_mode_skips_the_trade_that_repeats_the_previous_price() -> None:
    recorder = run_five_trades(BarDataMode.ON_PRICE_MOVE, until=T0 + 3 * MINUTE)
    assert recorder.events == [E1, E2, CLOSE_10_00, SYNTHETIC_10_01, E4, E5, CLOSE_10_02]


def test_close_bar_mode_sees_only_the_three_closes() -> None:
    recorder = run_five_trades(BarDataMode.ON_CLOSE_BAR, until=T0 + 3 * MINUTE)
    assert recorder.events == [CLOSE_10_00, SYNTHETIC_10_01, CLOSE_10_02]


def test_last_partial_bar_stays_open_until_the_range_end_reaches_its_close() -> None:
    recorder = run_five_trades(BarDataMode.ON_CLOSE_BAR, until=T0 + 3 * MINUTE - 1)
    assert recorder.events == [CLOSE_10_00, SYNTHETIC_10_01]
    recorder.aggregator.advance_to(T0 + 3 * MINUTE)
    assert recorder.events == [CLOSE_10_00, SYNTHETIC_10_01, CLOSE_10_02]


def test_tick_on_the_exact_boundary_opens_the_next_bar() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_EACH_TICK)
    on_boundary = (T0 + MINUTE, p(101), q(1), SELL, 2)
    events = recorder.trades([T1, on_boundary])
    bar_10_01 = (T0 + MINUTE, T0 + 2 * MINUTE)
    assert events == [
        E1,
        close_event(BAR_10_00, (p(100), p(100), p(100), p(100)), q(1), 1),
        tick_event(on_boundary, bar_10_01, (p(101), p(101), p(101), p(101)), q(1), 1, first=True),
    ]


def test_gap_of_several_five_minute_bars_is_filled_with_synthetic_bars_at_the_last_price() -> None:
    five = 5 * MINUTE
    recorder = Recorder(BarType.time(Timeframe.FIVE_MINUTES), BarDataMode.ON_CLOSE_BAR)
    recorder.trades(
        [
            (T0 + MINUTE, p(100), q(1), BUY, 1),
            (T0 + 2 * MINUTE, p(98.5), q(2), SELL, 2),
            (T0 + 23 * MINUTE, p(97), q(1), SELL, 3),
        ]
    )
    assert recorder.events == [
        close_event((T0, T0 + five), (p(100), p(100), p(98.5), p(98.5)), q(3), 2),
        synthetic_event((T0 + five, T0 + 2 * five), p(98.5)),
        synthetic_event((T0 + 2 * five, T0 + 3 * five), p(98.5)),
        synthetic_event((T0 + 3 * five, T0 + 4 * five), p(98.5)),
    ]


def test_quiet_market_after_the_last_trade_closes_synthetic_bars_as_time_passes() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_CLOSE_BAR)
    recorder.trades([T1])
    recorder.aggregator.advance_to(T0 + 2 * MINUTE + 59 * SECOND)
    assert recorder.events == [
        close_event(BAR_10_00, (p(100), p(100), p(100), p(100)), q(1), 1),
        synthetic_event(BAR_10_01, p(100)),
    ]


def test_no_bar_of_any_kind_before_the_first_trade() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_EACH_TICK)
    recorder.aggregator.advance_to(T0 + 10 * MINUTE)
    assert recorder.events == []
    assert recorder.aggregator.last_price is None


def test_first_trade_of_the_data_is_a_price_move_and_a_repeat_after_a_gap_is_not() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_PRICE_MOVE)
    repeat = (T0 + 2 * MINUTE + 5 * SECOND, p(100), q(2), SELL, 2)
    moved = (T0 + 2 * MINUTE + 6 * SECOND, p(100.5), q(1), BUY, 3)
    events = recorder.trades([T1, repeat, moved])
    assert events == [
        E1,
        close_event(BAR_10_00, (p(100), p(100), p(100), p(100)), q(1), 1),
        synthetic_event(BAR_10_01, p(100)),
        # The repeat opened 10:02 without an event, so the move is not the bar's first tick.
        tick_event(moved, BAR_10_02, (p(100), p(100.5), p(100), p(100.5)), q(3), 2),
    ]


def test_three_tick_bar_closes_on_its_third_trade_and_ignores_the_clock() -> None:
    recorder = Recorder(BarType.ticks(3), BarDataMode.ON_EACH_TICK)
    recorder.trades(FIVE_TRADES)
    recorder.aggregator.advance_to(T0 + 10 * MINUTE)
    first_bar = (T1[0], T3[0])
    assert recorder.events == [
        tick_event(T1, (T1[0], T1[0]), (p(100), p(100), p(100), p(100)), q(1), 1, first=True),
        tick_event(T2, (T1[0], T2[0]), (p(100), p(102), p(100), p(102)), q(3), 2),
        tick_event(T3, first_bar, (p(100), p(102), p(100), p(102)), q(4), 3),
        close_event(first_bar, (p(100), p(102), p(100), p(102)), q(4), 3),
        tick_event(T4, (T4[0], T4[0]), (p(99), p(99), p(99), p(99)), q(3), 1, first=True),
        tick_event(T5, (T4[0], T5[0]), (p(99), p(101), p(99), p(101)), q(4), 2),
    ]


def test_three_tick_bar_in_price_move_mode_skips_the_repeat_but_not_the_close() -> None:
    recorder = Recorder(BarType.ticks(3), BarDataMode.ON_PRICE_MOVE)
    recorder.trades(FIVE_TRADES)
    first_bar = (T1[0], T3[0])
    assert recorder.events == [
        tick_event(T1, (T1[0], T1[0]), (p(100), p(100), p(100), p(100)), q(1), 1, first=True),
        tick_event(T2, (T1[0], T2[0]), (p(100), p(102), p(100), p(102)), q(3), 2),
        close_event(first_bar, (p(100), p(102), p(100), p(102)), q(4), 3),
        tick_event(T4, (T4[0], T4[0]), (p(99), p(99), p(99), p(99)), q(3), 1, first=True),
        tick_event(T5, (T4[0], T5[0]), (p(99), p(101), p(99), p(101)), q(4), 2),
    ]


def test_three_tick_bar_in_close_bar_mode_sees_only_the_close() -> None:
    recorder = Recorder(BarType.ticks(3), BarDataMode.ON_CLOSE_BAR)
    recorder.trades(FIVE_TRADES)
    recorder.aggregator.on_trades(trade_array([(T5[0] + SECOND, p(98), q(1), SELL, 6)]))
    assert recorder.events == [
        close_event((T1[0], T3[0]), (p(100), p(102), p(100), p(102)), q(4), 3),
        close_event((T4[0], T5[0] + SECOND), (p(99), p(101), p(98), p(98)), q(5), 3),
    ]


def test_weekly_bar_opens_monday_and_a_monday_midnight_trade_opens_the_next() -> None:
    recorder = Recorder(BarType.time(Timeframe.ONE_WEEK), BarDataMode.ON_CLOSE_BAR)
    monday, next_monday = ns("2024-01-01T00:00:00Z"), ns("2024-01-08T00:00:00Z")
    recorder.trades(
        [
            (ns("2024-01-03T13:47:00Z"), p(42000), q(1), BUY, 1),  # Wednesday
            (ns("2024-01-07T23:59:59Z"), p(43000), q(1), BUY, 2),  # Sunday night
            (next_monday, p(41000), q(1), SELL, 3),
        ]
    )
    assert recorder.events == [
        close_event((monday, next_monday), (p(42000), p(43000), p(42000), p(43000)), q(2), 2)
    ]
    assert recorder.aggregator.bar.metadata.open_time == next_monday


def test_late_live_trade_counts_in_the_open_bar_and_never_reopens_a_closed_one() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_EACH_TICK)
    recorder.trades([T1])
    recorder.aggregator.advance_to(T0 + MINUTE)  # the clock closes 10:00
    late = (T0 + 59 * SECOND, p(103), q(1), BUY, 2)
    events = recorder.trades([late])
    assert events[-1] == tick_event(
        late, BAR_10_01, (p(103), p(103), p(103), p(103)), q(1), 1, first=True
    )


def test_equal_timestamps_keep_their_order_for_open_and_close() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_CLOSE_BAR)
    same = T0 + 30 * SECOND
    recorder.trades([(same, p(100), q(1), BUY, 1), (same, p(99), q(1), SELL, 2)])
    recorder.trades([(same, p(101), q(1), BUY, 3)])
    recorder.aggregator.advance_to(T0 + MINUTE)
    assert recorder.events == [
        close_event(BAR_10_00, (p(100), p(101), p(99), p(101)), q(3), 3),
    ]


def test_one_bar_data_object_is_reused_for_every_event() -> None:
    seen: list[int] = []

    def remember(bar: BarData) -> None:
        seen.append(id(bar))

    aggregator = BarAggregator(BTC, ONE_MINUTE, BarDataMode.ON_EACH_TICK, remember)
    for trade in FIVE_TRADES:
        aggregator.on_trade(*trade)
    assert len(seen) == 7
    assert set(seen) == {id(aggregator.bar)}


def test_trades_of_another_layout_are_rejected() -> None:
    recorder = Recorder(ONE_MINUTE, BarDataMode.ON_CLOSE_BAR)
    with pytest.raises(BadDataError, match="TRADE_DTYPE"):
        recorder.aggregator.on_trades(np.zeros(3, dtype=np.int64))
    recorder.aggregator.on_trades(np.zeros(0, dtype=TRADE_DTYPE))
    assert recorder.events == []
