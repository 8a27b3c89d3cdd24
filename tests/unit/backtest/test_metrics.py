"""Backtest metrics on small equity curves and trade lists worked out by hand."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import msgspec
import pytest

from ticklane.backtest.metrics import (
    Metrics,
    compute_metrics,
    periods_per_year,
    portfolio_metrics,
    sharpe_ratio,
    sortino_ratio,
)
from ticklane.backtest.portfolio import Portfolio, Trade
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId

BTC = InstrumentId("binance", "BTCUSDT")
MINUTE = 60 * 10**9
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
ONE_HOUR = BarType.time(Timeframe.ONE_HOUR)
ONE_DAY = BarType.time(Timeframe.ONE_DAY)

D = Decimal


def curve(*equities: str, step: int = HOUR) -> list[tuple[int, Decimal]]:
    """Marks at bar closes T0 + step, T0 + 2 step, ... (the run starts at T0)."""
    return [(T0 + (i + 1) * step, D(e)) for i, e in enumerate(equities)]


def trade(pnl: str) -> Trade:
    return Trade(
        instrument=BTC,
        quantity=D(1),
        entry_ts=T0,
        entry_price=D(100),
        exit_ts=T0 + HOUR,
        exit_price=D(100) + D(pnl),
        pnl=D(pnl),
        fees=D(0),
        return_pct=float(pnl),
    )


def metrics_of(points: list[tuple[int, Decimal]], bar_type: BarType = ONE_HOUR) -> Metrics:
    return compute_metrics(points, [], D(0), bar_type, D(1000))


def test_hourly_curve_up_down_up_up_matches_hand_computed_metrics() -> None:
    # E0 = 1000 (initial cash), then 1100, 990, 1089, 1306.8
    # r = 1100/1000-1, 990/1100-1, 1089/990-1, 1306.8/1089-1 = 0.1, -0.1, 0.1, 0.2
    m = metrics_of(curve("1100", "990", "1089", "1306.8"))
    # total return = 1306.8 / 1000 - 1 = 0.3068
    assert m.total_return == pytest.approx(0.3068, rel=1e-15)
    # mean = 0.3 / 4 = 0.075; deviations 0.025, -0.175, 0.025, 0.125
    # squares 0.000625 + 0.030625 + 0.000625 + 0.015625 = 0.0475; sample var = 0.0475 / 3
    # stdev = sqrt(0.015833...) = 0.125830574; P = 365 * 24 = 8760; sqrt(P) = 93.594872
    # sharpe = 0.075 / 0.125830574 * 93.594872 = 0.596040 * 93.594872 = 55.786246
    assert m.sharpe_ratio == pytest.approx(55.786246, rel=1e-7)
    # downside: only -0.1 counts: DD = sqrt(0.01 / 4) = 0.05; sortino = 0.075 / 0.05 * 93.594872
    assert m.sortino_ratio == pytest.approx(1.5 * 93.594872, rel=1e-7)
    # peak 1100 at t1, trough 990: depth 110 / 1100 = 0.1; 1089 still below, 1306.8 recovers at
    # t4: 3 bars, 3 hours
    assert m.max_drawdown == pytest.approx(0.1, rel=1e-15)
    assert (m.max_drawdown_duration_bars, m.max_drawdown_duration_ns) == (3, 3 * HOUR)
    # annualized = 1.3068 ** (8760 / 4) - 1
    assert m.annualized_return == pytest.approx(1.3068 ** (8760 / 4) - 1, rel=1e-9)
    assert m.final_equity == D("1306.8")


def test_drawdown_never_recovered_runs_to_the_last_point() -> None:
    # peak 1200 at t1; 900 is the trough: (1200 - 900) / 1200 = 0.25; 1100 at t4 is still below
    m = metrics_of(curve("1200", "900", "1000", "1100"))
    assert m.max_drawdown == pytest.approx(0.25, rel=1e-15)
    assert (m.max_drawdown_duration_bars, m.max_drawdown_duration_ns) == (3, 3 * HOUR)


def test_loss_in_the_first_bar_is_a_drawdown_from_initial_cash_at_the_runs_start() -> None:
    # E0 = 1000 at T0 (first bar's open), 900 at T0 + 1h, back to 1000 at T0 + 2h
    m = metrics_of(curve("900", "1000", "1000"))
    assert m.max_drawdown == pytest.approx(0.1, rel=1e-15)  # 100 / 1000
    assert (m.max_drawdown_duration_bars, m.max_drawdown_duration_ns) == (2, 2 * HOUR)


def test_deepest_drawdown_and_longest_drawdown_can_be_different_periods() -> None:
    # 1000 -> 700 (30 % deep, 1 bar to recover at 1000) -> 1000 -> 950, 960, 970, 990 (5 %, 4
    # bars, never recovered)
    m = metrics_of(curve("700", "1000", "950", "960", "970", "990"))
    assert m.max_drawdown == pytest.approx(0.3, rel=1e-15)
    # the second period: peak 1000 at t2, underwater to the end at t6
    assert (m.max_drawdown_duration_bars, m.max_drawdown_duration_ns) == (4, 4 * HOUR)


def test_rising_curve_has_no_drawdown_and_no_sortino() -> None:
    m = metrics_of(curve("1010", "1030", "1030", "1040"))
    assert (m.max_drawdown, m.max_drawdown_duration_ns, m.max_drawdown_duration_bars) == (0, 0, 0)
    assert m.sortino_ratio is None  # no losing period: downside deviation 0
    assert m.sharpe_ratio is not None


def test_flat_curve_has_no_sharpe_because_stdev_is_zero() -> None:
    # every return is exactly 10 %: the stdev is 0, not a float crumb
    m = metrics_of(curve("1100", "1210", "1331", "1464.1"))
    assert m.sharpe_ratio is None
    assert m.sortino_ratio is None


def test_profit_factor_with_losses_is_gross_profit_over_gross_loss() -> None:
    trades = [trade("30"), trade("-10"), trade("20"), trade("-5"), trade("0")]
    m = compute_metrics(curve("1035"), trades, D("1.5"), ONE_HOUR, D(1000))
    assert m.profit_factor == pytest.approx(50 / 15, rel=1e-15)  # (30 + 20) / (10 + 5)
    assert (m.total_trades, m.winning_trades, m.losing_trades) == (5, 2, 2)  # 0 is neither
    assert m.win_rate == pytest.approx(2 / 5)
    assert m.average_trade == D("7")  # 35 / 5
    assert (m.best_trade, m.worst_trade) == (D("30"), D("-10"))
    assert m.fees_paid == D("1.5")


def test_profit_factor_without_losses_is_none_and_with_only_losses_is_zero() -> None:
    winners = compute_metrics(curve("1010"), [trade("10"), trade("0")], D(0), ONE_HOUR, D(1000))
    assert winners.profit_factor is None
    assert winners.win_rate == 0.5
    losers = compute_metrics(curve("990"), [trade("-10")], D(0), ONE_HOUR, D(1000))
    assert losers.profit_factor == 0.0
    assert losers.win_rate == 0.0


def test_sharpe_and_sortino_match_a_direct_computation_on_an_irregular_curve() -> None:
    equities = ["1003", "997.5", "1012.25", "1008", "1020.75", "1001", "1033.3", "1029.9"]
    previous = [1000.0] + [float(e) for e in equities[:-1]]
    returns = [float(D(e) / D(str(p)) - 1) for e, p in zip(equities, previous, strict=True)]
    m = metrics_of(curve(*equities))
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(8760)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    sortino = statistics.mean(returns) / downside * math.sqrt(8760)
    assert m.sharpe_ratio == pytest.approx(sharpe, rel=1e-12)
    assert m.sortino_ratio == pytest.approx(sortino, rel=1e-12)
    assert sharpe_ratio(returns, 8760) == m.sharpe_ratio
    assert sortino_ratio(returns, 8760) == m.sortino_ratio


@pytest.mark.parametrize(
    ("timeframe", "per_year"),
    [
        (Timeframe.ONE_MINUTE, 525_600),  # 365 * 24 * 60 / 1
        (Timeframe.ONE_HOUR, 8_760),  # 365 * 24 * 60 / 60
        (Timeframe.ONE_DAY, 365),  # 365 * 24 * 60 / 1440
        (Timeframe.ONE_WEEK, 365 / 7),
    ],
)
def test_periods_per_year_for_time_bars_use_a_365_day_calendar(
    timeframe: Timeframe, per_year: float
) -> None:
    assert periods_per_year(BarType.time(timeframe), []) == pytest.approx(per_year, rel=1e-15)


def test_annualized_return_of_the_same_curve_scales_with_the_bar_width() -> None:
    # 10 bars ending 10 % up: annualized = 1.1 ** (P / 10) - 1
    points = curve(*(["1000"] * 9 + ["1100"]))
    daily = compute_metrics(points, [], D(0), ONE_DAY, D(1000))
    hourly = compute_metrics(points, [], D(0), ONE_HOUR, D(1000))
    minutely = compute_metrics(points, [], D(0), BarType.time(Timeframe.ONE_MINUTE), D(1000))
    assert daily.annualized_return == pytest.approx(1.1**36.5 - 1, rel=1e-12)  # 365 / 10
    assert hourly.annualized_return == pytest.approx(1.1**876 - 1, rel=1e-12)  # 8760 / 10
    assert minutely.annualized_return is None  # 1.1 ** 52560 overflows a float


def test_a_year_of_daily_bars_ending_ten_percent_up_annualizes_to_ten_percent() -> None:
    points = curve(*(["1000"] * 364 + ["1100"]), step=DAY)
    m = compute_metrics(points, [], D(0), ONE_DAY, D(1000))
    assert m.annualized_return == pytest.approx(0.1, rel=1e-12)


def test_tick_bars_annualize_over_the_curves_elapsed_wall_time() -> None:
    # three marks one day apart: P = (3 - 1) * 365 days / 2 days = 365 bars a year
    points = curve("1000", "1000", "1100", step=DAY)
    tick_bars = BarType.ticks(100)
    times = [ts for ts, _ in points]
    assert periods_per_year(tick_bars, times) == pytest.approx(365, rel=1e-15)
    m = compute_metrics(points, [], D(0), tick_bars, D(1000))
    assert m.annualized_return == pytest.approx(1.1 ** (365 / 3) - 1, rel=1e-12)
    assert periods_per_year(tick_bars, times[:1]) is None


def test_empty_curve_gives_none_ratios_and_initial_equity() -> None:
    m = compute_metrics([], [], D(0), ONE_HOUR, D(1000))
    assert m.total_return == 0.0
    assert (m.annualized_return, m.sharpe_ratio, m.sortino_ratio) == (None, None, None)
    assert (m.max_drawdown, m.max_drawdown_duration_ns, m.max_drawdown_duration_bars) == (0, 0, 0)
    assert (m.win_rate, m.profit_factor, m.average_trade, m.best_trade) == (None,) * 4
    assert m.final_equity == D(1000)


@pytest.mark.parametrize("bar_type", [ONE_HOUR, BarType.ticks(50)])
def test_one_point_curve_gives_none_ratios_not_a_crash(bar_type: BarType) -> None:
    m = compute_metrics(curve("950"), [], D(0), bar_type, D(1000))
    assert (m.sharpe_ratio, m.sortino_ratio) == (None, None)  # a single return
    assert m.total_return == pytest.approx(-0.05, rel=1e-15)
    assert m.max_drawdown == pytest.approx(0.05, rel=1e-15)


def test_curve_out_of_time_order_is_refused() -> None:
    with pytest.raises(BadDataError, match="time order"):
        metrics_of([(T0 + HOUR, D(1000)), (T0, D(1000))])


def test_metrics_encode_to_json_and_back_and_the_same_input_gives_the_same_bytes() -> None:
    points = curve("1100", "990", "1089", "1306.8")
    trades = [trade("30"), trade("-10")]
    m = compute_metrics(points, trades, D("2.25"), ONE_HOUR, D(1000), exposure=0.75)
    encoded = msgspec.json.encode(m)
    assert msgspec.json.decode(encoded, type=Metrics) == m
    as_dict = msgspec.json.decode(encoded)
    assert (as_dict["fees_paid"], as_dict["final_equity"]) == ("2.25", "1306.8")
    assert as_dict["exposure"] == 0.75
    again = compute_metrics(list(points), list(trades), D("2.25"), ONE_HOUR, D(1000), exposure=0.75)
    assert msgspec.json.encode(again) == encoded


def test_portfolio_metrics_reads_curve_trades_fees_and_exposure_from_the_portfolio() -> None:
    book = Portfolio(D(1000), "USDT")
    book.mark(T0 + HOUR, BTC, D(100))
    book.mark(T0 + 2 * HOUR, BTC, D(101))
    m = portfolio_metrics(book, ONE_HOUR)
    assert (m.exposure, m.total_trades, m.fees_paid, m.final_equity) == (0.0, 0, D(0), D(1000))
