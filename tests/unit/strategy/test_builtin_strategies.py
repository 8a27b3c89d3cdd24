"""The built-in strategies on hand-made price paths whose signal bars are worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ticklane.bars.events import BarData, BarDataMode
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.errors import BadDataError
from ticklane.strategy.base import Strategy
from ticklane.strategy.bollinger import BollingerReversion
from ticklane.strategy.macd import MacdCrossover
from ticklane.strategy.registry import BUILTIN_STRATEGIES, create_strategy
from ticklane.strategy.rsi import RsiStrategy
from ticklane.strategy.signal import HOLD, Action, Signal
from ticklane.strategy.sma import SmaCrossover

from strategy_feed import INSTRUMENT, MINUTE_BARS, bar_close, run_closes, signals_of, tick

BUY, SELL = Action.BUY, Action.SELL

# short SMA(2) - long SMA(3) per bar: -, -, 0, -.17, -.5, -.17, +.67, +.83, 0, -1
SMA_PATH: list[float] = [10, 10, 10, 9, 8, 9, 11, 12, 10, 8]
# RSI(2): bar 2 -> 0, 3 -> 50, 4 -> 75, 5 -> 87.5, 6 -> 43.75, 7 -> 21.9, 8 -> 10.9
RSI_PATH: list[float] = [10, 9, 8, 9, 10, 11, 10, 9, 8]
# MACD(2, 3, 2) histogram: bar 6 -0.051, bar 7 +0.077 (MACD -0.110 over signal -0.188),
# bar 10 +0.056, bar 11 -0.049 (MACD 0.417 under signal 0.466)
MACD_PATH: list[float] = [10, 10, 10, 10, 9, 8, 7, 8, 10, 12, 13, 13, 12, 10]
# Bollinger(3, k=1): bar 4 window 10, 10, 7: mean 9, std 1.41, lower 7.59 > close 7;
# bar 6 window 7, 8, 10: middle 8.33 < close 10
BOLLINGER_PATH: list[float] = [10, 10, 10, 10, 7, 8, 10, 11]


def sma(**params: object) -> Strategy:
    return create_strategy("sma", {"short_period": 2, "long_period": 3, **params})


def test_sma_buys_on_the_bar_where_short_crosses_above_long() -> None:
    assert run_closes(sma(), SMA_PATH)[0] == (6, BUY)


def test_sma_sells_on_the_bar_where_short_crosses_below_long_after_touching() -> None:
    # bar 8 ties (short == long), which is no side; the cross is seen on bar 9
    assert run_closes(sma(), SMA_PATH) == [(6, BUY), (9, SELL)]


def test_sma_first_full_bar_only_establishes_the_side() -> None:
    assert run_closes(sma(), [10, 11, 12, 13, 14]) == []


def test_rsi_buys_once_while_oversold_and_sells_when_overbought() -> None:
    strategy = create_strategy("rsi", {"period": 2, "oversold": 30, "overbought": 70})
    # bar 5 (87.5) is overbought but already flat; bar 8 (10.9) oversold but already long
    assert run_closes(strategy, RSI_PATH) == [(2, BUY), (4, SELL), (7, BUY)]


def test_rsi_never_sells_without_having_bought() -> None:
    strategy = create_strategy("rsi", {"period": 2})
    assert run_closes(strategy, [1, 2, 3, 4, 5, 6]) == []  # RSI 100 throughout


def test_macd_buys_on_the_bar_where_macd_crosses_above_signal_and_sells_on_the_way_down() -> None:
    strategy = create_strategy("macd", {"fast_period": 2, "slow_period": 3, "signal_period": 2})
    assert run_closes(strategy, MACD_PATH) == [(7, BUY), (11, SELL)]


def test_bollinger_buys_below_the_lower_band_and_exits_above_the_middle() -> None:
    strategy = create_strategy("bollinger", {"period": 3, "k": 1})
    # bar 7 (11) is above the upper band but the strategy is flat and never shorts
    assert run_closes(strategy, BOLLINGER_PATH) == [(4, BUY), (6, SELL)]


PATHS: list[tuple[str, dict[str, object], list[float]]] = [
    ("sma", {"short_period": 2, "long_period": 3}, SMA_PATH),
    ("rsi", {"period": 2}, RSI_PATH),
    ("macd", {"fast_period": 2, "slow_period": 3, "signal_period": 2}, MACD_PATH),
    ("bollinger", {"period": 3, "k": 1}, BOLLINGER_PATH),
]


@pytest.mark.parametrize(("name", "params", "path"), PATHS)
def test_mid_bar_ticks_are_ignored(name: str, params: dict[str, object], path: list[float]) -> None:
    strategy = create_strategy(name, params)
    data = BarData(INSTRUMENT, MINUTE_BARS)
    signals = []
    for index, close in enumerate(path):
        for wild in (close * 3, close / 4):
            assert strategy.on_bar_data(tick(data, wild)) is HOLD
        if (signal := strategy.on_bar_data(bar_close(data, close))) is not HOLD:
            signals.append((index, signal.action))
    assert signals == run_closes(create_strategy(name, params), path)


@pytest.mark.parametrize(("name", "params", "path"), PATHS)
def test_synthetic_bars_count_like_any_other_bar(
    name: str, params: dict[str, object], path: list[float]
) -> None:
    expected = run_closes(create_strategy(name, params), path)
    assert expected
    assert run_closes(create_strategy(name, params), path, synthetic=True) == expected


@pytest.mark.parametrize(("name", "params", "path"), PATHS)
def test_reset_replays_the_same_signals(
    name: str, params: dict[str, object], path: list[float]
) -> None:
    strategy = create_strategy(name, params)
    first = run_closes(strategy, path)
    strategy.reset()
    assert run_closes(strategy, path) == first


@pytest.mark.parametrize(("name", "params", "path"), PATHS)
def test_hold_is_the_shared_constant_and_signals_carry_the_configured_size(
    name: str, params: dict[str, object], path: list[float]
) -> None:
    signals = signals_of(create_strategy(name, {**params, "quantity": "0.5"}), path)
    holds = [s for s in signals if s.action is Action.HOLD]
    assert holds and all(s is HOLD for s in holds)
    trades = [s for s in signals if s.action is not Action.HOLD]
    assert trades and all((s.quantity, s.equity_fraction) == (Decimal("0.5"), None) for s in trades)
    by_fraction = signals_of(create_strategy(name, {**params, "equity_fraction": "0.25"}), path)
    assert {(s.quantity, s.equity_fraction) for s in by_fraction if s is not HOLD} == {
        (None, Decimal("0.25"))
    }


@pytest.mark.parametrize("cls", BUILTIN_STRATEGIES.values())
def test_builtins_run_on_bar_closes_of_the_bar_type_parameter(cls: type[Strategy]) -> None:
    strategy = cls()
    assert strategy.bar_data_mode() is BarDataMode.ON_CLOSE_BAR
    assert strategy.preferred_bar_type() == MINUTE_BARS
    strategy.initialize({"bar_type": "5m"})
    assert strategy.preferred_bar_type() == BarType.time(Timeframe.FIVE_MINUTES)
    strategy.initialize({"bar_type": "100-tick"})
    assert strategy.preferred_bar_type() == BarType.ticks(100)
    assert {"bar_type", "quantity", "equity_fraction"} <= {p.name for p in cls.parameters}


def test_an_unknown_parameter_is_refused_listing_the_allowed_names() -> None:
    with pytest.raises(BadDataError) as error:
        create_strategy("sma", {"shortperiod": 5})
    message = str(error.value)
    assert "shortperiod" in message
    assert "short_period, long_period, bar_type, quantity, equity_fraction" in message


def test_an_out_of_range_period_is_refused_naming_the_value_and_the_range() -> None:
    with pytest.raises(BadDataError, match=r"short_period: 0 is out of range \(must be >= 1\)"):
        create_strategy("sma", {"short_period": 0})
    with pytest.raises(BadDataError, match=r"overbought: 120 is out of range \(allowed 0 to 100\)"):
        create_strategy("rsi", {"overbought": 120})


@pytest.mark.parametrize(("short", "long"), [(30, 30), (40, 30)])
def test_sma_refuses_a_short_period_not_below_the_long_one(short: int, long: int) -> None:
    with pytest.raises(BadDataError, match=rf"short_period \({short}\).*long_period \({long}\)"):
        create_strategy("sma", {"short_period": short, "long_period": long})


def test_sma_checks_the_short_period_against_the_default_long_period() -> None:
    with pytest.raises(BadDataError, match=r"short_period \(30\).*long_period \(30\)"):
        create_strategy("sma", {"short_period": 30})


def test_rsi_refuses_levels_out_of_order_naming_both() -> None:
    with pytest.raises(BadDataError, match=r"oversold \(70\) < overbought \(30\)"):
        create_strategy("rsi", {"oversold": 70, "overbought": 30})
    with pytest.raises(BadDataError, match=r"oversold \(0\)"):
        create_strategy("rsi", {"oversold": 0})


def test_macd_refuses_a_fast_period_not_below_the_slow_one() -> None:
    with pytest.raises(BadDataError, match=r"fast_period \(26\).*slow_period \(26\)"):
        create_strategy("macd", {"fast_period": 26})


def test_bollinger_refuses_a_zero_band_width() -> None:
    with pytest.raises(BadDataError, match=r"parameter k: 0.0 must be > 0"):
        create_strategy("bollinger", {"k": 0})


def test_a_bad_bar_type_is_refused() -> None:
    with pytest.raises(BadDataError, match="bar_type: '7m' is not a valid bar_type"):
        create_strategy("macd", {"bar_type": "7m"})


def test_defaults_are_the_documented_ones() -> None:
    assert SmaCrossover().params["short_period"] == 10
    assert SmaCrossover().params["long_period"] == 30
    assert RsiStrategy().params["period"] == 14
    assert (RsiStrategy().params["oversold"], RsiStrategy().params["overbought"]) == (30, 70)
    macd = MacdCrossover().params
    assert (macd["fast_period"], macd["slow_period"], macd["signal_period"]) == (12, 26, 9)
    assert (BollingerReversion().params["period"], BollingerReversion().params["k"]) == (20, 2.0)


def test_default_sizing_is_the_whole_equity_fraction() -> None:
    signals = [s for s in signals_of(sma(), SMA_PATH) if s is not HOLD]
    assert signals[0] == Signal.buy(equity_fraction=Decimal("1"), reason=signals[0].reason)
