"""L1: an in-process ring of the most recent trades of each instrument.

Each instrument has a ``deque`` of at most ``max_ticks_per_symbol`` trades; the oldest falls
out first (FIFO). Trades older than ``ttl_seconds`` by their receive time (``ts_recv``) are not
returned and are dropped on the next read. Nothing here does I/O or can fail, so the async
methods of ``TickCache`` complete at once; the record-level methods are plain functions.

Trade objects (``TradeTick``, exact ``Decimal`` values) cost a few microseconds each to make,
so a write stores only the record and a read converts only what no read converted before:
each instrument keeps a list of the objects of its newest trades, in ring order, brought up to
date by the next read that needs it. A strategy asking for its context on every tick pays for
each conversion once, and a repeated read is a slice of that list. The list always mirrors the
newest end of the ring: trades that left the ring (FIFO or expiry) leave the list too.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Final

from ticklane.cache.base import CacheStats, check_limit, to_tick
from ticklane.config.settings import MemoryCacheConfig
from ticklane.core.identifiers import check_exchange, check_symbol
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick
from ticklane.core.time import NANOS_PER_SECOND

_KEYS_REMEMBERED: Final = 4096  # validated (exchange, symbol) arguments kept for the next read


class _Ring:
    """One instrument's records and the trade objects of its newest ones.

    ``ticks`` holds the objects of the records that were newest when a read last brought it up
    to date (``synced``, a value of ``written``): ``written - synced`` records were added since.
    """

    __slots__ = ("records", "synced", "ticks", "written")

    def __init__(self, size: int) -> None:
        self.records: deque[TradeRecord] = deque(maxlen=size)
        self.ticks: list[TradeTick] = []
        self.written = 0  # records ever appended at the newest end
        self.synced = 0

    def drop_stale(self) -> None:
        """Drop the objects of records that left the ring (FIFO or expiry) since the last read.

        ``ticks`` mirrors the records that end ``written - synced`` before the newest end.
        """
        covered = len(self.records) - (self.written - self.synced)
        excess = len(self.ticks) - max(covered, 0)
        if excess > 0:
            del self.ticks[:excess]

    def ticks_of_newest(self, count: int) -> list[TradeTick]:
        """The list of objects, oldest first, brought up to date and holding at least the
        newest ``count`` records (all of them if fewer)."""
        self.drop_stale()
        records, ticks = self.records, self.ticks
        count = min(count, len(records))
        pending = self.written - self.synced
        if pending:
            # Made before the list changes: a record that is not a valid trade raises here,
            # leaving the list and ``synced`` as they were.
            if pending >= count:  # the answer is all new: start the list again from it
                ticks[:] = _ticks(records, 0, count)
                self.synced = self.written
                return ticks
            ticks += _ticks(records, 0, pending)
            self.synced = self.written
        if count > len(ticks):  # older records no read has wanted yet
            ticks[:0] = _ticks(records, len(ticks), count)
        return ticks


def _ticks(records: deque[TradeRecord], skip: int, stop: int) -> list[TradeTick]:
    """The objects of the records ``skip`` to ``stop`` back from the newest, oldest first."""
    made = [to_tick(record) for record in islice(reversed(records), skip, stop)]
    made.reverse()
    return made


class MemoryTickCache:
    """Recent trades per instrument in process memory (see the module docstring).

    Options:
        max_ticks_per_symbol: trades kept per instrument, >= 1; the oldest go first.
        ttl_seconds: trades received this many seconds ago or earlier are not returned, >= 1.
        clock: the current UTC time in ns, compared with each trade's ``ts_recv``
            (``time.time_ns`` unless a test or a replay supplies its own).
    """

    def __init__(
        self,
        max_ticks_per_symbol: int = 1000,
        ttl_seconds: int = 300,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if max_ticks_per_symbol < 1 or ttl_seconds < 1:
            raise ValueError("memory cache: max_ticks_per_symbol and ttl_seconds must be >= 1")
        self._max = max_ticks_per_symbol
        self._ttl_ns = ttl_seconds * NANOS_PER_SECOND
        self._clock = clock
        self._rings: dict[tuple[str, str], _Ring] = {}
        # (exchange, symbol) as a reader passed them -> the checked, canonical key.
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._stats = CacheStats()

    @classmethod
    def from_config(
        cls, config: MemoryCacheConfig, *, clock: Callable[[], int] = time.time_ns
    ) -> MemoryTickCache:
        return cls(config.max_ticks_per_symbol, config.ttl_seconds, clock=clock)

    @property
    def stats(self) -> CacheStats:
        return self._stats

    @property
    def max_ticks_per_symbol(self) -> int:
        return self._max

    # -- writes ----------------------------------------------------------------------------

    def _new_ring(self, key: tuple[str, str]) -> _Ring:
        ring = self._rings[key] = _Ring(self._max)
        return ring

    def add_many(self, records: Sequence[TradeRecord]) -> None:
        """Cache trades of any instruments, oldest first (the synchronous form of put_many)."""
        stats = self._stats
        stats.operations += 1
        stats.ticks_written += len(records)
        rings = self._rings
        for record in records:
            key = (record.exchange, record.symbol)
            ring = rings.get(key)
            if ring is None:
                ring = self._new_ring(key)
            ring.records.append(record)
            ring.written += 1

    async def put(self, record: TradeRecord) -> None:
        self.add_many((record,))

    async def put_many(self, records: Sequence[TradeRecord]) -> None:
        self.add_many(records)

    def backfill(self, records: Sequence[TradeRecord]) -> None:
        """Add trades read from a slower tier (newest first) behind the ones held here.

        Only trades older than the oldest one held, by ``(ts_event, trade_id)``, are added, and
        only while there is room: backfill never pushes out a trade this cache received itself.
        """
        if not records:
            return
        first = records[0]
        key = (first.exchange, first.symbol)
        ring = self._rings.get(key) or self._new_ring(key)
        held = ring.records
        if held:
            oldest = held[0]
            boundary = (oldest.ts_event, oldest.trade_id)
            records = [r for r in records if (r.ts_event, r.trade_id) < boundary]
        room = self._max - len(held)
        # The objects mirror the newest end: those of records gone must not stand for these.
        ring.drop_stale()
        # extendleft adds each in turn at the left end: newest first in, oldest ends leftmost.
        held.extendleft(records[:room])

    # -- reads -----------------------------------------------------------------------------

    def _live_ring(self, exchange: str, symbol: str) -> _Ring | None:
        """The instrument's ring with expired trades dropped from its old end."""
        asked = (exchange, symbol)
        key = self._keys.get(asked)
        if key is None:
            key = (check_exchange(exchange), check_symbol(symbol))
            if len(self._keys) >= _KEYS_REMEMBERED:
                self._keys.clear()
            self._keys[asked] = key
        self._stats.operations += 1
        ring = self._rings.get(key)
        if ring is None:
            return None
        records = ring.records
        cutoff = self._clock() - self._ttl_ns
        while records and records[0].ts_recv <= cutoff:
            records.popleft()
        return ring

    def _count_since(self, ring: _Ring, start_ns: int) -> int | None:
        """How many of the newest records have ``ts_event >= start_ns``; None when all do."""
        for count, record in enumerate(reversed(ring.records)):
            if record.ts_event < start_ns:
                return count
        return None  # every trade held is at or after start_ns: earlier ones may be missing

    def recent_records(self, exchange: str, symbol: str, limit: int) -> list[TradeRecord]:
        """Up to ``limit`` most recent records of one instrument, newest first."""
        check_limit(limit)
        ring = self._live_ring(exchange, symbol)
        return [] if ring is None else list(islice(reversed(ring.records), limit))

    def since_records(self, exchange: str, symbol: str, start_ns: int) -> list[TradeRecord] | None:
        """Records with ``ts_event >= start_ns``, newest first; None when not reaching back."""
        ring = self._live_ring(exchange, symbol)
        if ring is None:
            return None
        count = self._count_since(ring, start_ns)
        return None if count is None else list(islice(reversed(ring.records), count))

    def recent_ticks(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        """``recent`` without the coroutine: for synchronous callers in the same process."""
        if type(limit) is not int or limit < 1:
            check_limit(limit)  # raises, naming the value
        # _live_ring, written out: this is the read a strategy makes on every tick.
        key = self._keys.get((exchange, symbol))
        ring = self._rings.get(key) if key is not None else None
        if ring is None:
            ring = self._live_ring(exchange, symbol)  # checks the names, counts the miss
            if ring is None:
                return []
        else:
            self._stats.operations += 1
            records = ring.records
            cutoff = self._clock() - self._ttl_ns
            while records and records[0].ts_recv <= cutoff:
                records.popleft()
        ticks = ring.ticks
        # Up to date, nothing stale, enough objects: the common case is a slice alone.
        if ring.written != ring.synced or not limit <= len(ticks) <= len(ring.records):
            ticks = ring.ticks_of_newest(limit)
        # Newest first: from the last object back, ``limit`` of them (or all there are).
        return ticks[: -limit - 1 : -1]

    def since_ticks(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        """``since`` without the coroutine: for synchronous callers in the same process."""
        ring = self._live_ring(exchange, symbol)
        if ring is None:
            return None
        count = self._count_since(ring, start_ns)
        if count is None:
            return None
        if count == 0:
            return []
        return ring.ticks_of_newest(count)[: -count - 1 : -1]

    async def recent(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        return self.recent_ticks(exchange, symbol, limit)

    async def since(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        return self.since_ticks(exchange, symbol, start_ns)

    async def close(self) -> None:
        self._rings.clear()
