"""The batched store writer against real stores: everything arrives once, by size or by
time, and a store that falls behind costs counted drops, never a blocked feed."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.records import QuoteRecord, TradeRecord
from ticklane.datamanager.writer import StoreWriter
from ticklane.storage.base import TickStore
from ticklane.storage.postgres import PostgresTickStore

BTC = InstrumentId("binance", "BTCUSDT")
ETH = InstrumentId("binance", "ETHUSDT")
T0 = 1_704_067_200 * 10**9


def trade(n: int, symbol: str = "BTCUSDT") -> TradeRecord:
    side = Side.BUY if n % 2 else Side.SELL
    return TradeRecord("binance", symbol, T0 + n * 1000, T0 + n * 1000 + 5, n, 42_000 * 10**9 + n,
                       10**6, side)  # fmt: skip


def quote(n: int) -> QuoteRecord:
    return QuoteRecord("binance", "BTCUSDT", T0 + n, T0 + n, n, 41_999 * 10**9, 10**8,
                       42_001 * 10**9, 2 * 10**8)  # fmt: skip


def stored_trade_ids(store: TickStore, instrument: InstrumentId = BTC) -> list[int]:
    return [t.trade_id for t in store.get_ticks(instrument, 0, 2**62, limit=1_000_000)]


def test_every_trade_and_quote_is_stored_once_per_instrument(store: TickStore) -> None:
    async def scenario() -> StoreWriter:
        writer = StoreWriter(store, batch_size=100, flush_interval=0.05)
        runner = asyncio.create_task(writer.run())
        for n in range(1, 1_001):
            assert writer.submit(trade(n, "BTCUSDT" if n % 3 else "ETHUSDT"))
            if n % 10 == 0:
                writer.submit(quote(n))
            if n % 250 == 0:
                await asyncio.sleep(0)  # let the flusher run, as a feed between frames
        for n in range(1, 101):  # a reconnect's overlap: already stored
            writer.submit(trade(n, "BTCUSDT" if n % 3 else "ETHUSDT"))
        await writer.close(runner)
        return writer

    writer = asyncio.run(scenario())
    btc = stored_trade_ids(store)
    eth = stored_trade_ids(store, ETH)
    assert btc == [n for n in range(1, 1_001) if n % 3]
    assert eth == [n for n in range(1, 1_001) if n % 3 == 0]
    assert len(store.get_quotes(BTC, 0, 2**62)) == 100
    stats = writer.stats
    assert (stats.written, stats.duplicates, stats.dropped, stats.pending) == (1_100, 100, 0, 0)
    sells = [t for t in store.get_ticks(BTC, 0, 2**62, limit=10) if t.side is Side.SELL]
    assert sells and all(t.is_buyer_maker for t in sells)
    # One live provenance range per instrument, covering what was stored, rows counted once.
    ranges = {r.symbol: r for r in store.history.provenance("binance")}
    assert {r.kind for r in ranges.values()} == {"live"} and len(ranges) == 2
    assert (ranges["BTCUSDT"].start_ns, ranges["BTCUSDT"].end_ns) == (
        T0 + 1_000,
        T0 + 1_000 * 1_000 + 1,
    )
    assert ranges["BTCUSDT"].rows == len(btc) and ranges["ETHUSDT"].rows == len(eth)


def test_a_partial_batch_is_written_once_the_interval_passes(store: TickStore) -> None:
    async def scenario() -> list[int]:
        writer = StoreWriter(store, batch_size=10_000, flush_interval=0.05)
        runner = asyncio.create_task(writer.run())
        for n in range(1, 6):
            writer.submit(trade(n))
        deadline = time.monotonic() + 30
        while writer.stats.written < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        ids = await asyncio.to_thread(stored_trade_ids, store)  # before close flushes anything
        await writer.close(runner)
        return ids

    assert asyncio.run(scenario()) == [1, 2, 3, 4, 5]


def test_a_store_that_falls_behind_costs_counted_drops_not_a_blocked_feed(
    pg_schema_url: str,
) -> None:
    store = PostgresTickStore(pg_schema_url, max_connections=2)
    store.migrate()
    locker = psycopg.connect(pg_schema_url)
    released = threading.Event()

    async def scenario() -> tuple[StoreWriter, int]:
        writer = StoreWriter(store, batch_size=50, flush_interval=0.01, max_pending=200)
        runner = asyncio.create_task(writer.run())
        # Another session holds the table: every insert now waits on a real lock.
        locker.execute("LOCK TABLE tick_data IN ACCESS EXCLUSIVE MODE")
        accepted = 0
        longest = 0.0
        for n in range(1, 1_001):
            began = time.perf_counter()
            accepted += writer.submit(trade(n))
            longest = max(longest, time.perf_counter() - began)
            if n % 100 == 0:
                await asyncio.sleep(0.01)
        assert writer.stats.dropped == 1_000 - accepted > 0
        locker.rollback()  # the store catches up
        released.set()
        await writer.close(runner)
        return writer, accepted

    try:
        writer, accepted = asyncio.run(scenario())
        stored = stored_trade_ids(store)
        assert len(stored) == accepted == writer.stats.written
        assert writer.stats.written + writer.stats.dropped == 1_000
        assert stored == sorted(stored)  # what was kept is stored in order, none twice
    finally:
        locker.close()
        store.close()


def test_writer_options_are_checked() -> None:
    with pytest.raises(ValueError, match="batch_size <= max_pending"):
        StoreWriter(None, batch_size=10, max_pending=5)  # type: ignore[arg-type]
