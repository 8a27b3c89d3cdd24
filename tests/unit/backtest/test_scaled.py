"""Equities as exact integers in one unit: the input of the metrics' ratios."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest

from ticklane.backtest.metrics import drawdown, period_returns
from ticklane.backtest.scaled import ScaledEquities

D = Decimal


def as_decimals(scaled: ScaledEquities) -> list[Decimal]:
    return [Decimal(value).scaleb(scaled.exponent) for value in scaled.values]


def test_a_finer_equity_refines_the_unit_of_those_already_held() -> None:
    scaled = ScaledEquities.from_decimals([D("1000"), D("1E+3"), D("999.5")])
    scaled.append(D("1000.000000000000000001"))
    assert scaled.exponent == -18
    assert as_decimals(scaled) == [D("1000"), D("1000"), D("999.5"), D("1000.000000000000000001")]


def test_a_linear_run_is_base_plus_step_times_each_unit_exactly() -> None:
    scaled = ScaledEquities()
    scaled.extend_constant(D("100000"), 2)
    base, step = D("59876.54321"), D("0.01").scaleb(-9)  # cash, and 0.01 BTC per raw price unit
    units = [40_000_120_000_000, 39_999_990_000_000]
    scaled.extend_linear(base, step, units)
    assert as_decimals(scaled) == [D("100000"), D("100000"), *(base + step * u for u in units)]


def test_returns_are_the_exact_quotients_rounded_once() -> None:
    equities = [D("1000"), D("1000.000000000000000001"), D("999.99999999999999999"), D("3000")]
    scaled = ScaledEquities.from_decimals(equities[1:]).with_first(equities[0])
    exact = [Fraction(c) / Fraction(p) - 1 for p, c in pairwise(equities)]
    assert period_returns(scaled) == [float(r) for r in exact]
    assert period_returns(scaled)[0] == pytest.approx(1e-21, rel=1e-12)  # below 20 digits


def test_drawdown_depth_is_exact_whatever_the_unit() -> None:
    times = [0, 1, 2, 3]
    coarse = ScaledEquities.from_decimals([D("900"), D("1200"), D("800")]).with_first(D("1000"))
    fine = ScaledEquities.from_decimals([D("900.000"), D("1200"), D("800")]).with_first(D("1000"))
    assert drawdown(times, coarse) == drawdown(times, fine) == (float(Fraction(1, 3)), 2, 2)


def test_an_infinite_equity_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="equity Infinity is not finite"):
        ScaledEquities().append(D("Infinity"))


def test_trailing_zeros_do_not_make_the_unit_finer_than_the_digits_need() -> None:
    scaled = ScaledEquities.from_decimals([D("1000"), D("99355.913215300000000"), D("1E+3")])
    assert scaled.exponent == -7
    assert as_decimals(scaled) == [D("1000"), D("99355.9132153"), D("1000")]


def test_returns_of_random_curves_are_each_the_exact_quotient_rounded_once() -> None:
    rng = random.Random(7)
    for _ in range(300):
        equities = [rng.randint(1, 10 ** rng.randint(3, 22))]
        for _ in range(rng.randint(1, 400)):
            step = rng.randint(-equities[-1] // 50 - 1, equities[-1] // 50 + 1)
            equities.append(equities[-1] if rng.random() < 0.5 else equities[-1] + step)
        if rng.random() < 0.1:  # a period opened at zero or below is skipped
            equities[rng.randrange(len(equities))] = -rng.randint(0, 5)
        exact = [float(Fraction(c - p, p)) for p, c in pairwise(equities) if p > 0]
        assert period_returns(equities) == exact
