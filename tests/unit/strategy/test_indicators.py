"""Indicators against plain whole-window computations on seeded random prices, and by hand."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from ticklane.core.errors import BadDataError
from ticklane.strategy.indicators import (
    CROSSED_ABOVE,
    CROSSED_BELOW,
    MACD,
    RSI,
    BollingerBands,
    Crossover,
    ExponentialMovingAverage,
    SimpleMovingAverage,
)


def random_walk(n: int, seed: int, start: float = 100.0, step: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    prices = [start]
    for _ in range(n - 1):
        prices.append(max(0.01, prices[-1] + rng.uniform(-step, step)))
    return prices


PRICES = random_walk(600, seed=7)


def reference_sma(values: list[float], period: int) -> list[float | None]:
    return [
        None if i + 1 < period else sum(values[i + 1 - period : i + 1]) / period
        for i in range(len(values))
    ]


def reference_ema(values: list[float], period: int) -> list[float | None]:
    alpha = 2 / (period + 1)
    out: list[float | None] = []
    ema = 0.0
    for i in range(len(values)):
        if i + 1 < period:
            out.append(None)
            continue
        ema = sum(values[:period]) / period if i + 1 == period else ema + alpha * (values[i] - ema)
        out.append(ema)
    return out


def reference_rsi(values: list[float], period: int) -> list[float | None]:
    changes = [b - a for a, b in itertools.pairwise(values)]
    out: list[float | None] = [None] * min(len(values), period)
    gain = sum(max(c, 0.0) for c in changes[:period]) / period
    loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    for i in range(period, len(values)):
        if i > period:
            change = changes[i - 1]
            gain = (gain * (period - 1) + max(change, 0.0)) / period
            loss = (loss * (period - 1) + max(-change, 0.0)) / period
        out.append(50.0 if gain + loss == 0 else 100 - 100 / (1 + gain / loss) if loss else 100.0)
    return out


def feed(
    indicator: SimpleMovingAverage | ExponentialMovingAverage | RSI, values: list[float]
) -> list[float | None]:
    out: list[float | None] = []
    for value in values:
        indicator.update(value)
        out.append(indicator.value)
        assert indicator.is_ready == (indicator.value is not None)
    return out


def assert_close(actual: list[float | None], expected: list[float | None]) -> None:
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert (a is None) == (e is None), f"index {i}: {a} vs {e}"
        if a is not None and e is not None:
            assert a == pytest.approx(e, rel=1e-9, abs=1e-9), f"index {i}"


@pytest.mark.parametrize("period", [1, 2, 5, 20, 50])
def test_sma_matches_the_mean_of_each_window(period: int) -> None:
    assert_close(feed(SimpleMovingAverage(period), PRICES), reference_sma(PRICES, period))


@pytest.mark.parametrize("period", [1, 3, 12, 26])
def test_ema_matches_an_sma_seeded_recursion(period: int) -> None:
    assert_close(feed(ExponentialMovingAverage(period), PRICES), reference_ema(PRICES, period))


def test_ema_by_hand_period_3_is_seeded_with_the_mean_then_halves_the_gap() -> None:
    # alpha = 2 / 4 = 0.5; seed = mean(1, 2, 3) = 2; then 2 + 0.5 * (4 - 2) = 3; 3 + 0.5 * 2 = 4
    assert feed(ExponentialMovingAverage(3), [1, 2, 3, 4, 5]) == [None, None, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_rsi_matches_wilders_recursion(period: int) -> None:
    assert_close(feed(RSI(period), PRICES), reference_rsi(PRICES, period))


def test_rsi_by_hand_period_2() -> None:
    # changes -1, -1: gains 0, losses 1 -> 0; +1: gain .5, loss .5 -> 50; +1: .75/.25 -> 75
    assert feed(RSI(2), [10, 9, 8, 9, 10]) == [None, None, 0.0, 50.0, 75.0]


def test_rsi_is_100_with_only_gains_and_50_when_flat() -> None:
    assert feed(RSI(3), [1, 2, 3, 4])[-1] == 100.0
    assert feed(RSI(3), [5, 5, 5, 5])[-1] == 50.0


def test_rsi_agrees_with_the_stockcharts_worked_example() -> None:
    # StockCharts' published RSI(14) table; they round the averages at each step, hence 0.1.
    closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89]
    closes += [46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64]
    published = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97]
    values = feed(RSI(14), closes)
    assert values[:14] == [None] * 14
    assert values[14:] == pytest.approx(published, abs=0.1)


def test_macd_matches_reference_emas_of_prices_and_of_the_macd_line() -> None:
    fast, slow, signal = reference_ema(PRICES, 12), reference_ema(PRICES, 26), 9
    line = [f - s for f, s in zip(fast, slow, strict=True) if f is not None and s is not None]
    signal_line = reference_ema(line, signal)
    macd = MACD(12, 26, 9)
    expected_line: list[float | None] = []
    expected_signal: list[float | None] = []
    for i, price in enumerate(PRICES):
        macd.update(price)
        j = i - 25  # index into the MACD line
        ready = j >= 0 and signal_line[j] is not None
        expected_line.append(line[j] if ready else None)
        expected_signal.append(signal_line[j] if ready else None)
        assert macd.is_ready == ready
        if ready:
            assert macd.histogram == pytest.approx(line[j] - signal_line[j])  # type: ignore[operator]
        assert macd.value == pytest.approx(expected_line[-1])
        assert macd.signal == pytest.approx(expected_signal[-1])
    assert sum(v is None for v in expected_line) == 26 + 9 - 2  # ready after slow + signal - 1


@pytest.mark.parametrize(("period", "k"), [(1, 2.0), (2, 1.0), (20, 2.0), (50, 2.5)])
def test_bollinger_matches_mean_and_population_std_of_each_window(period: int, k: float) -> None:
    bands = BollingerBands(period, k)
    for i, price in enumerate(PRICES):
        bands.update(price)
        if i + 1 < period:
            assert (bands.value, bands.upper, bands.lower, bands.is_ready) == (None,) * 3 + (False,)
            continue
        window = PRICES[i + 1 - period : i + 1]
        mean, std = statistics.fmean(window), statistics.pstdev(window)
        assert bands.middle == pytest.approx(mean, rel=1e-12)
        assert bands.std == pytest.approx(std, rel=1e-9, abs=1e-9)
        assert bands.upper == pytest.approx(mean + k * std, rel=1e-12)
        assert bands.lower == pytest.approx(mean - k * std, rel=1e-12)


def test_bollinger_by_hand_uses_the_population_std() -> None:
    bands = BollingerBands(4, 2.0)
    for price in [2, 4, 4, 6]:
        bands.update(price)
    # mean 4; squared deviations 4 + 0 + 0 + 4 = 8; population variance 8 / 4 = 2
    assert bands.middle == 4.0
    assert bands.std == pytest.approx(2**0.5)
    assert bands.upper == pytest.approx(4 + 2 * 2**0.5)


def test_bollinger_std_stays_accurate_for_large_prices_with_small_moves() -> None:
    # A sum of squares loses every digit here (1e18 squares, moves of 1e-3).
    prices = random_walk(5_000, seed=11, start=1e9, step=1e-3)
    bands = BollingerBands(20, 2.0)
    for price in prices:
        bands.update(price)
    assert bands.std == pytest.approx(statistics.pstdev(prices[-20:]), rel=1e-4)


def test_rolling_windows_do_not_drift_over_a_long_run() -> None:
    # Prices fall from 1e6 to ~1: without the exact re-sum the old magnitude's rounding stays.
    # (Checked: a plain running sum is off by 1.6e-10 relative here, plain Welford by 0.25%.)
    rng = random.Random(5)
    prices = [1e6 * 0.9997**i + rng.random() for i in range(40_000)]
    sma, bands = SimpleMovingAverage(30), BollingerBands(30, 2.0)
    for price in prices:
        sma.update(price)
        bands.update(price)
    assert sma.value == pytest.approx(statistics.fmean(prices[-30:]), rel=1e-12)
    assert bands.std == pytest.approx(statistics.pstdev(prices[-30:]), rel=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SimpleMovingAverage(5),
        lambda: ExponentialMovingAverage(5),
        lambda: RSI(5),
        lambda: MACD(3, 6, 4),
        lambda: BollingerBands(5, 2.0),
    ],
)
def test_reset_forgets_everything(make) -> None:  # type: ignore[no-untyped-def]
    fresh, reused = make(), make()
    for price in random_walk(50, seed=3):
        reused.update(price)
    reused.reset()
    assert not reused.is_ready and reused.value is None
    for price in PRICES[:40]:
        fresh.update(price)
        reused.update(price)
        assert reused.value == fresh.value


@pytest.mark.parametrize("period", [0, -1, 2.5, True])
def test_a_period_below_one_or_not_whole_is_refused(period: object) -> None:
    with pytest.raises(BadDataError, match="period"):
        SimpleMovingAverage(period)  # type: ignore[arg-type]


def test_bollinger_refuses_a_band_width_of_zero() -> None:
    with pytest.raises(BadDataError, match="k: 0"):
        BollingerBands(20, 0)


def test_crossover_reports_sign_changes_and_treats_zero_as_no_side() -> None:
    cross = Crossover()
    diffs = [1.0, 2.0, -1.0, 0.0, -2.0, 0.0, 3.0, 0.0, 4.0, -0.5]
    events = [cross.update(d) for d in diffs]
    assert events == [0, 0, CROSSED_BELOW, 0, 0, 0, CROSSED_ABOVE, 0, 0, CROSSED_BELOW]
