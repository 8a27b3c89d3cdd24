"""Redis slow or down mid-stream: nothing is raised into the feed, the failures are counted, L1
keeps answering, and writes reach Redis again by themselves once it is back."""

from __future__ import annotations

import asyncio
import json
import time

from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.cache.tiered import TieredTickCache
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord

from cache_servers import RedisProcess


def trades(first: int, count: int) -> list[TradeRecord]:
    # A minute before they are made, not before the module was imported: the caches drop
    # trades older than their TTL, and a time taken at import ages with the suite's run.
    minute_ago = time.time_ns() // 10**9 * 10**9 - 60_000_000_000
    out = []
    for n in range(first, first + count):
        ts = minute_ago + n * 1_000_000
        side = Side.BUY if n % 2 else Side.SELL
        out.append(
            TradeRecord("binance", "ETHUSDT", ts, ts + 250, n, 3_000 * 10**9 + n, 10**8, side)
        )
    return out


def ids(records: list[TradeRecord]) -> list[int]:
    return [r.trade_id for r in records]


def in_redis(server: RedisProcess) -> list[int]:
    """Trade ids in the instrument's list, newest first, read with a client of our own."""
    client = server.client()
    try:
        return [
            json.loads(item)["trade_id"] for item in client.lrange("ticks:binance:ETHUSDT", 0, -1)
        ]
    finally:
        client.close()


class Monotonic:
    """The clock of the cache's back-off pauses, moved on by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_on(server: RedisProcess, clock: Monotonic) -> TieredTickCache:
    # A timeout far above any normal answer: only a stopped server trips it, even on a busy box.
    redis = RedisTickCache(
        server.url, timeout=0.5, log_interval=60.0, backoff_after=3, monotonic=clock
    )
    return TieredTickCache(MemoryTickCache(max_ticks_per_symbol=1000, ttl_seconds=300), redis)


def test_redis_killed_and_restarted_on_the_same_port(own_redis: RedisProcess) -> None:
    clock = Monotonic()

    async def scenario() -> None:
        cache = cache_on(own_redis, clock)
        try:
            await cache.put_many(trades(1, 10))
            assert in_redis(own_redis) == list(range(10, 0, -1))

            own_redis.kill()
            await cache.put_many(trades(11, 10))  # refused at once
            await cache.put(trades(21, 1)[0])
            assert await cache.redis.recent_records("binance", "ETHUSDT", 5) == []
            assert (cache.stats.failures, cache.stats.skipped) == (3, 0)
            # Three in a row: Redis is left alone for a pause, and that is counted too.
            assert await cache.redis.since_records("binance", "ETHUSDT", time.time_ns()) is None
            assert (cache.stats.failures, cache.stats.skipped) == (4, 1)
            assert cache.stats.ticks_failed == 11
            ticks = await cache.recent("binance", "ETHUSDT", 15)  # L1 holds enough: it answers
            assert [t.trade_id for t in ticks] == list(range(21, 6, -1))

            own_redis.start()  # same port, empty (no persistence)
            await cache.put_many(trades(22, 5))  # still within the pause: not tried
            assert cache.stats.skipped == 2
            assert in_redis(own_redis) == []
            clock.now += 10.0  # past the longest pause
            await cache.put_many(trades(27, 5))
            assert in_redis(own_redis) == list(range(31, 26, -1))
            records = await cache.redis.recent_records("binance", "ETHUSDT", 10)
            assert ids(records) == list(range(31, 26, -1))
            assert cache.stats.failures == 5
            assert cache.stats.ticks_written == 31
            assert cache.stats.failure_rate == 16 / 31
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_redis_stopped_then_continued(own_redis: RedisProcess) -> None:
    clock = Monotonic()

    async def scenario() -> None:
        cache = cache_on(own_redis, clock)
        try:
            await cache.put_many(trades(1, 10))

            own_redis.pause()  # SIGSTOP: connections hang, nothing answers
            await cache.put_many(trades(11, 5))  # each cut off by the timeout
            assert await cache.redis.recent_records("binance", "ETHUSDT", 5) == []
            await cache.put_many(trades(16, 5))
            assert (cache.stats.failures, cache.stats.skipped) == (3, 0)
            await cache.put_many(trades(21, 5))  # backing off: not even tried
            assert (cache.stats.failures, cache.stats.skipped) == (4, 1)
            ticks = await cache.recent("binance", "ETHUSDT", 25)
            assert [t.trade_id for t in ticks] == list(range(25, 0, -1))

            own_redis.resume()
            clock.now += 10.0
            await cache.put_many(trades(26, 5))
            assert cache.stats.failures == 4
            # Timed-out batches may or may not have been applied once the server woke (they
            # were already in the socket); the batches written while it answered are all there.
            held = in_redis(own_redis)
            assert set(range(1, 11)) | set(range(26, 31)) <= set(held) <= set(range(1, 31))
            assert not set(range(21, 26)) & set(held)  # the skipped batch never left
            assert held.index(26) < held.index(10)  # newest first
            records = await cache.redis.recent_records("binance", "ETHUSDT", 100)
            assert ids(records) == held
        finally:
            await cache.close()

    asyncio.run(scenario())
