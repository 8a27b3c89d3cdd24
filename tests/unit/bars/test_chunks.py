"""ON_CLOSE_BAR over whole chunks (vectorised) gives exactly the events of trades fed one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ticklane.bars.events import BarData, BarDataMode, BarEvent
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.columnar import TRADE_DTYPE

from bar_ticks import MINUTE, Recorder, ns, p, random_trades

MONDAY = ns("2024-03-04T00:00:00Z")


def one_by_one(bar_type: BarType, data: npt.NDArray[Any], end: int) -> tuple[list[BarEvent], Any]:
    recorder = Recorder(bar_type, BarDataMode.ON_CLOSE_BAR)
    for ts, trade_id, price, quantity, side, _maker in data.tolist():
        recorder.aggregator.on_trade(ts, price, quantity, side, trade_id)
    state = recorder.aggregator.bar.snapshot()
    recorder.aggregator.advance_to(end)
    return recorder.events, state


def in_chunks(
    bar_type: BarType, data: npt.NDArray[Any], splits: list[int], end: int
) -> tuple[list[BarEvent], Any]:
    recorder = Recorder(bar_type, BarDataMode.ON_CLOSE_BAR)
    for chunk in np.split(data, splits):
        recorder.aggregator.on_trades(chunk)
    state = recorder.aggregator.bar.snapshot()
    recorder.aggregator.advance_to(end)
    return recorder.events, state


def split_points(data: npt.NDArray[Any], width: int) -> tuple[int, int]:
    """A split between two trades of one bar, and one between the two sides of a gap."""
    bar = data["ts_event"] // width
    inside_bar = int(np.flatnonzero(bar[1:] == bar[:-1])[0]) + 1
    inside_gap = int(np.flatnonzero(bar[1:] - bar[:-1] >= 3)[0]) + 1
    return inside_bar, inside_gap


@pytest.mark.parametrize("timeframe", list(Timeframe))
@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 1_000_000])
def test_chunked_close_bar_events_match_trade_by_trade(
    timeframe: Timeframe, chunk_size: int
) -> None:
    width = timeframe.nanos
    data = random_trades(seed=11, width=width, intervals=60, first_open=MONDAY)
    inside_bar, inside_gap = split_points(data, width)
    splits = sorted({*range(chunk_size, len(data), chunk_size), inside_bar, inside_gap})
    end = MONDAY + 70 * width + width // 2
    bar_type = BarType.time(timeframe)
    expected = one_by_one(bar_type, data, end)
    assert in_chunks(bar_type, data, splits, end) == expected
    assert any(event.is_synthetic for event in expected[0])


def test_chunk_larger_than_one_numpy_block_matches_trade_by_trade() -> None:
    rng = np.random.default_rng(5)
    ts = np.sort(MONDAY + rng.integers(0, 1_000 * MINUTE, 100_000))
    ts[::500] = ts[::500] // MINUTE * MINUTE  # some on the boundary
    ts = ts[(ts < MONDAY + 300 * MINUTE) | (ts >= MONDAY + 305 * MINUTE)]  # a quiet spell
    data = np.zeros(len(ts), dtype=TRADE_DTYPE)
    data["ts_event"] = ts
    data["trade_id"] = np.arange(len(ts))
    data["price"] = p(100) + np.cumsum(rng.integers(-1, 2, len(ts))) * p(0.1)
    data["quantity"] = rng.integers(1, 10**8, len(ts))
    assert len(data) > 65_536  # two numpy blocks
    end = MONDAY + 1_000 * MINUTE
    one_minute = BarType.time(Timeframe.ONE_MINUTE)
    assert in_chunks(one_minute, data, [], end) == one_by_one(one_minute, data, end)


def test_late_trades_in_a_chunk_count_in_the_open_bar_as_they_would_one_by_one() -> None:
    data = random_trades(seed=3, width=MINUTE, intervals=200, first_open=MONDAY)
    rng = np.random.default_rng(4)
    late = rng.choice(len(data) - 1, size=30, replace=False)
    data["ts_event"][late] -= rng.integers(1, 3 * MINUTE, size=30)  # stamped earlier: late
    end = MONDAY + 201 * MINUTE
    one_minute = BarType.time(Timeframe.ONE_MINUTE)
    for splits in ([], [10, 11, 100, 301]):
        assert in_chunks(one_minute, data, splits, end) == one_by_one(one_minute, data, end)


def test_at_each_close_the_chunk_position_is_after_the_ticks_of_the_closed_bars() -> None:
    """The engine starts next-tick fills at ``chunk_position``: at every bar close it must be
    the first tick of the chunk at or after that close, through gaps and across chunks."""
    width = MINUTE
    data = random_trades(seed=5, width=width, intervals=40, first_open=MONDAY)
    inside_bar, inside_gap = split_points(data, width)
    recorder = Recorder(BarType.time(Timeframe.ONE_MINUTE), BarDataMode.ON_CLOSE_BAR)
    aggregator = recorder.aggregator
    seen: list[tuple[int, int, bool]] = []  # (chunk position, ticks before the close, synthetic)
    chunk = data[:0]

    def at_close(bar: BarData) -> None:
        before = int(np.searchsorted(chunk["ts_event"], bar.ts_event, side="left"))
        seen.append((aggregator.chunk_position, before, bar.metadata.is_synthetic))

    aggregator._on_close = at_close
    for chunk in np.split(data, sorted({inside_bar, inside_gap, 17})):
        aggregator.on_trades(chunk)
        assert aggregator.chunk_position == len(chunk)  # the open bar holds the chunk's last
    assert len(seen) > 30 and any(synthetic for _, _, synthetic in seen)  # a gap was closed
    assert [position for position, _, _ in seen] == [before for _, before, _ in seen]
