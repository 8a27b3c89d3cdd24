"""Bar aggregator benchmark: ticks per second for the vectorised and the per-tick paths.

Run ``python -m benchmarks.bench_bars [--ticks N] [--repeat K]``. It prints one line per
measurement (the best of ``--repeat`` runs): ``on_trades`` ON_CLOSE_BAR with 1-minute bars (one
chunk, and through ``HistoricalDriver`` in chunks of 100,000), and ON_EACH_TICK per tick with a
callback that does nothing (the aggregator's own cost).

The data: ``--ticks`` seeded synthetic BTCUSDT trades over 30 days, about 100 a minute on
average, twice as many in the busiest hour of the day as in the quietest; prices walk in
cents around 40,000, quantities vary, buys and sells are mixed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ticklane.bars.aggregator import BarAggregator
from ticklane.bars.events import BarData, BarDataMode
from ticklane.bars.historical import HistoricalDriver
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.columnar import TRADE_DTYPE
from ticklane.core.fixed import PRICE_SCALE, QUANTITY_SCALE
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_DAY, NANOS_PER_MINUTE

START_NS: Final = 1_717_372_800 * 10**9  # 2024-06-03T00:00:00Z
DAYS: Final = 30
INSTRUMENT: Final = InstrumentId("binance", "BTCUSDT")
ONE_MINUTE: Final = BarType.time(Timeframe.ONE_MINUTE)


def synthetic_trades(count: int, seed: int = 7) -> npt.NDArray[Any]:
    """``count`` trades over 30 days, more at some hours of the day than at others."""
    rng = np.random.default_rng(seed)
    minutes = DAYS * 24 * 60
    minute_of_day = np.arange(minutes) % (24 * 60)
    weight = 1.0 + 0.33 * np.sin(2 * np.pi * minute_of_day / (24 * 60))
    per_minute = rng.multinomial(count, weight / weight.sum())
    minute = np.repeat(np.arange(minutes, dtype=np.int64), per_minute)
    data = np.zeros(count, dtype=TRADE_DTYPE)
    offsets = rng.integers(0, NANOS_PER_MINUTE, count, dtype=np.int64)
    data["ts_event"] = np.sort(START_NS + minute * NANOS_PER_MINUTE + offsets)
    data["trade_id"] = np.arange(count, dtype=np.int64)
    cents = 4_000_000 + np.cumsum(rng.integers(-5, 6, count, dtype=np.int64))
    data["price"] = cents * (PRICE_SCALE // 100)
    data["quantity"] = rng.integers(1, 50_000, count, dtype=np.int64) * (QUANTITY_SCALE // 10**5)
    data["side"] = rng.integers(1, 3, count, dtype=np.int8)
    return data


def ignore(_bar: BarData) -> None:
    """A strategy that does nothing: what is measured is the aggregator."""


def best_rate(run: Callable[[], None], ticks: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return ticks / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = synthetic_trades(args.ticks)
    end_ns = START_NS + DAYS * NANOS_PER_DAY

    def close_bar_one_chunk() -> None:
        BarAggregator(INSTRUMENT, ONE_MINUTE, BarDataMode.ON_CLOSE_BAR, ignore).on_trades(data)

    def close_bar_driver() -> None:
        aggregator = BarAggregator(INSTRUMENT, ONE_MINUTE, BarDataMode.ON_CLOSE_BAR, ignore)
        chunks = (data[i : i + 100_000] for i in range(0, len(data), 100_000))
        HistoricalDriver(aggregator, START_NS, end_ns).run(chunks)

    def each_tick() -> None:
        BarAggregator(INSTRUMENT, ONE_MINUTE, BarDataMode.ON_EACH_TICK, ignore).on_trades(data)

    print(f"{args.ticks:,} ticks over {DAYS} days, best of {args.repeat}")
    for name, run in (
        ("on_trades ON_CLOSE_BAR 1m, one chunk", close_bar_one_chunk),
        ("HistoricalDriver ON_CLOSE_BAR 1m, 100k chunks", close_bar_driver),
        ("on_trades ON_EACH_TICK 1m, per tick", each_tick),
    ):
        print(f"{name:48} {best_rate(run, args.ticks, args.repeat) / 1e6:8.1f} M ticks/s")


if __name__ == "__main__":
    main()
