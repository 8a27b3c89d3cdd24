"""L1: a bounded FIFO ring per instrument, newest first, expiring by receive time."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from ticklane.cache.memory import MemoryTickCache
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.core.time import NANOS_PER_SECOND

T0 = 1_717_372_800 * NANOS_PER_SECOND  # 2024-06-03T00:00:00Z


class Clock:
    """The time a test says it is."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def trade(
    n: int, symbol: str = "BTCUSDT", exchange: str = "binance", recv: int | None = None
) -> TradeRecord:
    ts = T0 + n * 1_000_000  # one trade a millisecond
    side = Side.BUY if n % 2 else Side.SELL
    received = ts + 500 if recv is None else recv
    return TradeRecord(exchange, symbol, ts, received, n, 42_150_250_000_000 + n, 123_000, side)


def ids(ticks: list[TradeRecord] | None) -> list[int] | None:
    return None if ticks is None else [t.trade_id for t in ticks]


def test_a_busy_symbol_keeps_only_its_newest_trades_newest_first() -> None:
    cache = MemoryTickCache(max_ticks_per_symbol=5, ttl_seconds=60, clock=Clock())
    cache.add_many([trade(n) for n in range(1, 9)])
    assert ids(cache.recent_records("binance", "BTCUSDT", 100)) == [8, 7, 6, 5, 4]
    assert ids(cache.recent_records("binance", "BTCUSDT", 2)) == [8, 7]


def test_one_symbols_flood_does_not_evict_another_symbols_trades() -> None:
    cache = MemoryTickCache(max_ticks_per_symbol=3, ttl_seconds=60, clock=Clock())
    cache.add_many([trade(1, "ETHUSDT"), *(trade(n) for n in range(2, 50))])
    cache.add_many([trade(50, "BTCUSDT", exchange="kraken")])
    assert ids(cache.recent_records("binance", "ETHUSDT", 10)) == [1]
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [49, 48, 47]
    assert ids(cache.recent_records("kraken", "BTCUSDT", 10)) == [50]
    assert cache.recent_records("binance", "SOLUSDT", 10) == []


def test_exchange_name_is_matched_in_any_case() -> None:
    cache = MemoryTickCache(clock=Clock())
    cache.add_many([trade(1)])
    assert ids(cache.recent_records("Binance", "BTCUSDT", 1)) == [1]


def test_trades_received_ttl_or_longer_ago_are_not_returned() -> None:
    clock = Clock()
    cache = MemoryTickCache(max_ticks_per_symbol=100, ttl_seconds=10, clock=clock)
    cache.add_many([trade(1, recv=T0), trade(2, recv=T0 + 5 * NANOS_PER_SECOND)])
    clock.now = T0 + 9 * NANOS_PER_SECOND
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [2, 1]
    clock.now = T0 + 10 * NANOS_PER_SECOND  # trade 1 is exactly ttl old
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [2]
    clock.now = T0 + 20 * NANOS_PER_SECOND
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == []
    assert cache.since_records("binance", "BTCUSDT", T0) is None


def test_trade_objects_carry_the_exact_decimal_values() -> None:
    cache = MemoryTickCache(clock=Clock())
    record = trade(3)
    cache.add_many([record])
    (tick,) = asyncio.run(cache.recent("binance", "BTCUSDT", 1))
    assert tick == record.to_trade_tick()
    assert tick.price == Decimal("42150.250000003")
    assert tick.quantity == Decimal("0.00123")
    assert tick.side is Side.BUY


def test_since_answers_only_when_the_ring_reaches_back_before_start() -> None:
    cache = MemoryTickCache(max_ticks_per_symbol=4, ttl_seconds=60, clock=Clock())
    cache.add_many([trade(n) for n in range(1, 11)])  # holds 7..10
    start_of = trade(8).ts_event
    assert ids(cache.since_records("binance", "BTCUSDT", start_of)) == [10, 9, 8]
    assert ids(cache.since_records("binance", "BTCUSDT", start_of + 1)) == [10, 9]
    # Trade 7 is the oldest held: trades at its time may have been evicted before it.
    assert cache.since_records("binance", "BTCUSDT", trade(7).ts_event) is None
    assert cache.since_records("binance", "BTCUSDT", T0) is None
    assert cache.since_records("binance", "ETHUSDT", start_of) is None
    assert ids(cache.since_records("binance", "BTCUSDT", trade(11).ts_event)) == []


def test_backfill_adds_only_older_trades_and_never_evicts_newer_ones() -> None:
    cache = MemoryTickCache(max_ticks_per_symbol=5, ttl_seconds=60, clock=Clock())
    cache.add_many([trade(8), trade(9)])
    from_redis = [trade(n) for n in (9, 8, 7, 6, 5, 4, 3)]  # newest first, as Redis returns
    cache.backfill(from_redis)
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [9, 8, 7, 6, 5]
    cache.backfill([trade(2)])  # full: nothing added, nothing lost
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [9, 8, 7, 6, 5]
    cache.add_many([trade(10)])  # a new trade still pushes out the oldest
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [10, 9, 8, 7, 6]


def test_backfill_into_an_empty_ring_keeps_the_newest() -> None:
    cache = MemoryTickCache(max_ticks_per_symbol=3, ttl_seconds=60, clock=Clock())
    cache.backfill([trade(n) for n in (6, 5, 4, 3, 2)])
    assert ids(cache.recent_records("binance", "BTCUSDT", 10)) == [6, 5, 4]


def test_put_and_put_many_count_what_they_were_given() -> None:
    cache = MemoryTickCache(clock=Clock())

    async def scenario() -> None:
        await cache.put(trade(1))
        await cache.put_many([trade(2), trade(3)])
        await cache.put_many([])

    asyncio.run(scenario())
    assert cache.stats.ticks_written == 3
    assert cache.stats.failures == 0
    assert cache.stats.failure_rate == 0.0


def test_trade_objects_follow_the_ring_through_floods_expiry_and_backfill() -> None:
    """Trade objects are made lazily and kept between reads: whatever happened in between
    (trades pushed out, expired, backfilled), a read answers exactly the records' objects."""
    rng = random.Random(5)
    clock = Clock()
    cache = MemoryTickCache(max_ticks_per_symbol=12, ttl_seconds=10, clock=clock)
    written = 0
    for _ in range(3000):
        action = rng.random()
        if action < 0.4:
            count = rng.choice((1, 1, 2, 5, 13, 30))
            cache.add_many([trade(written + n, recv=clock.now) for n in range(1, count + 1)])
            written += count
        elif action < 0.5:
            clock.now += rng.choice((1, 3, 9)) * NANOS_PER_SECOND // 2
        elif action < 0.6:
            held = cache.recent_records("binance", "BTCUSDT", 100)
            oldest = held[-1].trade_id if held else written + 1
            older = range(oldest - 1, max(0, oldest - rng.randint(1, 20)), -1)
            cache.backfill([trade(n, recv=clock.now) for n in older])
        elif action < 0.8:
            limit = rng.choice((1, 2, 5, 12, 40))
            records = cache.recent_records("binance", "BTCUSDT", limit)
            ticks = cache.recent_ticks("binance", "BTCUSDT", limit)
            assert ticks == [record.to_trade_tick() for record in records]
        else:
            start = T0 + rng.randint(max(0, written - 15), written + 1) * 1_000_000
            since = cache.since_records("binance", "BTCUSDT", start)
            got = cache.since_ticks("binance", "BTCUSDT", start)
            assert got == (None if since is None else [r.to_trade_tick() for r in since])


def test_a_record_no_trade_could_be_fails_the_reads_that_need_it_and_only_those() -> None:
    cache = MemoryTickCache(clock=Clock())
    free = TradeRecord("binance", "BTCUSDT", T0 + 3_000_000, T0, 3, 0, 123_000, Side.BUY)
    cache.add_many([trade(1), trade(2)])
    assert cache.recent_ticks("binance", "BTCUSDT", 1) == [trade(2).to_trade_tick()]
    cache.add_many([free, trade(4)])
    for _ in range(2):
        with pytest.raises(BadDataError, match="price"):
            cache.recent_ticks("binance", "BTCUSDT", 3)
    assert cache.recent_ticks("binance", "BTCUSDT", 1) == [trade(4).to_trade_tick()]
    cache.add_many([trade(5)])
    assert cache.recent_ticks("binance", "BTCUSDT", 2) == [trade(5).to_trade_tick(),
                                                           trade(4).to_trade_tick()]  # fmt: skip


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_a_limit_that_is_not_a_positive_integer_is_refused(limit: object) -> None:
    cache = MemoryTickCache(clock=Clock())
    with pytest.raises(ValueError, match="limit"):
        cache.recent_records("binance", "BTCUSDT", limit)  # type: ignore[arg-type]


def test_sizes_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="max_ticks_per_symbol"):
        MemoryTickCache(max_ticks_per_symbol=0)
    with pytest.raises(ValueError, match="ttl_seconds"):
        MemoryTickCache(ttl_seconds=0)
