"""Timestamps: integers of UTC nanoseconds since the Unix epoch, converted once at the edge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from ticklane.core.errors import BadDataError

NANOS_PER_MILLI: Final = 1_000_000
NANOS_PER_SECOND: Final = 1_000_000_000
NANOS_PER_MINUTE: Final = 60 * NANOS_PER_SECOND
NANOS_PER_HOUR: Final = 60 * NANOS_PER_MINUTE
NANOS_PER_DAY: Final = 24 * NANOS_PER_HOUR

# A timestamp outside this window is impossible for market data we handle: earlier than any
# electronic venue we read, or later than any clock error we would accept.
MIN_TS_NS: Final = 315_532_800 * NANOS_PER_SECOND  # 1980-01-01T00:00:00Z
MAX_TS_NS: Final = 4_102_444_800 * NANOS_PER_SECOND  # 2100-01-01T00:00:00Z


def check_ts(ts_ns: int, *, field: str = "ts_event") -> int:
    """Return ``ts_ns`` if it is a possible market-data timestamp, else raise ``BadDataError``."""
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise BadDataError(
            f"{field}: {ts_ns!r} is not an integer of nanoseconds", field=field, value=ts_ns
        )
    if not MIN_TS_NS <= ts_ns < MAX_TS_NS:
        raise BadDataError(
            f"{field}: {ts_ns} ({format_ns(ts_ns)}) is not between 1980-01-01 and 2100-01-01 UTC",
            field=field,
            value=ts_ns,
        )
    return ts_ns


def datetime_to_ns(moment: datetime) -> int:
    """Nanoseconds for an aware datetime; a naive one is refused rather than guessed at."""
    if moment.tzinfo is None:
        raise BadDataError(f"datetime {moment.isoformat()} has no time zone", value=moment)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1_000


def ns_to_datetime(ts_ns: int) -> datetime:
    """An aware UTC datetime (microsecond resolution: the nanoseconds are dropped)."""
    return datetime.fromtimestamp(ts_ns // 1_000 / 1_000_000, tz=UTC).replace(
        microsecond=(ts_ns // 1_000) % 1_000_000
    )


def format_ns(ts_ns: int) -> str:
    """ISO 8601 in UTC with all nine fractional digits, e.g. ``2024-01-02T03:04:05.123456789Z``."""
    seconds, nanos = divmod(ts_ns, NANOS_PER_SECOND)
    try:
        stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{ts_ns} ns"
    return f"{stamp}.{nanos:09d}Z"


def parse_datetime(text: str) -> int:
    """Nanoseconds for an ISO 8601 date or datetime; one without an offset is taken as UTC."""
    value = text.strip().replace(",", ".")  # ISO 8601 also allows a decimal comma
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadDataError(f"{text!r} is not an ISO 8601 date or datetime", value=text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    nanos = 0
    # datetime keeps microseconds; keep the last three digits of a nanosecond fraction ourselves.
    if "." in value:
        fraction = value.split(".", 1)[1]
        digits = ""
        for char in fraction:
            if not char.isdigit():
                break
            digits += char
        if len(digits) > 6:
            nanos = int(digits[6:9].ljust(3, "0"))
    return datetime_to_ns(moment) + nanos
