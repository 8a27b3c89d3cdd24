"""Backtest and live see the same bars: the historical and real-time drivers over the same ticks."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ticklane.bars.clock import SimulatedClock, WallClock
from ticklane.bars.events import BarDataMode, BarEvent
from ticklane.bars.historical import HistoricalDriver, run_historical
from ticklane.bars.realtime import RealtimeDriver, replay_as_live
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.columnar import TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId

from bar_ticks import BUY, MINUTE, SECOND, Recorder, ns, p, q, random_trades, trade_array

MONDAY = ns("2024-03-04T00:00:00Z")
BAR_TYPES = [BarType.time(timeframe) for timeframe in Timeframe] + [BarType.ticks(4)]


def width_of(bar_type: BarType) -> int:
    return bar_type.timeframe.nanos if bar_type.timeframe is not None else MINUTE


def range_ends(data: npt.NDArray[Any], width: int) -> dict[str, int]:
    last = int(data["ts_event"][-1])
    close_of_last = (last - MONDAY) // width * width + width + MONDAY
    return {
        "mid_bar": last + 1,
        "on_boundary": close_of_last,
        "after_a_quiet_spell": close_of_last + 3 * width + width // 2,
    }


def historical_events(
    bar_type: BarType, mode: BarDataMode, data: npt.NDArray[Any], start: int, end: int
) -> list[BarEvent]:
    recorder = Recorder(bar_type, mode)
    rng = np.random.default_rng(1)
    splits = np.sort(rng.choice(np.arange(1, len(data)), size=5, replace=False))
    HistoricalDriver(recorder.aggregator, start, end).run(np.split(data, splits))
    return recorder.events


def live_events(
    bar_type: BarType, mode: BarDataMode, data: npt.NDArray[Any], start: int, end: int
) -> list[BarEvent]:
    recorder = Recorder(bar_type, mode)
    clock = SimulatedClock(start)
    # One check a second for bars up to 5 minutes; wider bars step 1/300 of their width, so
    # a week of clock checks stays fast. Finer steps add only checks that close nothing.
    step = max(SECOND, width_of(bar_type) // 300)
    replay_as_live(RealtimeDriver(recorder.aggregator, clock), clock, data, end, step)
    assert clock.now_ns() == end
    return recorder.events


@pytest.mark.parametrize("mode", list(BarDataMode))
@pytest.mark.parametrize("bar_type", BAR_TYPES, ids=str)
@pytest.mark.parametrize("end_name", ["mid_bar", "on_boundary", "after_a_quiet_spell"])
def test_backtest_and_live_replay_emit_identical_events(
    bar_type: BarType, mode: BarDataMode, end_name: str
) -> None:
    width = width_of(bar_type)
    data = random_trades(seed=23, width=width, intervals=30, first_open=MONDAY)
    start, end = MONDAY - width // 3, range_ends(data, width)[end_name]
    historical = historical_events(bar_type, mode, data, start, end)
    assert historical  # a market with trades has bars in every mode
    assert live_events(bar_type, mode, data, start, end) == historical


def test_parity_data_has_gaps_boundary_trades_and_shared_timestamps() -> None:
    data = random_trades(seed=23, width=MINUTE, intervals=30, first_open=MONDAY)
    ts = data["ts_event"]
    bars = (ts - MONDAY) // MINUTE
    assert (np.diff(bars) >= 3).any()
    assert (ts % MINUTE == 0).any()
    assert (np.diff(ts) == 0).any()


def test_range_end_exactly_on_a_close_closes_that_bar_and_one_ns_earlier_does_not() -> None:
    trades = [(MONDAY + 5 * SECOND, p(100), q(1), BUY, 1)]
    for end, closes in ((MONDAY + MINUTE, 1), (MONDAY + MINUTE - 1, 0)):
        recorder = Recorder(BarType.time(Timeframe.ONE_MINUTE), BarDataMode.ON_CLOSE_BAR)
        run_historical(recorder.aggregator, [trade_array(trades)], MONDAY, end)
        assert len(recorder.events) == closes


def test_historical_driver_drops_trades_outside_its_range() -> None:
    trades = [
        (MONDAY - SECOND, p(90), q(1), BUY, 1),
        (MONDAY + SECOND, p(100), q(1), BUY, 2),
        (MONDAY + MINUTE, p(110), q(1), BUY, 3),
    ]
    recorder = Recorder(BarType.time(Timeframe.ONE_MINUTE), BarDataMode.ON_EACH_TICK)
    columns = TradeColumns(recorder.aggregator.bar.instrument, trade_array(trades))
    HistoricalDriver(recorder.aggregator, MONDAY, MONDAY + MINUTE).run([columns])
    assert [event.tick_trade_id for event in recorder.events] == [2, 0]


def test_historical_driver_refuses_another_instruments_trades_and_an_empty_range() -> None:
    recorder = Recorder(BarType.time(Timeframe.ONE_MINUTE), BarDataMode.ON_CLOSE_BAR)
    eth = TradeColumns(InstrumentId("binance", "ETHUSDT"), trade_array([]))
    with pytest.raises(BadDataError, match="ETHUSDT"):
        HistoricalDriver(recorder.aggregator, MONDAY, MONDAY + MINUTE).run([eth])
    with pytest.raises(BadDataError, match="not after start"):
        HistoricalDriver(recorder.aggregator, MONDAY, MONDAY)


def test_live_bar_closes_at_the_first_clock_check_after_its_close() -> None:
    recorder = Recorder(BarType.time(Timeframe.ONE_MINUTE), BarDataMode.ON_CLOSE_BAR)
    clock = SimulatedClock(MONDAY)
    driver = RealtimeDriver(recorder.aggregator, clock)
    driver.on_trade(MONDAY + 30 * SECOND, p(100), q(1), BUY, 1)
    clock.set_time(MONDAY + MINUTE - 1)
    driver.check_clock()
    assert recorder.events == []
    clock.advance(1)
    driver.check_clock()
    assert [event.close_time for event in recorder.events] == [MONDAY + MINUTE]


def test_simulated_clock_never_runs_backwards() -> None:
    clock = SimulatedClock(MONDAY)
    with pytest.raises(BadDataError, match="before the current time"):
        clock.set_time(MONDAY - 1)
    assert clock.now_ns() == MONDAY


def test_wall_clock_reads_the_present() -> None:
    assert WallClock().now_ns() > ns("2024-01-01T00:00:00Z")


def test_clock_task_checks_once_more_when_stopped() -> None:
    recorder = Recorder(BarType.time(Timeframe.ONE_MINUTE), BarDataMode.ON_CLOSE_BAR)
    clock = SimulatedClock(MONDAY)
    driver = RealtimeDriver(recorder.aggregator, clock)
    driver.on_trade(MONDAY + 30 * SECOND, p(100), q(1), BUY, 1)
    clock.set_time(MONDAY + MINUTE)

    async def stopped_session() -> None:
        stop = asyncio.Event()
        stop.set()
        await driver.run_clock(stop)

    asyncio.run(stopped_session())
    assert [event.close_time for event in recorder.events] == [MONDAY + MINUTE]
