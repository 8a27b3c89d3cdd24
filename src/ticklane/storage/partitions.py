"""Which time partitions a batch needs, given the ones that exist (native PostgreSQL layout)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from ticklane.core.time import NANOS_PER_DAY, NANOS_PER_SECOND

_BOUND_RE: Final = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


def parse_bound(expression: str) -> tuple[int, int] | None:
    """``(start, end)`` of ``FOR VALUES FROM ('a') TO ('b')``; None for a DEFAULT partition."""
    match = _BOUND_RE.search(expression)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def missing_ranges(
    lo_ns: int, hi_ns: int, interval_ns: int, existing: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Ranges to create so that ``[lo_ns, hi_ns]`` is covered, aligned to ``interval_ns``.

    Each new range is one aligned interval clipped against existing partitions, so a change of
    the interval setting never produces overlapping partitions.
    """
    covered = sorted(existing)
    needed: list[tuple[int, int]] = []
    start = lo_ns // interval_ns * interval_ns
    while start <= hi_ns:
        gaps = [(start, start + interval_ns)]
        for c_start, c_end in covered:
            clipped: list[tuple[int, int]] = []
            for g_start, g_end in gaps:
                if c_end <= g_start or c_start >= g_end:
                    clipped.append((g_start, g_end))
                    continue
                if g_start < c_start:
                    clipped.append((g_start, c_start))
                if c_end < g_end:
                    clipped.append((c_end, g_end))
            gaps = clipped
        needed.extend(gaps)
        start += interval_ns
    return needed


def partition_name(table: str, start_ns: int, interval_ns: int) -> str:
    """``tick_data_20240102`` for daily partitions, ``tick_data_20240102_060000`` for finer ones."""
    moment = datetime.fromtimestamp(start_ns // NANOS_PER_SECOND, tz=UTC)
    aligned_to_days = interval_ns % NANOS_PER_DAY == 0 and start_ns % NANOS_PER_DAY == 0
    stamp = moment.strftime("%Y%m%d" if aligned_to_days else "%Y%m%d_%H%M%S")
    return f"{table}_{stamp}"
