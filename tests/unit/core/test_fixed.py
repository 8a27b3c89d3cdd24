"""Exact conversion of prices and quantities to scaled 64-bit integers and back."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from ticklane.core.errors import BadDataError, OutOfRangeError
from ticklane.core.fixed import (
    INT64_MAX,
    INT64_MIN,
    from_scaled,
    price_from_raw,
    price_to_raw,
    quantity_from_raw,
    quantity_to_raw,
    to_scaled,
)


@pytest.mark.parametrize(
    ("price", "raw"),
    [
        ("0.000000001", 1),
        ("42150.25", 42_150_250_000_000),
        (Decimal("42150.250000000"), 42_150_250_000_000),
        ("9223372036.854775807", INT64_MAX),
        ("-9223372036.854775808", INT64_MIN),
        (1, 1_000_000_000),
        ("1E+3", 1_000_000_000_000),
        ("  7.5 ", 7_500_000_000),
        ("0", 0),
    ],
)
def test_price_converts_exactly_both_ways(price: Decimal | str | int, raw: int) -> None:
    assert price_to_raw(price) == raw
    assert price_from_raw(raw) == Decimal(str(price).strip())


@pytest.mark.parametrize(
    ("quantity", "raw"),
    [
        ("0.00000001", 1),
        ("92233720368.54775807", INT64_MAX),
        ("1.5", 150_000_000),
        ("0.1", 10_000_000),
    ],
)
def test_quantity_converts_exactly_both_ways(quantity: str, raw: int) -> None:
    assert quantity_to_raw(quantity) == raw
    assert quantity_from_raw(raw) == Decimal(quantity)


def test_values_read_back_are_exact_decimals_not_floats() -> None:
    assert price_from_raw(1) == Decimal("1E-9")
    assert str(price_from_raw(42_150_250_000_000)) == "42150.250000000"
    assert quantity_from_raw(INT64_MAX) == Decimal("92233720368.54775807")
    assert from_scaled(-5, 2) == Decimal("-0.05")
    assert all(isinstance(price_from_raw(n), Decimal) for n in (0, 1, INT64_MIN))


def test_trailing_zeros_beyond_the_scale_are_not_extra_precision() -> None:
    assert price_to_raw("1.0000000000000") == 1_000_000_000
    assert quantity_to_raw(Decimal("2.500000000")) == 250_000_000


@pytest.mark.parametrize(
    ("convert", "value", "why"),
    [
        (price_to_raw, "0.0000000001", "more than 9 decimal places"),
        (price_to_raw, "42150.2500000001", "more than 9 decimal places"),
        (quantity_to_raw, "0.000000001", "more than 8 decimal places"),
        (price_to_raw, "9223372036.854775808", "outside the representable range"),
        (price_to_raw, "-9223372036.854775809", "outside the representable range"),
        (quantity_to_raw, "92233720368.54775808", "outside the representable range"),
        (price_to_raw, 10**10, "outside the representable range"),
        (price_to_raw, "NaN", "not a finite number"),
        (price_to_raw, "sNaN", "not a finite number"),
        (price_to_raw, "Infinity", "not a finite number"),
        (quantity_to_raw, Decimal("-inf"), "not a finite number"),
        (price_to_raw, "42,150.25", "not a decimal number"),
        (price_to_raw, "abc", "not a decimal number"),
        (price_to_raw, "", "not a decimal number"),
        (quantity_to_raw, "1.5 BTC", "not a decimal number"),
    ],
)
def test_value_that_does_not_fit_exactly_is_refused(
    convert: Callable[..., int], value: object, why: str
) -> None:
    with pytest.raises(OutOfRangeError, match=why) as refused:
        convert(value)
    assert isinstance(refused.value, BadDataError)
    assert refused.value.value == value
    assert refused.value.field == ("price" if convert is price_to_raw else "quantity")


def test_refusal_names_the_field_given() -> None:
    with pytest.raises(OutOfRangeError, match=r"^bid_price: ") as refused:
        price_to_raw("0.0000000001", field="bid_price")
    assert refused.value.field == "bid_price"


def test_refused_none_is_a_bad_value_not_a_crash() -> None:
    with pytest.raises(OutOfRangeError):
        to_scaled(None, 9)  # type: ignore[arg-type]


def test_range_message_states_the_limit() -> None:
    with pytest.raises(OutOfRangeError, match=r"±9223372036\.854775807"):
        price_to_raw("1E+10")


def test_every_representable_boundary_round_trips() -> None:
    for raw in (INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX):
        assert price_to_raw(price_from_raw(raw)) == raw
        assert quantity_to_raw(quantity_from_raw(raw)) == raw
