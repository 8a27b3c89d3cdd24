"""Which partitions a batch needs, and what they are called (native PostgreSQL layout)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ticklane.core.time import parse_datetime
from ticklane.storage.partitions import missing_ranges, parse_bound, partition_name

HOUR = 3600 * 10**9
DAY = 24 * HOUR
JAN2 = parse_datetime("2024-01-02T00:00:00Z")


def test_batch_within_one_day_needs_that_day() -> None:
    assert missing_ranges(JAN2 + HOUR, JAN2 + 5 * HOUR, DAY, []) == [(JAN2, JAN2 + DAY)]


def test_batch_over_three_days_needs_three_aligned_days() -> None:
    assert missing_ranges(JAN2 + 23 * HOUR, JAN2 + 2 * DAY + 1, DAY, []) == [
        (JAN2, JAN2 + DAY),
        (JAN2 + DAY, JAN2 + 2 * DAY),
        (JAN2 + 2 * DAY, JAN2 + 3 * DAY),
    ]


def test_last_tick_exactly_on_midnight_needs_the_next_day_too() -> None:
    # The upper bound is inclusive: it is the newest tick's timestamp.
    assert missing_ranges(JAN2, JAN2 + DAY, DAY, []) == [
        (JAN2, JAN2 + DAY),
        (JAN2 + DAY, JAN2 + 2 * DAY),
    ]
    assert missing_ranges(JAN2, JAN2 + DAY - 1, DAY, []) == [(JAN2, JAN2 + DAY)]


def test_existing_partitions_are_not_created_again() -> None:
    existing = [(JAN2, JAN2 + DAY), (JAN2 + DAY, JAN2 + 2 * DAY)]
    assert missing_ranges(JAN2 + 1, JAN2 + DAY + 1, DAY, existing) == []
    assert missing_ranges(JAN2 + 1, JAN2 + 2 * DAY, DAY, existing) == [
        (JAN2 + 2 * DAY, JAN2 + 3 * DAY)
    ]


def test_day_is_clipped_around_hourly_partitions_made_under_an_older_setting() -> None:
    existing = [(JAN2, JAN2 + 6 * HOUR), (JAN2 + 12 * HOUR, JAN2 + 18 * HOUR)]
    assert missing_ranges(JAN2 + 7 * HOUR, JAN2 + 7 * HOUR, DAY, existing) == [
        (JAN2 + 6 * HOUR, JAN2 + 12 * HOUR),
        (JAN2 + 18 * HOUR, JAN2 + DAY),
    ]


def test_hourly_setting_inside_an_older_daily_partition_needs_nothing() -> None:
    existing = [(JAN2, JAN2 + DAY)]
    assert missing_ranges(JAN2 + HOUR, JAN2 + 20 * HOUR, 6 * HOUR, existing) == []
    assert missing_ranges(JAN2 + 23 * HOUR, JAN2 + DAY + HOUR, 6 * HOUR, existing) == [
        (JAN2 + DAY, JAN2 + DAY + 6 * HOUR)
    ]


def test_weekly_partition_straddling_days_clips_both_ends() -> None:
    # An old partition covering noon Jan 1 to noon Jan 3 leaves the two half days around it.
    existing = [(JAN2 - 12 * HOUR, JAN2 + DAY + 12 * HOUR)]
    assert missing_ranges(JAN2 - DAY, JAN2 + DAY + 13 * HOUR, DAY, existing) == [
        (JAN2 - DAY, JAN2 - 12 * HOUR),
        (JAN2 + DAY + 12 * HOUR, JAN2 + 2 * DAY),
    ]


def test_created_ranges_never_overlap_what_exists() -> None:
    existing = [(JAN2 + 3 * HOUR, JAN2 + 4 * HOUR), (JAN2 + 30 * HOUR, JAN2 + 50 * HOUR)]
    needed = missing_ranges(JAN2, JAN2 + 3 * DAY, DAY, existing)
    everything = sorted(needed + existing)
    assert all(end == nxt for (_, end), (nxt, _) in pairwise(everything))
    assert everything[0][0] == JAN2 and everything[-1][1] == JAN2 + 4 * DAY


def test_daily_partition_is_named_by_its_date() -> None:
    assert partition_name("tick_data", JAN2, DAY) == "tick_data_20240102"
    assert partition_name("quotes", JAN2 + DAY, DAY) == "quotes_20240103"


def test_partition_not_on_midnight_is_named_by_date_and_time() -> None:
    assert partition_name("tick_data", JAN2 + 6 * HOUR, 6 * HOUR) == "tick_data_20240102_060000"
    # A day clipped to start mid-day keeps a name distinct from the whole day's.
    assert partition_name("tick_data", JAN2 + 6 * HOUR, DAY) == "tick_data_20240102_060000"
    assert partition_name("tick_data", JAN2, 6 * HOUR) == "tick_data_20240102_000000"


@pytest.mark.parametrize(
    ("expression", "bound"),
    [
        ("FOR VALUES FROM ('1704153600000000000') TO ('1704240000000000000')", (JAN2, JAN2 + DAY)),
        ("FOR VALUES FROM (1704153600000000000) TO (1704240000000000000)", (JAN2, JAN2 + DAY)),
        ("FOR VALUES FROM ('-5') TO ('5')", (-5, 5)),
        ("DEFAULT", None),
    ],
)
def test_partition_bound_is_read_from_its_expression(
    expression: str, bound: tuple[int, int] | None
) -> None:
    assert parse_bound(expression) == bound
