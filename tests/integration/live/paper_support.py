"""What the paper-trading tests share: the seeded synthetic day of the golden backtest test, a
replay that feeds a paper trader the way a live session would (trades between clock checks of
a simulated clock), and the backtest of the same ticks to compare with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from ticklane.backtest.engine import BacktestConfig, BacktestEngine
from ticklane.backtest.result import BacktestResult
from ticklane.config.settings import PaperTradingConfig
from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.identifiers import InstrumentId
from ticklane.core.records import TradeRecord
from ticklane.live.paper import PaperTrader
from ticklane.sim.events import OrderFilled, OrderRejected
from ticklane.strategy.registry import create_strategy, strategy_hash

BTC = InstrumentId("binance", "BTCUSDT")
SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
START = 1_704_067_200 * SECOND  # 2024-01-01T00:00:00Z
END = START + 24 * HOUR
CAPITAL = Decimal("100000")
SMA_PARAMS = {"short_period": 5, "long_period": 15, "quantity": "0.01"}
PAPER = PaperTradingConfig(enabled=True, strategy="sma", initial_capital=CAPITAL)


def synthetic_day(seed: int) -> np.ndarray:
    """~4 trades a minute for 24 h with quiet single minutes, prices with 2 decimals (the
    generator of tests/integration/backtest/test_golden.py)."""
    rng = np.random.default_rng(seed)
    per_minute = rng.poisson(4, size=24 * 60)
    per_minute[rng.choice(24 * 60, size=40, replace=False)] = 0
    minute = np.repeat(np.arange(24 * 60), per_minute)
    ts = np.sort(START + minute * MINUTE + rng.integers(0, MINUTE, size=len(minute)))
    cents = 4_000_000 + np.cumsum(rng.integers(-300, 301, size=len(ts)))
    data = np.zeros(len(ts), dtype=TRADE_DTYPE)
    data["ts_event"] = ts
    data["trade_id"] = np.arange(1, len(ts) + 1)
    data["price"] = cents * 10_000_000
    data["quantity"] = 100_000
    data["side"] = 1
    return data


def record(row: tuple[int, int, int, int, int, bool], symbol: str = "BTCUSDT") -> TradeRecord:
    ts, trade_id, price, quantity, side, _maker = row
    return TradeRecord("binance", symbol, ts, ts, trade_id, price, quantity, side)


async def replay(
    trader: PaperTrader,
    data: np.ndarray,
    clock_ns: int,
    end_ns: int | None = None,
    *,
    stop_when: Callable[[], bool] | None = None,
    between: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Feed ``data`` as live: the clock steps a second at a time with a check after each step,
    trades arrive between checks (as ``replay_as_live`` does for the bar driver), then the
    clock runs to ``end_ns``. Stops early after the first trade or clock check after which
    ``stop_when()`` is true. Yields to the event loop now and then, as a live feed does.
    Returns (trades fed, clock)."""
    now = clock_ns
    fed = 0
    for index, row in enumerate(data.tolist()):
        ts = row[0]
        while now + SECOND <= ts:
            now += SECOND
            trader.on_clock(now)
            if stop_when is not None and stop_when():
                return fed, now
        if between is not None:
            between(index)
        trader.on_trade(record(row))
        fed += 1
        if index % 200 == 0:
            await asyncio.sleep(0)
        if stop_when is not None and stop_when():
            return fed, now
    while end_ns is not None and now < end_ns:
        now = min(now + SECOND, end_ns)
        trader.on_clock(now)
    return fed, now


def backtest(data: np.ndarray) -> tuple[BacktestResult, list[OrderFilled]]:
    """The backtest of the same day with the same strategy, capital and fees; its fills."""
    strategy = create_strategy("sma", SMA_PARAMS)
    config = BacktestConfig(instrument=BTC, start_ns=START, end_ns=END, initial_capital=CAPITAL)
    engine = BacktestEngine(config, strategy, strategy_hash(strategy))
    fills: list[OrderFilled] = []

    def on_fill(event: OrderFilled | OrderRejected) -> None:
        if isinstance(event, OrderFilled):
            fills.append(event)

    engine.on_fill = on_fill
    chunks = [TradeColumns(BTC, data[i : i + 1_000]) for i in range(0, len(data), 1_000)]
    return engine.run(chunks), fills


async def until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Wait for ``condition`` with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
