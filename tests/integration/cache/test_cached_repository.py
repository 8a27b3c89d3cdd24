"""Tick queries about the last hour read the cache first, and get exactly the store's rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.cache.repository import CachedTickRepository
from ticklane.cache.tiered import TieredTickCache
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick
from ticklane.core.time import NANOS_PER_MINUTE
from ticklane.storage.base import Order
from ticklane.storage.sqlite import SqliteTickStore

from cache_servers import free_port

BTC = InstrumentId("binance", "BTCUSDT")
NOW = time.time_ns()
STARTED = NOW - 30 * NANOS_PER_MINUTE  # when this process began caching


def trades() -> list[TradeRecord]:
    """Two hours of trades, two at each timestamp, a timestamp every 4 s."""
    out = []
    for n in range(3600):
        ts = NOW - 120 * NANOS_PER_MINUTE + (n // 2) * 4_000_000_000
        price, quantity = 2_999_000_000_000 + n * 10_000_000, 1_000_000 + n
        side = Side.BUY if n % 2 else Side.SELL
        record = TradeRecord(
            "binance", "BTCUSDT", ts, ts + 900_000, 10_000 + n, price, quantity, side
        )
        out.append(record)
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTickStore]:
    created = SqliteTickStore(tmp_path / "ticks.sqlite3")
    created.migrate()
    created.insert_ticks(r.to_trade_tick() for r in trades())
    try:
        yield created
    finally:
        created.close()


def live_part() -> list[TradeRecord]:
    return [r for r in trades() if r.ts_event >= STARTED]


def test_recent_queries_come_from_the_cache_with_the_stores_rows(
    store: SqliteTickStore, redis_url: str, key_prefix: str
) -> None:
    queries = [
        (NOW - 10 * NANOS_PER_MINUTE, NOW, Order.ASC, None),
        (NOW - 10 * NANOS_PER_MINUTE, NOW - 5 * NANOS_PER_MINUTE, Order.DESC, None),
        (NOW - 20 * NANOS_PER_MINUTE, NOW + NANOS_PER_MINUTE, Order.DESC, 25),
        (NOW - 20 * NANOS_PER_MINUTE, NOW, Order.ASC, 0),
        (NOW - NANOS_PER_MINUTE, NOW - NANOS_PER_MINUTE, Order.ASC, None),
    ]

    async def scenario() -> list[tuple[list[TradeTick], list[TradeTick]]]:
        cache = TieredTickCache(
            MemoryTickCache(max_ticks_per_symbol=2000, ttl_seconds=3600, clock=lambda: NOW),
            RedisTickCache(redis_url, key_prefix=key_prefix, timeout=2.0, clock=lambda: NOW),
        )
        repository = CachedTickRepository(store, cache, clock=lambda: NOW)
        try:
            await cache.put_many(live_part())
            answers = []
            for start, end, order, limit in queries:
                got = await repository.get_ticks(BTC, start, end, order=order, limit=limit)
                answers.append((got, store.get_ticks(BTC, start, end, order=order, limit=limit)))
            assert repository.stats.from_cache == len(queries)
            assert repository.stats.from_store == 0
            return answers
        finally:
            await cache.close()

    answers = asyncio.run(scenario())
    for got, expected in answers:
        assert got == expected
    assert [len(expected) for _, expected in answers] == [300, 150, 25, 0, 0]


def test_a_start_before_the_cache_or_the_last_hour_goes_to_the_store(
    store: SqliteTickStore,
) -> None:
    cache = MemoryTickCache(max_ticks_per_symbol=5000, ttl_seconds=3600, clock=lambda: NOW)
    cache.add_many(live_part())
    repository = CachedTickRepository(store, cache, clock=lambda: NOW)
    before_cache = NOW - 45 * NANOS_PER_MINUTE  # within the hour, before the cache's first trade
    hours_ago = NOW - 110 * NANOS_PER_MINUTE

    async def scenario() -> None:
        reads = cache.stats.operations
        got = await repository.get_ticks(BTC, hours_ago, NOW)
        assert cache.stats.operations == reads  # older than an hour: the cache is not asked
        assert got == store.get_ticks(BTC, hours_ago, NOW)
        got = await repository.get_ticks(BTC, before_cache, NOW, order=Order.DESC, limit=900)
        assert cache.stats.operations == reads + 1  # asked, could not answer
        assert got == store.get_ticks(BTC, before_cache, NOW, order=Order.DESC, limit=900)
        assert len(got) == 900

    asyncio.run(scenario())
    assert repository.stats.from_store == 2
    assert repository.stats.from_cache == 0


def test_when_redis_is_down_and_l1_is_empty_the_store_answers(store: SqliteTickStore) -> None:
    start = NOW - 10 * NANOS_PER_MINUTE

    async def scenario() -> list[TradeTick]:
        redis = RedisTickCache(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
        cache = TieredTickCache(MemoryTickCache(clock=lambda: NOW), redis)
        repository = CachedTickRepository(store, cache, clock=lambda: NOW)
        try:
            got = await repository.get_ticks(BTC, start, NOW)
            assert redis.stats.failures == 1
            assert repository.stats.from_store == 1
            return got
        finally:
            await cache.close()

    got = asyncio.run(scenario())
    assert got == store.get_ticks(BTC, start, NOW)
    assert len(got) == 300
