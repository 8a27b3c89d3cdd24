"""UTC nanosecond timestamps: parsing ISO 8601, formatting, and the plausible-range check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ticklane.core.errors import BadDataError
from ticklane.core.time import (
    MAX_TS_NS,
    MIN_TS_NS,
    check_ts,
    datetime_to_ns,
    format_ns,
    ns_to_datetime,
    parse_datetime,
)

# 2024-01-02T03:04:05Z, counted by hand: 19724 days after the epoch, plus 3 h 4 min 5 s.
JAN2_030405 = (19_724 * 86_400 + 3 * 3600 + 4 * 60 + 5) * 10**9


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2024-01-02T03:04:05Z", JAN2_030405),
        ("2024-01-02T03:04:05z", JAN2_030405),
        ("2024-01-02T03:04:05+00:00", JAN2_030405),
        ("2024-01-02T03:04:05", JAN2_030405),  # no offset: UTC
        ("2024-01-02 03:04:05", JAN2_030405),
        ("  2024-01-02T03:04:05Z\n", JAN2_030405),
        ("2024-01-02T05:04:05+02:00", JAN2_030405),
        ("2024-01-01T21:34:05-05:30", JAN2_030405),
        ("2024-01-02", JAN2_030405 - (3 * 3600 + 4 * 60 + 5) * 10**9),
        ("2024-01-02T03:04:05.1Z", JAN2_030405 + 100_000_000),
        ("2024-01-02T03:04:05.123456Z", JAN2_030405 + 123_456_000),
        ("2024-01-02T03:04:05.1234567Z", JAN2_030405 + 123_456_700),
        ("2024-01-02T03:04:05.123456789Z", JAN2_030405 + 123_456_789),
        ("2024-01-02T03:04:05.000000001Z", JAN2_030405 + 1),
        ("2024-01-02T03:04:05.999999999+01:00", JAN2_030405 - 3600 * 10**9 + 999_999_999),
        ("2024-01-02T03:04:05,123456789Z", JAN2_030405 + 123_456_789),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_iso_text_is_read_to_the_nanosecond(text: str, ns: int) -> None:
    assert parse_datetime(text) == ns


@pytest.mark.parametrize(
    "text", ["yesterday", "", "2024-13-01", "2024-01-32", "2024-01-02T25:00:00Z", "1704164645"]
)
def test_text_that_is_not_iso_is_refused_naming_it(text: str) -> None:
    with pytest.raises(BadDataError) as refused:
        parse_datetime(text)
    assert refused.value.value == text
    assert repr(text) in str(refused.value)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000000000Z"),
        (JAN2_030405 + 123_456_789, "2024-01-02T03:04:05.123456789Z"),
        (JAN2_030405 + 1, "2024-01-02T03:04:05.000000001Z"),
        (MIN_TS_NS, "1980-01-01T00:00:00.000000000Z"),
        (MAX_TS_NS, "2100-01-01T00:00:00.000000000Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
    ],
)
def test_timestamp_is_formatted_with_all_nine_digits(ns: int, text: str) -> None:
    assert format_ns(ns) == text
    assert parse_datetime(text) == ns


def test_timestamp_beyond_any_calendar_is_shown_as_a_number() -> None:
    assert format_ns(10**30) == f"{10**30} ns"


def test_aware_datetime_converts_exactly_and_naive_is_refused() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert datetime_to_ns(moment) == JAN2_030405 + 123_456_000
    plus_two = moment.astimezone(timezone(timedelta(hours=2)))
    assert datetime_to_ns(plus_two) == datetime_to_ns(moment)
    with pytest.raises(BadDataError, match="no time zone"):
        datetime_to_ns(datetime(2024, 1, 2))


def test_datetime_of_a_timestamp_drops_only_the_nanoseconds() -> None:
    assert ns_to_datetime(JAN2_030405 + 999_999_999) == datetime(
        2024, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC
    )
    assert ns_to_datetime(JAN2_030405 + 1) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ns_to_datetime(MAX_TS_NS - 1).year == 2099


@pytest.mark.parametrize("ns", [MIN_TS_NS, MIN_TS_NS + 1, JAN2_030405, MAX_TS_NS - 1])
def test_market_data_timestamp_between_1980_and_2100_is_accepted(ns: int) -> None:
    assert check_ts(ns) == ns


@pytest.mark.parametrize("ns", [MIN_TS_NS - 1, MAX_TS_NS, 0, -JAN2_030405, JAN2_030405 // 1000])
def test_timestamp_outside_1980_to_2100_is_refused(ns: int) -> None:
    with pytest.raises(BadDataError, match="between 1980-01-01 and 2100-01-01") as refused:
        check_ts(ns, field="ts_recv")
    assert (refused.value.field, refused.value.value) == ("ts_recv", ns)


@pytest.mark.parametrize("value", [True, 1.7e18, "1704164645000000000", None])
def test_timestamp_that_is_not_an_integer_is_refused(value: object) -> None:
    with pytest.raises(BadDataError, match="not an integer of nanoseconds"):
        check_ts(value)  # type: ignore[arg-type]
