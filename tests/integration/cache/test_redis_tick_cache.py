"""L2 against a real Redis: exact round trips, bounded lists with a TTL, one LPUSH per
instrument per batch, and elements that are not ticks skipped."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from ticklane.cache import redis_cache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord

from cache_servers import RedisProcess


def trade(n: int, symbol: str = "BTCUSDT", exchange: str = "binance") -> TradeRecord:
    # A minute before the trade is made (the cache drops trades older than its TTL: a time
    # taken once at import would age with every test run before), one trade a millisecond.
    ts = time.time_ns() // 10**9 * 10**9 - 60_000_000_000 + n * 1_000_000
    side = (Side.NONE, Side.BUY, Side.SELL)[n % 3]
    return TradeRecord(exchange, symbol, ts, ts + 700, n, 42_150_250_000_000 + n * 10_000_001,
                       n * 1_000 + 1, side)  # fmt: skip


def ids(records: list[TradeRecord] | None) -> list[int] | None:
    return None if records is None else [r.trade_id for r in records]


def test_trades_come_back_exactly_newest_first(redis_url: str, key_prefix: str) -> None:
    sent = [trade(n) for n in range(1, 31)]

    async def scenario() -> tuple[list[TradeRecord], list[object]]:
        cache = RedisTickCache(redis_url, key_prefix=key_prefix, timeout=2.0)
        try:
            await cache.put_many(sent[:10])
            for record in sent[10:]:
                await cache.put(record)
            records = await cache.recent_records("binance", "BTCUSDT", 100)
            ticks = await cache.recent("binance", "BTCUSDT", 5)
            return records, list(ticks)
        finally:
            await cache.close()

    records, ticks = asyncio.run(scenario())
    assert records == sent[::-1]
    assert ticks == [r.to_trade_tick() for r in sent[::-1][:5]]


def test_each_list_is_trimmed_to_its_bound_and_expires(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> list[TradeRecord]:
        cache = RedisTickCache(
            redis_url, key_prefix=key_prefix, max_ticks_per_symbol=7, ttl_seconds=90, timeout=2.0
        )
        try:
            await cache.put_many([trade(n) for n in range(1, 21)])  # more than the bound at once
            await cache.put_many([trade(n) for n in range(21, 24)])
            return await cache.recent_records("binance", "BTCUSDT", 100)
        finally:
            await cache.close()

    assert ids(asyncio.run(scenario())) == [23, 22, 21, 20, 19, 18, 17]
    client = redis.Redis.from_url(redis_url)
    try:
        key = f"{key_prefix}ticks:binance:BTCUSDT"
        assert client.llen(key) == 7
        assert 0 < client.ttl(key) <= 90
    finally:
        client.close()


def test_venues_with_the_same_symbol_keep_separate_lists(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> tuple[list[TradeRecord], list[TradeRecord]]:
        cache = RedisTickCache(redis_url, key_prefix=key_prefix, timeout=2.0)
        try:
            await cache.put_many([trade(1), trade(2, exchange="sim"), trade(3)])
            return (
                await cache.recent_records("binance", "BTCUSDT", 10),
                await cache.recent_records("sim", "BTCUSDT", 10),
            )
        finally:
            await cache.close()

    binance, sim = asyncio.run(scenario())
    assert ids(binance) == [3, 1]
    assert ids(sim) == [2]


def test_a_batch_is_one_lpush_per_instrument_in_one_round_trip(own_redis: RedisProcess) -> None:
    batch = [trade(n, symbol) for n in range(300) for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    client = own_redis.client()

    def calls() -> dict[str, int]:
        stats = client.info("commandstats")
        return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0)
                for name in ("lpush", "ltrim", "expire", "multi")}  # fmt: skip

    async def scenario() -> list[TradeRecord]:
        cache = RedisTickCache(own_redis.url, timeout=2.0)
        try:
            await cache.put_many(batch)
            assert cache.stats.operations == 1
            return await cache.recent_records("binance", "ETHUSDT", 1000)
        finally:
            await cache.close()

    try:
        before = calls()
        eth = asyncio.run(scenario())
        after = calls()
    finally:
        client.close()
    assert {name: after[name] - before[name] for name in after} == {
        "lpush": 3,
        "ltrim": 3,
        "expire": 3,
        "multi": 0,
    }
    assert eth == [r for r in reversed(batch) if r.symbol == "ETHUSDT"]


def test_since_reads_past_its_first_page_when_it_must(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> tuple[list[int] | None, ...]:
        cache = RedisTickCache(redis_url, key_prefix=key_prefix, page_size=10, timeout=2.0)
        try:
            await cache.put_many([trade(n) for n in range(1, 51)])
            return (
                ids(await cache.since_records("binance", "BTCUSDT", trade(45).ts_event)),
                ids(await cache.since_records("binance", "BTCUSDT", trade(12).ts_event)),
                ids(await cache.since_records("binance", "BTCUSDT", trade(1).ts_event)),
                ids(await cache.since_records("binance", "ETHUSDT", trade(1).ts_event)),
            )
        finally:
            await cache.close()

    within_page, two_pages, before_oldest, unknown = asyncio.run(scenario())
    assert within_page == [50, 49, 48, 47, 46, 45]
    assert two_pages == list(range(50, 11, -1))
    assert before_oldest is None  # trade 1 is the oldest held: earlier ones may be missing
    assert unknown is None


def test_expired_trades_are_not_returned(redis_url: str, key_prefix: str) -> None:
    later = time.time_ns() + 3_600 * 10**9

    async def scenario() -> tuple[list[TradeRecord], list[TradeRecord] | None]:
        cache = RedisTickCache(
            redis_url, key_prefix=key_prefix, ttl_seconds=3600, timeout=2.0, clock=lambda: later
        )
        try:
            await cache.put_many([trade(1), trade(2)])
            return (
                await cache.recent_records("binance", "BTCUSDT", 10),
                await cache.since_records("binance", "BTCUSDT", trade(2).ts_event),
            )
        finally:
            await cache.close()

    assert asyncio.run(scenario()) == ([], None)


def test_elements_that_are_not_ticks_are_skipped(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> list[TradeRecord]:
        cache = RedisTickCache(redis_url, key_prefix=key_prefix, timeout=2.0)
        try:
            await cache.put_many([trade(1)])
            client = redis.Redis.from_url(redis_url)
            client.lpush(cache.key("binance", "BTCUSDT"), b"{garbage")
            client.close()
            await cache.put_many([trade(2)])
            records = await cache.recent_records("binance", "BTCUSDT", 10)
            assert cache.stats.bad_entries == 1
            assert cache.stats.failures == 0
            return records
        finally:
            await cache.close()

    assert ids(asyncio.run(scenario())) == [2, 1]


def test_reading_a_list_again_gives_its_current_elements_and_counts_bad_ones_each_time(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Elements decoded once are remembered (a bounded number of them): a list read again,
    changed in between, still answers exactly what it holds."""
    monkeypatch.setattr(redis_cache, "_DECODED_REMEMBERED", 8)

    async def scenario() -> None:
        cache = RedisTickCache(redis_url, key_prefix=key_prefix, timeout=2.0)
        client = redis.Redis.from_url(redis_url)
        try:
            await cache.put_many([trade(n) for n in range(1, 6)])
            assert ids(await cache.recent_records("binance", "BTCUSDT", 10)) == [5, 4, 3, 2, 1]
            client.lpush(cache.key("binance", "BTCUSDT"), b"{garbage")
            await cache.put_many([trade(n) for n in range(6, 13)])
            for _ in range(2):
                records = await cache.recent_records("binance", "BTCUSDT", 20)
                assert ids(records) == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
                assert records == [trade(n) for n in range(12, 0, -1)]
                ticks = await cache.recent("binance", "BTCUSDT", 3)
                assert ticks == [trade(n).to_trade_tick() for n in (12, 11, 10)]
                assert len(cache._decoded) <= 12
            assert cache.stats.bad_entries == 2
        finally:
            client.close()
            await cache.close()

    asyncio.run(scenario())
