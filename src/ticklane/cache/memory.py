"""L1: an in-process ring of the most recent trades of each instrument.

Each instrument has a ``deque`` of at most ``max_ticks_per_symbol`` trades; the oldest falls
out first (FIFO). Trades older than ``ttl_seconds`` by their receive time (``ts_recv``) are not
returned and are dropped on the next read. Nothing here does I/O or can fail, so the async
methods of ``TickCache`` complete at once; the record-level methods are plain functions.

A trade object (``TradeTick``, exact ``Decimal`` values) is made the first time a read needs it
and kept with the record, so a strategy asking for its context on every tick pays for each
conversion once, not once per read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice

from ticklane.cache.base import CacheStats, check_limit
from ticklane.config.settings import MemoryCacheConfig
from ticklane.core.identifiers import check_exchange, check_symbol
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick
from ticklane.core.time import NANOS_PER_SECOND


class _Entry:
    """A cached record and, once a read has wanted it, its trade object."""

    __slots__ = ("record", "tick")

    def __init__(self, record: TradeRecord) -> None:
        self.record = record
        self.tick: TradeTick | None = None

    def trade_tick(self) -> TradeTick:
        tick = self.tick
        if tick is None:
            tick = self.tick = self.record.to_trade_tick()
        return tick


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
        self._rings: dict[tuple[str, str], deque[_Entry]] = {}
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

    def add_many(self, records: Sequence[TradeRecord]) -> None:
        """Cache trades of any instruments, oldest first (the synchronous form of put_many)."""
        self._stats.operations += 1
        self._stats.ticks_written += len(records)
        rings = self._rings
        for record in records:
            key = (record.exchange, record.symbol)
            ring = rings.get(key)
            if ring is None:
                ring = rings[key] = deque(maxlen=self._max)
            ring.append(_Entry(record))

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
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = deque(maxlen=self._max)
        if ring:
            oldest = ring[0].record
            boundary = (oldest.ts_event, oldest.trade_id)
            records = [r for r in records if (r.ts_event, r.trade_id) < boundary]
        room = self._max - len(ring)
        # extendleft adds each in turn at the left end: newest first in, oldest ends leftmost.
        ring.extendleft(_Entry(record) for record in records[:room])

    # -- reads -----------------------------------------------------------------------------

    def _live_ring(self, exchange: str, symbol: str) -> deque[_Entry] | None:
        """The instrument's ring with expired trades dropped from its old end."""
        key = (check_exchange(exchange), check_symbol(symbol))
        self._stats.operations += 1
        ring = self._rings.get(key)
        if ring is None:
            return None
        cutoff = self._clock() - self._ttl_ns
        while ring and ring[0].record.ts_recv <= cutoff:
            ring.popleft()
        return ring

    def _recent_entries(self, exchange: str, symbol: str, limit: int) -> list[_Entry]:
        check_limit(limit)
        ring = self._live_ring(exchange, symbol)
        return [] if ring is None else list(islice(reversed(ring), limit))

    def _since_entries(self, exchange: str, symbol: str, start_ns: int) -> list[_Entry] | None:
        ring = self._live_ring(exchange, symbol)
        if ring is None:
            return None
        found: list[_Entry] = []
        for entry in reversed(ring):
            if entry.record.ts_event < start_ns:
                return found
            found.append(entry)
        return None  # every trade held is at or after start_ns: earlier ones may be missing

    def recent_records(self, exchange: str, symbol: str, limit: int) -> list[TradeRecord]:
        """Up to ``limit`` most recent records of one instrument, newest first."""
        return [entry.record for entry in self._recent_entries(exchange, symbol, limit)]

    def since_records(self, exchange: str, symbol: str, start_ns: int) -> list[TradeRecord] | None:
        """Records with ``ts_event >= start_ns``, newest first; None when not reaching back."""
        entries = self._since_entries(exchange, symbol, start_ns)
        return None if entries is None else [entry.record for entry in entries]

    def recent_ticks(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        """``recent`` without the coroutine: for synchronous callers in the same process."""
        return [entry.trade_tick() for entry in self._recent_entries(exchange, symbol, limit)]

    def since_ticks(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        """``since`` without the coroutine: for synchronous callers in the same process."""
        entries = self._since_entries(exchange, symbol, start_ns)
        return None if entries is None else [entry.trade_tick() for entry in entries]

    async def recent(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        return self.recent_ticks(exchange, symbol, limit)

    async def since(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        return self.since_ticks(exchange, symbol, start_ns)

    async def close(self) -> None:
        self._rings.clear()
