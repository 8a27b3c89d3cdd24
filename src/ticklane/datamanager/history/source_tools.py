"""What the free history sources share: day chunks, keeping rows inside a chunk, records to
columns, a request pacer and the retry policy.

Retry policy: a ``TransientError`` (timeouts, 5xx, and its branch ``RateLimitedError``) is
retried up to ``retries`` times, waiting the venue's ``Retry-After`` when it gave one, else a
capped exponential backoff with jitter; then it is raised again as a ``TransientError`` that
says how many attempts failed. ``PermanentError``, ``BadDataError`` and ``ConfigError`` are
raised at once: asking again cannot help.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

import numpy as np

from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.errors import BadDataError, RateLimitedError, TransientError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.records import TradeRecord
from ticklane.core.time import NANOS_PER_DAY, format_ns
from ticklane.datamanager.history.source import Chunk
from ticklane.venues.http import VenueRateLimitedError

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BACKOFF_S: Final = 30.0
_SELL: Final = int(Side.SELL)


def check_range(start_ns: int, end_ns: int) -> None:
    """Refuse an empty or reversed range with both ends in the message."""
    if end_ns <= start_ns:
        raise BadDataError(
            f"the range ends ({format_ns(end_ns)}) before it starts ({format_ns(start_ns)})",
            field="end",
            value=end_ns,
        )


def day_start(ts_ns: int) -> int:
    """The UTC midnight at or before ``ts_ns``."""
    return ts_ns - ts_ns % NANOS_PER_DAY


def day_chunks(exchange: str, symbol: str, start_ns: int, end_ns: int) -> list[Chunk]:
    """``[start_ns, end_ns)`` cut at every UTC midnight, in time order."""
    check_range(start_ns, end_ns)
    chunks = []
    cursor = start_ns
    while cursor < end_ns:
        stop = min(day_start(cursor) + NANOS_PER_DAY, end_ns)
        chunks.append(Chunk(exchange, symbol, cursor, stop))
        cursor = stop
    return chunks


def within(batch: TradeColumns, chunk: Chunk) -> TradeColumns:
    """The rows of ``batch`` inside ``[chunk.start_ns, chunk.end_ns)``."""
    ts = batch.data["ts_event"]
    keep = (ts >= chunk.start_ns) & (ts < chunk.end_ns)
    return batch if keep.all() else TradeColumns(batch.instrument, batch.data[keep])


def records_to_columns(instrument: InstrumentId, records: Sequence[TradeRecord]) -> TradeColumns:
    """Records of one instrument as columns; ``is_buyer_maker`` is true when the seller was
    the taker (the buyer's order rested), as in the importer."""
    rows = ((r.ts_event, r.trade_id, r.price, r.quantity, r.side, r.side == _SELL) for r in records)
    return TradeColumns(instrument, np.fromiter(rows, dtype=TRADE_DTYPE, count=len(records)))


class Pacer:
    """Spaces request starts at least ``1 / requests_per_second`` apart (0 or less: no pace)."""

    def __init__(self, requests_per_second: float) -> None:
        self._interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = time.monotonic()
            self._next = now + self._interval


class Retrying:
    """Runs requests paced and retried by the module's policy, for the source ``name``."""

    def __init__(
        self,
        name: str,
        *,
        retries: int,
        pacer: Pacer | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self.name = name
        self.retries = max(retries, 0)
        self._pacer = pacer
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s

    async def call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        """``await request()``, paced, with transient failures retried; ``what`` names it."""
        attempt = 0
        while True:
            if self._pacer is not None:
                await self._pacer.wait()
            try:
                return await request()
            except TransientError as error:
                attempt += 1
                if attempt > self.retries:
                    raise TransientError(
                        f"{self.name}: {what} failed {attempt} times, giving up: {error}"
                    ) from error
                delay = self._delay(error, attempt)
                log.warning(
                    "%s: %s failed (attempt %d of %d), retrying in %.2f s: %s",
                    self.name, what, attempt, self.retries + 1, delay, error,
                )  # fmt: skip
                await asyncio.sleep(delay)

    def _delay(self, error: TransientError, attempt: int) -> float:
        if isinstance(error, VenueRateLimitedError) and error.retry_after_s is not None:
            return float(error.retry_after_s)  # the venue said how long: exactly that
        backoff = min(self._backoff_s * 2.0 ** (attempt - 1), self._max_backoff_s)
        if isinstance(error, RateLimitedError):
            backoff = min(backoff * 2, self._max_backoff_s)  # asked to slow down: slower
        return backoff * random.uniform(0.5, 1.0)  # jitter: retries of many jobs spread out
