"""The tiered cache: L1 in memory in front of L2 in Redis, as in the reference system.

Writes go to both tiers: L1 at once, then L2's round trip; a Redis failure costs only L2's copy.

Reads try L1, then L2, then answer empty:

- ``recent(limit)``: L1 answers when it holds ``limit`` unexpired trades. Otherwise L2 is read;
  when it has more, its trades are backfilled into L1 behind the ones L1 holds (so a restarted
  process regains its context from Redis once) and the answer is the union of both.
- ``since(start_ns)``: L1 answers when it reaches back to ``start_ns``; otherwise L2 when it
  does (with the same backfill); otherwise ``None``: ask the tick store.

The union, not L2 alone: L2 may lack the newest trades if Redis failed while they were
written, and L1 never does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ticklane.cache.base import CacheStats, check_limit, to_ticks
from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick


class TierStats:
    """Where reads were answered: ``l1_hits``, ``l2_hits`` (L1 backfilled) and ``misses``."""

    __slots__ = ("l1_hits", "l2_hits", "misses")

    def __init__(self) -> None:
        self.l1_hits = 0
        self.l2_hits = 0
        self.misses = 0


class TieredTickCache:
    """L1 (``memory``) in front of L2 (``redis``); see the module docstring."""

    def __init__(self, memory: MemoryTickCache, redis: RedisTickCache) -> None:
        self._memory = memory
        self._redis = redis
        self.reads = TierStats()

    @property
    def memory(self) -> MemoryTickCache:
        return self._memory

    @property
    def redis(self) -> RedisTickCache:
        return self._redis

    @property
    def stats(self) -> CacheStats:
        """L2's counters: L1 cannot fail, so the failures that matter are all counted here."""
        return self._redis.stats

    async def put(self, record: TradeRecord) -> None:
        await self.put_many((record,))

    async def put_many(self, records: Sequence[TradeRecord]) -> None:
        # L1 is a synchronous append: done before L2's round trip starts, without the two
        # tasks a gather would make.
        self._memory.add_many(records)
        await self._redis.put_many(records)

    async def recent(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        held = self._memory.recent_ticks(exchange, symbol, check_limit(limit))
        if len(held) >= limit:
            self.reads.l1_hits += 1
            return held
        loaded = await self._redis.recent_records(exchange, symbol, limit)
        if len(loaded) <= len(held):
            self._count(held)
            return held
        self.reads.l2_hits += 1
        self._memory.backfill(loaded)
        held = self._memory.recent_ticks(exchange, symbol, limit)
        if len(held) >= len(loaded):
            return held
        # L1 had no room for all of them (limit > its size): answer from both tiers.
        newer = self._memory.recent_records(exchange, symbol, limit)
        return to_ticks(_union(newer, loaded)[:limit])

    async def since(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        held = self._memory.since_ticks(exchange, symbol, start_ns)
        if held is not None:
            self.reads.l1_hits += 1
            return held
        loaded = await self._redis.since_records(exchange, symbol, start_ns)
        if loaded is None:
            self.reads.misses += 1
            return None
        self.reads.l2_hits += 1
        self._memory.backfill(loaded)
        held = self._memory.since_ticks(exchange, symbol, start_ns)
        if held is not None:
            return held
        # L1 is full of trades after start_ns: every one of them belongs to the answer.
        newer = self._memory.recent_records(exchange, symbol, self._memory.max_ticks_per_symbol)
        return to_ticks(_union(newer, loaded))

    def _count(self, held: list[TradeTick]) -> None:
        if held:
            self.reads.l1_hits += 1
        else:
            self.reads.misses += 1

    async def close(self) -> None:
        await asyncio.gather(self._memory.close(), self._redis.close())


def _union(newer: list[TradeRecord], older: list[TradeRecord]) -> list[TradeRecord]:
    """Both lists' trades once each, newest first by ``(ts_event, trade_id)``."""
    merged = {(r.ts_event, r.trade_id): r for r in older}
    merged.update(((r.ts_event, r.trade_id), r) for r in newer)
    return sorted(merged.values(), key=lambda r: (r.ts_event, r.trade_id), reverse=True)
