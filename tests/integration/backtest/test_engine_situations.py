"""The engine in market situations worked out by hand: every expected price is in the ticks."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pytest

from ticklane.backtest.engine import BacktestConfig, BacktestEngine, run_together
from ticklane.backtest.result import BacktestResult
from ticklane.bars.events import BarData, BarDataMode
from ticklane.config.accounts import AccountsConfig
from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId
from ticklane.strategy.base import Strategy
from ticklane.strategy.signal import HOLD, Signal

BTC = InstrumentId("binance", "BTCUSDT")
S = 10**9
MINUTE = 60 * S
T0 = 1_704_067_200 * S  # 2024-01-01T00:00:00Z, a minute boundary


def ticks(*rows: tuple[int, str]) -> np.ndarray:
    """(seconds after T0, price) -> trades with ids 1, 2, ..."""
    data = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (second, price) in enumerate(rows):
        data[i] = (T0 + second * S, i + 1, int(Decimal(price) * 10**9), 10**8, 1, False)
    return data


class Scripted(Strategy):
    """Calls ``decide`` with each event; the tests script the decisions."""

    name = "scripted"
    description = "test strategy"

    def __init__(self, mode: BarDataMode, decide: Callable[[BarData], Signal | None]) -> None:
        self.mode, self.decide = mode, decide
        self.closes: list[tuple[int, bool]] = []
        super().__init__()

    def bar_data_mode(self) -> BarDataMode:
        return self.mode

    def on_bar_data(self, bar_data: BarData) -> Signal:
        if bar_data.metadata.is_bar_closed:
            self.closes.append((bar_data.metadata.close_time, bar_data.metadata.is_synthetic))
        return self.decide(bar_data) or HOLD


def run(
    strategy: Strategy,
    data: np.ndarray,
    end_s: int,
    capital: str = "100000",
    fill: str = "next-tick",
) -> BacktestResult:
    config = BacktestConfig(
        instrument=BTC,
        start_ns=T0,
        end_ns=T0 + end_s * S,
        initial_capital=Decimal(capital),
        fill=fill,
        maker_fee_bps=Decimal(0),
        taker_fee_bps=Decimal(0),
    )
    return BacktestEngine(config, strategy, "test").run([TradeColumns(BTC, data)])


def test_signal_on_the_last_tick_of_a_bar_fills_at_the_first_tick_of_the_next() -> None:
    data = ticks((10, "100"), (59, "101"), (61, "105"), (70, "106"))
    buy_on_second_tick = Scripted(
        BarDataMode.ON_EACH_TICK,
        lambda e: Signal.buy(Decimal("1")) if e.has_tick and e.tick_trade_id == 2 else None,
    )
    result = run(buy_on_second_tick, data, end_s=120)
    assert [t for t in result.trades] == []  # still open: no round trip
    assert result.fills == 1
    # 101 was the deciding tick's price; 105 is the next tick, across the bar boundary.
    assert result.final_equity == Decimal("100000") - Decimal("105") + Decimal("106")


def test_order_decided_at_a_close_fills_after_a_gap_of_several_bars() -> None:
    data = ticks((5, "100"), (30, "102"), (245, "90"), (250, "91"))  # nothing from 1:00 to 4:05
    buy_at_first_close = Scripted(
        BarDataMode.ON_CLOSE_BAR,
        lambda e: Signal.buy(Decimal("2")) if e.ts_event == T0 + MINUTE else None,
    )
    result = run(buy_at_first_close, data, end_s=300)
    # The order waits through three synthetic bars and fills at the first trade after them.
    assert buy_at_first_close.closes == [
        (T0 + MINUTE, False),
        (T0 + 2 * MINUTE, True),
        (T0 + 3 * MINUTE, True),
        (T0 + 4 * MINUTE, True),
        (T0 + 5 * MINUTE, False),
    ]
    assert result.final_equity == Decimal("100000") - 2 * Decimal("90") + 2 * Decimal("91")


def test_range_ending_mid_bar_leaves_the_last_bar_open() -> None:
    data = ticks((5, "100"), (65, "101"), (125, "102"))
    strategy = Scripted(BarDataMode.ON_CLOSE_BAR, lambda e: None)
    run(strategy, data, end_s=150)
    assert [close for close, _ in strategy.closes] == [T0 + MINUTE, T0 + 2 * MINUTE]


def test_buy_beyond_the_capital_is_rejected_with_the_reason() -> None:
    data = ticks((5, "100"), (65, "101"), (70, "102"))
    buy_too_much = Scripted(
        BarDataMode.ON_CLOSE_BAR,
        lambda e: Signal.buy(Decimal("50")) if e.ts_event == T0 + MINUTE else None,
    )
    result = run(buy_too_much, data, end_s=120, capital="1000")
    assert result.fills == 0 and result.rejected == 1
    assert list(result.rejections) == ["insufficient funds"]
    assert result.final_equity == Decimal("1000")


def test_limit_buy_below_the_market_fills_only_when_a_trade_prints_through_it() -> None:
    data = ticks((5, "100"), (65, "99"), (70, "97.5"), (80, "96"), (90, "98"))
    limit_at_97_5 = Scripted(
        BarDataMode.ON_CLOSE_BAR,
        lambda e: (
            Signal.buy(Decimal("1"), limit_price=Decimal("97.5"))
            if e.ts_event == T0 + MINUTE
            else None
        ),
    )
    result = run(limit_at_97_5, data, end_s=120)
    assert result.fills == 1
    # Filled at its limit (97.5, the first trade at or below it), not at 99 or at 96.
    assert result.final_equity == Decimal("100000") - Decimal("97.5") + Decimal("98")


def test_optimistic_bar_close_fill_uses_the_signal_bars_close() -> None:
    data = ticks((5, "100"), (50, "103"), (65, "110"), (70, "111"))
    buy_at_first_close = Scripted(
        BarDataMode.ON_CLOSE_BAR,
        lambda e: Signal.buy(Decimal("1")) if e.ts_event == T0 + MINUTE else None,
    )
    optimistic = run(buy_at_first_close, data, end_s=120, fill="bar-close")
    assert optimistic.final_equity == Decimal("100000") - Decimal("103") + Decimal("111")
    next_tick = run(Scripted(BarDataMode.ON_CLOSE_BAR, buy_at_first_close.decide), data, end_s=120)
    assert next_tick.final_equity == Decimal("100000") - Decimal("110") + Decimal("111")


def test_a_run_without_ticks_has_no_bars_and_no_trades() -> None:
    strategy = Scripted(BarDataMode.ON_CLOSE_BAR, lambda e: None)
    result = run(strategy, np.zeros(0, dtype=TRADE_DTYPE), end_s=600)
    assert (result.ticks, result.bars, result.total_trades) == (0, 0, 0)
    assert result.final_equity == Decimal("100000")


def test_buy_then_stop_loss_sells_at_the_first_tick_through_the_stop() -> None:
    data = ticks((1, "100"), (2, "101"), (3, "98"), (4, "95.5"), (5, "94.5"), (6, "93"), (7, "99"))

    def buy_then_protect(e: BarData) -> Signal | None:
        if not e.has_tick:
            return None
        if e.tick_trade_id == 1:
            return Signal.buy(Decimal("1"))  # fills at tick 2 (101)
        if e.tick_trade_id == 2:  # the buy has filled: protect it with a stop at 95
            return Signal.sell(Decimal("1"), stop_price=Decimal("95"), reason="stop-loss")
        return None

    result = run(Scripted(BarDataMode.ON_EACH_TICK, buy_then_protect), data, end_s=60)
    assert (result.fills, result.rejected) == (2, 0)
    [trade] = result.trades
    # 95.5 stays above the stop; 94.5 at 5 s is the first trade at or below 95 and the price
    # of the fill (not the stop, not the later 93).
    assert (trade.entry_price, trade.exit_price, trade.exit_ts) == (
        Decimal("101"),
        Decimal("94.5"),
        T0 + 5 * S,
    )
    assert result.final_equity == Decimal("100000") - Decimal("101") + Decimal("94.5")


def test_stop_loss_placed_at_a_bar_close_fills_inside_the_next_bar_at_the_crossing_tick() -> None:
    data = ticks(
        (5, "100"), (30, "100"), (65, "102"), (90, "101"),
        (125, "100"), (130, "98.5"), (150, "97"), (170, "100"),
    )  # fmt: skip

    def buy_then_protect(e: BarData) -> Signal | None:
        if e.ts_event == T0 + MINUTE:
            return Signal.buy(Decimal("1"))  # fills at 65 s (102)
        if e.ts_event == T0 + 2 * MINUTE:  # close 101: a stop-loss at 99
            return Signal.sell(Decimal("1"), stop_price=Decimal("99"))
        return None

    result = run(Scripted(BarDataMode.ON_CLOSE_BAR, buy_then_protect), data, end_s=180)
    [trade] = result.trades
    # The third bar's low is 97 and its close 100; the stop fills at 98.5, the tick at 130 s
    # that first went through 99.
    assert (trade.entry_price, trade.exit_price, trade.exit_ts) == (
        Decimal("102"),
        Decimal("98.5"),
        T0 + 130 * S,
    )
    assert result.final_equity == Decimal("100000") - Decimal("102") + Decimal("98.5")


class Alpha(Scripted):
    name = "alpha"


class Beta(Scripted):
    name = "beta"


def buy_one_at_first_close(e: BarData) -> Signal | None:
    return Signal.buy(Decimal("1")) if e.ts_event == T0 + MINUTE else None


def two_accounts_config(accounts: AccountsConfig) -> BacktestConfig:
    return BacktestConfig(
        instrument=BTC,
        start_ns=T0,
        end_ns=T0 + 180 * S,
        maker_fee_bps=Decimal(0),
        taker_fee_bps=Decimal(0),
        accounts=accounts,
    )


def test_two_strategies_on_two_accounts_trade_in_isolation() -> None:
    data = ticks((5, "100"), (65, "101"), (70, "102"), (125, "103"))
    accounts = AccountsConfig.with_default("MAIN", "USDT", 1000).add_simulation_account(
        "SMALL", "USDT", 50, strategies=["beta"]
    )
    config = two_accounts_config(accounts)
    alpha = BacktestEngine(config, Alpha(BarDataMode.ON_CLOSE_BAR, buy_one_at_first_close), "a")
    beta = BacktestEngine(config, Beta(BarDataMode.ON_EACH_TICK, buy_one_at_first_close), "b")
    [alpha_result, beta_result] = run_together(
        [alpha, beta], [TradeColumns(BTC, data[:2]), TradeColumns(BTC, data[2:])]
    )
    # alpha (default account, 1000 USDT) buys 1 BTC at the tick after the first close: 101
    assert (alpha_result.account_id, alpha_result.fills) == ("MAIN", 1)
    assert alpha_result.final_equity == Decimal(1000) - 101 + 103  # marked at the last close
    # beta (its own account, 50 USDT) cannot pay for it, whatever alpha holds
    assert (beta_result.account_id, beta_result.fills, beta_result.rejected) == ("SMALL", 0, 1)
    assert list(beta_result.rejections) == ["insufficient funds"]
    assert beta_result.final_equity == Decimal(50)
    # each result is the one its strategy gets alone
    alone = BacktestEngine(
        config, Alpha(BarDataMode.ON_CLOSE_BAR, buy_one_at_first_close), "a"
    ).run([TradeColumns(BTC, data)])
    assert alone.to_json() == alpha_result.to_json()


def test_two_strategies_on_one_account_are_refused_before_any_work() -> None:
    config = two_accounts_config(AccountsConfig.with_default("MAIN", "USDT", 1000))
    engines = [
        BacktestEngine(config, Alpha(BarDataMode.ON_CLOSE_BAR, buy_one_at_first_close), "a"),
        BacktestEngine(config, Beta(BarDataMode.ON_CLOSE_BAR, buy_one_at_first_close), "b"),
    ]
    with pytest.raises(BadDataError, match="alpha and beta both trade account 'MAIN'"):
        run_together(engines, [])


def test_a_failing_strategy_stops_its_own_run_and_not_the_others() -> None:
    data = ticks((5, "100"), (65, "101"), (125, "103"))
    accounts = AccountsConfig.with_default("MAIN", "USDT", 1000).add_simulation_account(
        "OTHER", "USDT", 1000, strategies=["beta"]
    )
    config = two_accounts_config(accounts)

    def fail_at_second_close(e: BarData) -> Signal | None:
        if e.ts_event == T0 + 2 * MINUTE:
            raise ValueError("bad maths")
        return None

    alpha = BacktestEngine(config, Alpha(BarDataMode.ON_CLOSE_BAR, fail_at_second_close), "a")
    beta = BacktestEngine(config, Beta(BarDataMode.ON_CLOSE_BAR, buy_one_at_first_close), "b")
    [failed, fine] = run_together([alpha, beta], [TradeColumns(BTC, data)])
    assert failed.error is not None and failed.error.message == "ValueError: bad maths"
    assert failed.error.ts_event == T0 + 2 * MINUTE
    assert (failed.ticks, fine.ticks) == (2, 3)  # the failed run took the ticks before the close
    assert fine.error is None and fine.fills == 1 and fine.bars == 3


def test_a_strategy_failing_on_a_tick_counts_the_ticks_up_to_that_one() -> None:
    data = ticks((5, "100"), (65, "101"), (70, "102"), (125, "103"))

    def fail_on_the_third_trade(e: BarData) -> Signal | None:
        if e.has_tick and e.tick_trade_id == 3:
            raise ValueError("bad tick")
        return None

    result = run(Scripted(BarDataMode.ON_EACH_TICK, fail_on_the_third_trade), data, end_s=180)
    assert result.error is not None and result.error.tick_trade_id == 3
    assert result.ticks == 3
