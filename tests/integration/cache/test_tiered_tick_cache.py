"""L1 in front of Redis: writes reach both, reads try L1, then Redis (filling L1), then give up."""

from __future__ import annotations

import asyncio
import time

from ticklane.cache.build import build_tick_cache
from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.cache.tiered import TieredTickCache
from ticklane.config.settings import CacheConfig, MemoryCacheConfig, RedisCacheConfig
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick


def trade(n: int, symbol: str = "BTCUSDT") -> TradeRecord:
    # A minute before the trade is made, not before the module was imported: the caches drop
    # trades older than their TTL, and a time taken at import ages with the suite's run.
    ts = time.time_ns() // 10**9 * 10**9 - 60_000_000_000 + n * 1_000_000
    side = Side.BUY if n % 2 else Side.SELL
    return TradeRecord("binance", symbol, ts, ts + 300, n, 3_000_120_000_000 + n, 10**7, side)


def ids(ticks: list[TradeTick] | list[TradeRecord] | None) -> list[int] | None:
    return None if ticks is None else [t.trade_id for t in ticks]


def tiered(url: str, prefix: str, l1_size: int = 100) -> TieredTickCache:
    return TieredTickCache(
        MemoryTickCache(max_ticks_per_symbol=l1_size, ttl_seconds=300),
        RedisTickCache(url, key_prefix=prefix, max_ticks_per_symbol=1000, timeout=2.0),
    )


def test_a_write_reaches_both_tiers(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> tuple[list[TradeRecord], list[TradeRecord]]:
        cache = tiered(redis_url, key_prefix)
        try:
            await cache.put_many([trade(n) for n in range(1, 6)])
            await cache.put(trade(6))
            return (
                cache.memory.recent_records("binance", "BTCUSDT", 10),
                await cache.redis.recent_records("binance", "BTCUSDT", 10),
            )
        finally:
            await cache.close()

    l1, l2 = asyncio.run(scenario())
    assert ids(l1) == ids(l2) == [6, 5, 4, 3, 2, 1]
    assert l1 == l2


def test_l1_answers_without_asking_redis_when_it_holds_enough(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> tuple[list[TradeTick], int]:
        cache = tiered(redis_url, key_prefix)
        try:
            await cache.put_many([trade(n) for n in range(1, 21)])
            operations = cache.redis.stats.operations
            ticks = await cache.recent("binance", "BTCUSDT", 10)
            since = await cache.since("binance", "BTCUSDT", trade(15).ts_event)
            assert ids(since) == [20, 19, 18, 17, 16, 15]
            assert cache.reads.l1_hits == 2
            return ticks, cache.redis.stats.operations - operations
        finally:
            await cache.close()

    ticks, redis_operations = asyncio.run(scenario())
    assert ids(ticks) == list(range(20, 10, -1))
    assert ticks == [trade(n).to_trade_tick() for n in range(20, 10, -1)]
    assert redis_operations == 0


def test_a_restarted_process_gets_its_context_from_redis_once(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> None:
        before = tiered(redis_url, key_prefix)
        await before.put_many([trade(n) for n in range(1, 51)])
        await before.close()

        after = tiered(redis_url, key_prefix)  # a new process: L1 empty, Redis kept the ticks
        try:
            assert ids(await after.recent("binance", "BTCUSDT", 20)) == list(range(50, 30, -1))
            assert after.reads.l2_hits == 1
            assert ids(after.memory.recent_records("binance", "BTCUSDT", 100)) == list(
                range(50, 30, -1)
            )
            operations = after.redis.stats.operations
            assert ids(await after.recent("binance", "BTCUSDT", 20)) == list(range(50, 30, -1))
            assert after.redis.stats.operations == operations  # served by L1 now
            assert after.reads.l1_hits == 1
        finally:
            await after.close()

    asyncio.run(scenario())


def test_since_falls_back_to_redis_and_fills_l1_behind_new_trades(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> None:
        before = tiered(redis_url, key_prefix)
        await before.put_many([trade(n) for n in range(1, 31)])
        await before.close()

        after = tiered(redis_url, key_prefix)
        try:
            await after.put_many([trade(31), trade(32)])  # live again: L1 holds only these
            since = await after.since("binance", "BTCUSDT", trade(25).ts_event)
            assert ids(since) == list(range(32, 24, -1))
            assert after.reads.l2_hits == 1
            held = after.memory.recent_records("binance", "BTCUSDT", 100)
            assert ids(held) == list(range(32, 24, -1))  # what since read from Redis
        finally:
            await after.close()

    asyncio.run(scenario())


def test_trades_redis_missed_are_still_answered_from_l1(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> list[TradeTick]:
        before = tiered(redis_url, key_prefix)
        await before.put_many([trade(n) for n in range(1, 11)])
        await before.close()

        after = tiered(redis_url, key_prefix)
        try:
            after.memory.add_many([trade(11), trade(12)])  # as if Redis had failed for these
            return await after.recent("binance", "BTCUSDT", 5)
        finally:
            await after.close()

    assert ids(asyncio.run(scenario())) == [12, 11, 10, 9, 8]


def test_a_limit_larger_than_l1_is_answered_from_both_tiers(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> list[TradeTick]:
        cache = tiered(redis_url, key_prefix, l1_size=5)
        try:
            await cache.put_many([trade(n) for n in range(1, 31)])
            return await cache.recent("binance", "BTCUSDT", 12)
        finally:
            await cache.close()

    assert ids(asyncio.run(scenario())) == list(range(30, 18, -1))


def test_an_instrument_neither_tier_knows_is_a_miss(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> None:
        cache = tiered(redis_url, key_prefix)
        try:
            assert await cache.recent("binance", "XRPUSDT", 10) == []
            assert await cache.since("binance", "XRPUSDT", time.time_ns()) is None
            assert cache.reads.misses == 2
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_the_configuration_decides_the_tiers(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> None:
        alone = build_tick_cache(CacheConfig())
        assert isinstance(alone, MemoryTickCache)
        config = CacheConfig(
            memory=MemoryCacheConfig(max_ticks_per_symbol=3, ttl_seconds=300),
            redis=RedisCacheConfig(url=redis_url, max_ticks_per_symbol=4, ttl_seconds=300),
        )
        both = build_tick_cache(config, key_prefix=key_prefix)
        assert isinstance(both, TieredTickCache)
        try:
            await both.put_many([trade(n) for n in range(1, 11)])
            assert ids(both.memory.recent_records("binance", "BTCUSDT", 10)) == [10, 9, 8]
            assert ids(await both.redis.recent_records("binance", "BTCUSDT", 10)) == [10, 9, 8, 7]
        finally:
            await both.close()
            await alone.close()

    asyncio.run(scenario())
