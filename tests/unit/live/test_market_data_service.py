"""The market-data service in one process: trades from a real ring reach the strategy before
the cache, the cache writes run behind processing in order, and a stop drains everything."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator, Sequence

import pytest

from ticklane.cache.base import CacheStats
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import TradeTick
from ticklane.ipc.loop import polling_loop
from ticklane.ipc.segment import unlink_segment
from ticklane.ipc.writer import RingWriter
from ticklane.live.ipc_exchange import IpcExchange
from ticklane.live.market_data import MarketDataService, TickValidator

DEADLINE_S = 30.0


def trade(n: int, price: int = 42_000 * 10**9) -> TradeRecord:
    now = time.time_ns()
    return TradeRecord("binance", "BTCUSDT", now, now, n, price, 10**6, Side.BUY)


class SlowCache:
    """A cache whose writes take ``delay`` seconds; records what it was given, in order."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.writes: list[list[int]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._stats = CacheStats()

    @property
    def stats(self) -> CacheStats:
        return self._stats

    async def put(self, record: TradeRecord) -> None:
        await self.put_many([record])

    async def put_many(self, records: Sequence[TradeRecord]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.writes.append([record.trade_id for record in records])
        self.in_flight -= 1

    async def recent(self, exchange: str, symbol: str, limit: int) -> list[TradeTick]:
        return []

    async def since(self, exchange: str, symbol: str, start_ns: int) -> list[TradeTick] | None:
        return None

    async def close(self) -> None:
        pass


def validator() -> TickValidator:
    return TickValidator(["BTCUSDT"], max_future_ns=5 * 10**9, max_age_ns=60 * 10**9)


async def attached(exchange: IpcExchange) -> float:
    """Wait until ``exchange`` is attached to a live writer; the test's deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not exchange.stats.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return deadline


@pytest.fixture
def ring_name() -> Iterator[str]:
    name = f"ticklane-test-{secrets.token_hex(4)}"
    yield name
    unlink_segment(name)


def test_a_slow_cache_delays_no_decision_and_gets_every_trade_in_order() -> None:
    cache = SlowCache(delay=0.05)
    seen: list[int] = []
    service = MarketDataService(
        IpcExchange(f"unused-{secrets.token_hex(3)}"),
        validator(),
        capacity=100,
        cache=cache,
        on_trade=lambda record: seen.append(record.trade_id),
    )

    async def scenario() -> None:
        began = time.monotonic()
        for n in range(1, 31, 3):
            service._process([trade(n), trade(n + 1), trade(n + 2, price=0)])
            await asyncio.sleep(0.001)
        # Ten batches with a 50 ms cache: processing did not wait for one write.
        assert time.monotonic() - began < 0.05 * 3
        assert seen == [n for n in range(1, 31) if n % 3]
        await service.flush()

    asyncio.run(scenario())
    assert [n for write in cache.writes for n in write] == seen
    assert 1 < len(cache.writes) < 10  # what came in while a write was in flight went together
    assert cache.most_in_flight == 1
    assert service.stats.rejected == {"non_positive_price": 10}


def test_a_stop_drains_the_channel_and_waits_for_the_cache(ring_name: str) -> None:
    cache = SlowCache(delay=0.02)
    seen: list[int] = []
    exchange = IpcExchange(ring_name)
    service = MarketDataService(
        exchange,
        validator(),
        capacity=1000,
        cache=cache,
        on_trade=lambda r: seen.append(r.trade_id),
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        with RingWriter(ring_name, capacity=4096) as writer:
            task = asyncio.create_task(service.run(stop))
            deadline = await attached(exchange)
            for n in range(1, 501):
                writer.write(trade(n))
                if n % 50 == 0:
                    await asyncio.sleep(0.002)
            while len(seen) < 500 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            stop.set()
            await task

    asyncio.run(scenario())
    assert seen == list(range(1, 501))
    assert [n for write in cache.writes for n in write] == seen
    assert service.stats.accepted == 500
    assert cache.in_flight == 0


def test_a_failing_cache_writer_stops_the_service() -> None:
    class BrokenCache(SlowCache):
        async def put_many(self, records: Sequence[TradeRecord]) -> None:
            raise RuntimeError("a bug in the cache, not a Redis failure")

    service = MarketDataService(
        IpcExchange(f"unused-{secrets.token_hex(3)}"),
        validator(),
        capacity=100,
        cache=BrokenCache(delay=0.0),
    )

    async def scenario() -> None:
        service._process([trade(1)])
        with pytest.raises(RuntimeError, match="a bug in the cache"):
            await service.flush()
        with pytest.raises(RuntimeError, match="a bug in the cache"):
            service._process([trade(2)])

    asyncio.run(scenario())


def test_on_a_polling_loop_a_small_channel_takes_everything_in_order(ring_name: str) -> None:
    cache = SlowCache(delay=0.001)
    seen: list[int] = []
    exchange = IpcExchange(ring_name)
    service = MarketDataService(
        exchange, validator(), capacity=50, cache=cache, on_trade=lambda r: seen.append(r.trade_id)
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        with RingWriter(ring_name, capacity=4096) as writer:
            task = asyncio.create_task(service.run(stop))
            deadline = await attached(exchange)
            assert exchange.polled_by_loop
            for n in range(1, 1001):  # 20 times the channel: it fills, the ring holds the rest
                writer.write(trade(n))
            while len(seen) < 1000 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            stop.set()
            await task

    with asyncio.Runner(loop_factory=polling_loop) as runner:
        runner.run(scenario())
    assert seen == list(range(1, 1001))
    assert [n for write in cache.writes for n in write] == seen
    assert exchange.stats.lost == 0
