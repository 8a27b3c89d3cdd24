"""Timeframes and bar types: where bars open, the exact-boundary rule, parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticklane.core.bars import BarType, Timeframe
from ticklane.core.errors import BadDataError
from ticklane.core.time import datetime_to_ns, parse_datetime

MINUTE = 60 * 10**9


def ns(text: str) -> int:
    return parse_datetime(text)


WEDNESDAY_AFTERNOON = ns("2024-01-03T13:47:29.5Z")


@pytest.mark.parametrize(
    ("timeframe", "opens", "width_minutes"),
    [
        (Timeframe.ONE_MINUTE, "2024-01-03T13:47:00Z", 1),
        (Timeframe.FIVE_MINUTES, "2024-01-03T13:45:00Z", 5),
        (Timeframe.FIFTEEN_MINUTES, "2024-01-03T13:45:00Z", 15),
        (Timeframe.THIRTY_MINUTES, "2024-01-03T13:30:00Z", 30),
        (Timeframe.ONE_HOUR, "2024-01-03T13:00:00Z", 60),
        (Timeframe.FOUR_HOURS, "2024-01-03T12:00:00Z", 240),
        (Timeframe.ONE_DAY, "2024-01-03T00:00:00Z", 1440),
        (Timeframe.ONE_WEEK, "2024-01-01T00:00:00Z", 10080),  # the Monday before
    ],
)
def test_bar_containing_a_wednesday_afternoon_trade(
    timeframe: Timeframe, opens: str, width_minutes: int
) -> None:
    assert timeframe.nanos == width_minutes * MINUTE
    assert timeframe.bar_open(WEDNESDAY_AFTERNOON) == ns(opens)
    assert timeframe.bar_close(WEDNESDAY_AFTERNOON) == ns(opens) + width_minutes * MINUTE


@pytest.mark.parametrize("timeframe", list(Timeframe))
def test_trade_exactly_on_a_boundary_opens_the_next_bar(timeframe: Timeframe) -> None:
    boundary = timeframe.bar_close(WEDNESDAY_AFTERNOON)
    assert timeframe.bar_open(boundary) == boundary
    assert timeframe.bar_open(boundary - 1) == boundary - timeframe.nanos
    assert timeframe.bar_close(boundary - 1) == boundary
    assert timeframe.bar_open(boundary + timeframe.nanos - 1) == boundary


def test_weekly_bars_open_on_monday_midnight_utc_for_decades() -> None:
    for year in (1980, 1999, 2000, 2024, 2038, 2099):
        for month in (1, 6, 12):
            moment = datetime_to_ns(datetime(year, month, 17, 15, 30, tzinfo=UTC))
            opened = datetime.fromtimestamp(Timeframe.ONE_WEEK.bar_open(moment) // 10**9, UTC)
            assert (opened.weekday(), opened.hour, opened.minute, opened.second) == (0, 0, 0, 0)
            assert 0 <= moment - Timeframe.ONE_WEEK.bar_open(moment) < Timeframe.ONE_WEEK.nanos


def test_sunday_night_belongs_to_the_week_that_began_the_monday_before() -> None:
    week = Timeframe.ONE_WEEK
    assert week.bar_open(ns("2024-01-07T23:59:59.999999999Z")) == ns("2024-01-01T00:00:00Z")
    assert week.bar_open(ns("2024-01-08T00:00:00Z")) == ns("2024-01-08T00:00:00Z")
    assert week.origin_ns == ns("1970-01-05T00:00:00Z")


def test_daily_and_shorter_bars_are_aligned_to_the_epoch() -> None:
    for timeframe in list(Timeframe)[:-1]:
        assert timeframe.origin_ns == 0
        assert timeframe.bar_open(WEDNESDAY_AFTERNOON) % timeframe.nanos == 0


@pytest.mark.parametrize(
    ("text", "timeframe"),
    [("1m", Timeframe.ONE_MINUTE), ("1H", Timeframe.ONE_HOUR), (" 4h ", Timeframe.FOUR_HOURS)],
)
def test_timeframe_is_read_from_its_name(text: str, timeframe: Timeframe) -> None:
    assert Timeframe.parse(text) is timeframe


def test_unknown_timeframe_is_refused_listing_the_allowed_ones() -> None:
    with pytest.raises(BadDataError, match="1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w") as refused:
        Timeframe.parse("2m")
    assert (refused.value.field, refused.value.value) == ("timeframe", "2m")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", BarType(timeframe=Timeframe.ONE_MINUTE)),
        ("1w", BarType(timeframe=Timeframe.ONE_WEEK)),
        ("100-tick", BarType(tick_count=100)),
        ("100ticks", BarType(tick_count=100)),
        ("100-TICKS", BarType(tick_count=100)),
        (" 1tick ", BarType(tick_count=1)),
    ],
)
def test_bar_type_is_read_from_its_name(text: str, expected: BarType) -> None:
    parsed = BarType.parse(text)
    assert parsed == expected
    assert parsed.is_time_based == (expected.timeframe is not None)
    assert BarType.parse(str(parsed)) == parsed


def test_bar_type_names_are_the_ones_parsed() -> None:
    assert str(BarType.time(Timeframe.FIFTEEN_MINUTES)) == "15m"
    assert str(BarType.ticks(100)) == "100-tick"


@pytest.mark.parametrize("text", ["", "tick", "0-tick", "-5-tick", "1.5-tick", "100 bars", "1M!"])
def test_bar_type_that_means_nothing_is_refused(text: str) -> None:
    with pytest.raises(BadDataError):
        BarType.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"timeframe": Timeframe.ONE_MINUTE, "tick_count": 5}, {"tick_count": 0}],
)
def test_bar_type_needs_exactly_one_positive_measure(kwargs: dict[str, object]) -> None:
    with pytest.raises(BadDataError):
        BarType(**kwargs)  # type: ignore[arg-type]


def test_tick_count_of_true_is_not_one() -> None:
    with pytest.raises(BadDataError, match="tick count"):
        BarType.ticks(True)
