"""The equity curve: exact points held as scaled integers, read back as Decimals."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from ticklane.backtest.curve import EquityCurve, encode_hook

D = Decimal
POINTS = [(1, D("1000")), (2, D("1019.50")), (3, D("989.000000000001")), (4, D("-2.5"))]


def test_points_read_back_equal_to_what_was_marked_and_written_as_short_as_they_are() -> None:
    curve = EquityCurve.from_points(POINTS)
    assert curve.equities.exponent == -12  # the finest equity sets the unit of all
    assert list(curve) == POINTS
    assert [str(equity) for _, equity in curve] == ["1000", "1019.5", "989.000000000001", "-2.5"]
    assert curve[1] == (2, D("1019.5")) and curve[-1] == (4, D("-2.5"))
    assert curve[1:3] == POINTS[1:3]
    assert len(curve) == 4


def test_a_curve_equals_a_list_of_the_same_points_and_not_one_that_differs() -> None:
    curve = EquityCurve.from_points(POINTS)
    assert curve == POINTS
    assert curve == EquityCurve.from_points(POINTS)
    assert curve != [*POINTS[:-1], (4, D("-2.4"))]
    assert curve != POINTS[:-1]
    assert curve != "not a curve"


def test_linear_and_constant_runs_are_base_plus_step_times_unit_exactly() -> None:
    curve = EquityCurve()
    curve.extend_constant([10, 20], D("100000"))
    curve.extend_linear([30, 40], D("59876.54321"), D("1E-11"), [4_000_012_000_000, 3 * 10**12])
    assert list(curve) == [
        (10, D("100000")),
        (20, D("100000")),
        (30, D("59876.54321") + D("40.00012")),
        (40, D("59876.54321") + D("30")),
    ]


def test_a_copy_does_not_change_when_the_original_grows_or_refines_its_unit() -> None:
    curve = EquityCurve.from_points(POINTS[:2])
    copied = curve.copy()
    curve.append(5, D("1.0000000000000000001"))  # finer: the original's integers are rescaled
    assert copied == POINTS[:2]
    assert curve[:2] == POINTS[:2]


def test_json_is_a_list_of_time_and_equity_text_pairs() -> None:
    encoded = msgspec.json.encode({"curve": EquityCurve.from_points(POINTS)}, enc_hook=encode_hook)
    assert msgspec.json.decode(encoded) == {
        "curve": [[1, "1000"], [2, "1019.5"], [3, "989.000000000001"], [4, "-2.5"]]
    }


def test_an_equity_of_zero_reads_back_as_zero() -> None:
    curve = EquityCurve.from_points([(1, D("0")), (2, D("1000.000000000001"))])
    assert [str(equity) for _, equity in curve] == ["0", "1000.000000000001"]


def test_curves_in_different_units_are_equal_when_their_points_are() -> None:
    coarse = EquityCurve.from_points([(1, D("1000")), (2, D("1019.5"))])
    fine = EquityCurve.from_points([(1, D("1000.000")), (2, D("1019.500000001"))])
    assert coarse != fine
    fine_equal = EquityCurve.from_points([(1, D("1000.0000")), (2, D("1019.5"))])
    fine_equal.append(3, D("0.000000001"))
    coarse.append(3, D("1E-9"))
    assert coarse == fine_equal


def test_a_run_of_prices_must_have_one_time_each_and_a_refused_run_leaves_the_curve_whole() -> None:
    curve = EquityCurve.from_points(POINTS[:1])
    with pytest.raises(ValueError, match="3 times for 2 prices"):
        curve.extend_linear([5, 6, 7], D("1"), D("1"), [1, 2])
    with pytest.raises(ValueError, match="not finite"):
        curve.extend_constant([5, 6], D("Infinity"))
    assert curve == POINTS[:1] and len(curve.equities) == 1
