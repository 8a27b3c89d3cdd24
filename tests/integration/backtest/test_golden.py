"""The engine against an independent, deliberately simple reference implementation.

A seeded synthetic day of trades runs through the engine (SMA crossover 5/15 on 1-minute bars,
fixed 0.01 BTC orders, next-tick fills, 10 bps fees); the reference below recomputes the same
thing with plain loops and no ticklane code but the data, and both must agree on every fill
and on the final equity to the cent.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from ticklane.backtest.engine import BacktestConfig, BacktestEngine
from ticklane.bars.events import BarDataMode
from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.identifiers import InstrumentId
from ticklane.strategy.registry import create_strategy, strategy_hash
from ticklane.strategy.sma import SmaCrossover

BTC = InstrumentId("binance", "BTCUSDT")
MINUTE = 60 * 10**9
START = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
QTY = Decimal("0.01")
FEE = Decimal("0.001")  # 10 bps
CAPITAL = Decimal("100000")


def synthetic_day(seed: int) -> np.ndarray:
    """~4 trades a minute for 24 h, with quiet gaps of a few minutes, prices with 2 decimals."""
    rng = np.random.default_rng(seed)
    per_minute = rng.poisson(4, size=24 * 60)
    per_minute[rng.choice(24 * 60, size=40, replace=False)] = 0  # gaps of single minutes
    minute = np.repeat(np.arange(24 * 60), per_minute)
    ts = np.sort(START + minute * MINUTE + rng.integers(0, MINUTE, size=len(minute)))
    cents = 4_000_000 + np.cumsum(rng.integers(-300, 301, size=len(ts)))
    data = np.zeros(len(ts), dtype=TRADE_DTYPE)
    data["ts_event"] = ts
    data["trade_id"] = np.arange(1, len(ts) + 1)
    data["price"] = cents * 10_000_000  # cents -> 1e-9 scale
    data["quantity"] = 100_000
    data["side"] = 1
    return data


def reference_backtest(
    data: np.ndarray, end: int, short: int, long: int
) -> tuple[list[tuple[int, str, Decimal]], Decimal]:
    """Fills (ts, side, price) and final equity, computed the simplest way there is."""
    ticks = [
        (int(t), Decimal(int(p)) / 10**9)
        for t, p in zip(data["ts_event"], data["price"], strict=True)
    ]
    # 1. One-minute bars from the first tick's minute; an empty minute repeats the last close.
    closes: list[tuple[int, Decimal]] = []
    bar_open = ticks[0][0] // MINUTE * MINUTE
    index, last = 0, ticks[0][1]
    while bar_open + MINUTE <= end:
        while index < len(ticks) and ticks[index][0] < bar_open + MINUTE:
            last = ticks[index][1]
            index += 1
        closes.append((bar_open + MINUTE, last))
        bar_open += MINUTE
    # 2. Crossovers of plain means: a sign change of short-minus-long between closes
    #    (a zero difference keeps the previous side; the first ready bar only sets the side).
    signals: list[tuple[int, str]] = []
    side = 0
    for n in range(long, len(closes) + 1):
        window = [float(price) for _, price in closes[n - long : n]]
        diff = sum(window[-short:]) / short - sum(window) / long
        new_side = 1 if diff > 0 else -1 if diff < 0 else 0
        if new_side and side and new_side != side:
            signals.append((closes[n - 1][0], "buy" if new_side > 0 else "sell"))
        side = new_side or side
    # 3. Each order fills at the first trade at or after its signal's close.
    cash, position, fills = CAPITAL, Decimal(0), []
    last_price_at: list[tuple[int, Decimal]] = list(closes)
    for close_time, action in signals:
        fill = next(((t, p) for t, p in ticks if t >= close_time), None)
        if fill is None:
            continue
        ts, price = fill
        notional = QTY * price
        if action == "buy":
            cash -= notional + notional * FEE
            position += QTY
        elif position >= QTY:  # no short selling: a sell while flat is refused
            cash += notional - notional * FEE
            position -= QTY
        else:
            continue
        fills.append((ts, action, price))
        last_price_at.append((ts, price))
    # 4. Equity at the end: cash plus the position at the latest known price (mark or fill).
    latest = max(last_price_at, key=lambda item: item[0])[1]
    return fills, cash + position * latest


def run_engine(data: np.ndarray, end: int, strategy: object, chunk: int = 1_000) -> object:
    config = BacktestConfig(instrument=BTC, start_ns=START, end_ns=end, initial_capital=CAPITAL)
    engine = BacktestEngine(config, strategy, strategy_hash(strategy))  # type: ignore[arg-type]
    chunks = [TradeColumns(BTC, data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return engine.run(chunks)


def sma(short: int, long: int) -> SmaCrossover:
    strategy = create_strategy(
        "sma", {"short_period": short, "long_period": long, "quantity": str(QTY)}
    )
    assert isinstance(strategy, SmaCrossover)
    return strategy


def test_engine_matches_the_simple_reference_to_the_cent() -> None:
    data = synthetic_day(seed=11)
    end = START + 24 * 60 * MINUTE
    result = run_engine(data, end, sma(5, 15))
    fills, equity = reference_backtest(data, end, 5, 15)
    assert len(fills) > 20, "the dataset should trade"
    trades = result.trades  # type: ignore[attr-defined]
    buys = [f for f in fills if f[1] == "buy"]
    assert result.fills == len(fills)  # type: ignore[attr-defined]
    assert [t.entry_price for t in trades] == [p for _, _, p in buys][: len(trades)]
    assert [t.entry_ts for t in trades] == [t for t, _, _ in buys][: len(trades)]
    cents = Decimal("0.01")
    assert result.final_equity.quantize(cents) == equity.quantize(cents)  # type: ignore[attr-defined]


def test_same_input_gives_the_same_result_bit_for_bit() -> None:
    data = synthetic_day(seed=3)
    end = START + 24 * 60 * MINUTE
    first = run_engine(data, end, sma(5, 15)).to_json()  # type: ignore[attr-defined]
    second = run_engine(data, end, sma(5, 15)).to_json()  # type: ignore[attr-defined]
    assert first == second


class SmaCalledOnEveryTick(SmaCrossover):
    def bar_data_mode(self) -> BarDataMode:
        return BarDataMode.ON_EACH_TICK


def test_per_tick_and_per_bar_run_loops_trade_identically() -> None:
    data = synthetic_day(seed=5)
    end = START + 24 * 60 * MINUTE
    per_bar = run_engine(data, end, sma(5, 15))
    per_tick_strategy = SmaCalledOnEveryTick()
    per_tick_strategy.initialize({"short_period": 5, "long_period": 15, "quantity": str(QTY)})
    per_tick = run_engine(data, end, per_tick_strategy)
    assert per_tick.fills == per_bar.fills  # type: ignore[attr-defined]
    assert per_tick.trades == per_bar.trades  # type: ignore[attr-defined]
    assert per_tick.final_equity == per_bar.final_equity  # type: ignore[attr-defined]
    assert per_tick.equity_curve == per_bar.equity_curve  # type: ignore[attr-defined]


def test_late_trades_fill_the_same_orders_however_the_ticks_are_chunked() -> None:
    data = synthetic_day(seed=8)
    late = np.random.default_rng(8).choice(np.arange(1, len(data)), size=40, replace=False)
    data["ts_event"][late] -= 90 * 10**9  # stamped 90 s before the trade ahead of them
    end = START + 24 * 60 * MINUTE
    results = [run_engine(data, end, sma(5, 15), chunk) for chunk in (1, 37, 1_000, len(data))]
    assert results[0].fills > 50  # type: ignore[attr-defined]
    for other in results[1:]:
        assert other.to_json() == results[0].to_json()  # type: ignore[attr-defined]


class FailsAtNoon(SmaCrossover):
    def on_bar_data(self, bar_data):  # type: ignore[no-untyped-def]
        if bar_data.metadata.is_bar_closed and bar_data.ts_event >= START + 12 * 60 * MINUTE:
            raise ZeroDivisionError("division by zero in my indicator")
        return super().on_bar_data(bar_data)


def test_strategy_raising_mid_run_stops_with_the_bar_and_keeps_the_partial_result() -> None:
    data = synthetic_day(seed=11)
    strategy = FailsAtNoon()
    strategy.initialize({"short_period": 5, "long_period": 15, "quantity": str(QTY)})
    result = run_engine(data, START + 24 * 60 * MINUTE, strategy)
    error = result.error  # type: ignore[attr-defined]
    assert error is not None and "ZeroDivisionError" in error.message
    assert error.ts_event == START + 12 * 60 * MINUTE  # the noon bar's close
    assert error.bar_open_time == START + 12 * 60 * MINUTE - MINUTE
    assert 0 < result.bars <= 12 * 60  # type: ignore[attr-defined]
    # the ticks counted are those the run took: up to the noon bar's close, not whole chunks
    taken = int(np.searchsorted(data["ts_event"], error.ts_event))
    assert result.ticks == taken < len(data)  # type: ignore[attr-defined]


def test_live_engine_fed_one_trade_at_a_time_trades_as_the_backtest() -> None:
    # Paper trading drives the same engine trade by trade with a clock; with the clock at the
    # range end it must have done exactly what the backtest did.
    data = synthetic_day(seed=9)
    end = START + 24 * 60 * MINUTE
    backtest = run_engine(data, end, sma(5, 15))
    strategy = sma(5, 15)
    config = BacktestConfig(instrument=BTC, start_ns=START, end_ns=end, initial_capital=CAPITAL)
    live = BacktestEngine(config, strategy, strategy_hash(strategy), live=True)
    orders, fills = [], []
    live.on_order = lambda order, outcome: orders.append(order.client_order_id)
    live.on_fill = fills.append
    live.start()
    for ts, trade_id, price, quantity, side, _ in data.tolist():
        live.on_trade(ts, price, quantity, side, trade_id)
    live.advance_to(end)
    result = live.snapshot()
    assert len(fills) == result.fills == backtest.fills  # type: ignore[attr-defined]
    assert len(orders) == result.orders == backtest.orders  # type: ignore[attr-defined]
    assert result.trades == backtest.trades  # type: ignore[attr-defined]
    assert result.final_equity == backtest.final_equity  # type: ignore[attr-defined]
    assert result.equity_curve == backtest.equity_curve  # type: ignore[attr-defined]
