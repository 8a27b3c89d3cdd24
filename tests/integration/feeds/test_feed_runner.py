"""The live feed runner against the local venue replaying real recordings: every trade once
and in order, the quotes the recording holds, and a dropped connection recovered from the
venue's REST history with nothing lost and nothing doubled."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from ticklane.config.settings import VenueEndpoints
from ticklane.core.records import MarketRecord, QuoteRecord, TradeRecord
from ticklane.storage.base import Gap
from ticklane.venues.feed import Backoff, FeedRunner
from ticklane.venues.feed_adapters import BinanceAdapter, KrakenAdapter, KrakenFuturesAdapter
from ticklane.venues.sim.server import LocalVenue

DEADLINE_S = 60.0


def recorded_binance(path: Path) -> tuple[list[int], int]:
    """(trade ids in order, bookTicker frames) of a recv-ns capture."""
    import gzip

    trade_ids, tickers = [], 0
    with gzip.open(path, "rt") as lines:
        for line in lines:
            frame = json.loads(line.split(" ", 1)[1])
            stream = frame.get("stream", "")
            if stream.endswith("@trade"):
                trade_ids.append(frame["data"]["t"])
            elif stream.endswith("@bookTicker"):
                tickers += 1
    return trade_ids, tickers


async def run_until(
    runner: FeedRunner, done: asyncio.Event | None = None, venue: LocalVenue | None = None
) -> None:
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(DEADLINE_S):
            if venue is not None:
                await venue.wait_finished(DEADLINE_S)
            if done is not None:
                await done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def endpoints(venue: LocalVenue) -> VenueEndpoints:
    """The venue's URLs as the configuration writes them (WebSocket path included)."""
    ws_url = venue.ws_url if venue.venue == "binance" else venue.endpoints["ws"]
    return VenueEndpoints(ws_url=ws_url, rest_url=venue.http_url)


def test_binance_replay_delivers_every_trade_once_and_in_order(shared_data: Path) -> None:
    capture = shared_data / "binance" / "btcusdt_20230405.dat.gz"
    trade_ids, tickers = recorded_binance(capture)
    records: list[MarketRecord] = []

    async def scenario() -> FeedRunner:
        async with LocalVenue("binance", [capture], speed=0) as venue:
            adapter = BinanceAdapter(["BTCUSDT"], endpoints(venue))
            [plan] = adapter.plans()
            runner = FeedRunner(adapter, plan, records.extend, watchdog_secs=20)
            await run_until(runner, venue=venue)
            await adapter.aclose()
            return runner

    runner = asyncio.run(scenario())
    trades = [r for r in records if isinstance(r, TradeRecord)]
    assert [t.trade_id for t in trades] == trade_ids  # 3,144 trades, once each, in order
    assert sum(isinstance(r, QuoteRecord) for r in records) == tickers
    assert runner.stats.records["BTCUSDT", "trade"] == len(trade_ids)
    assert runner.parser.errors.total == 0


def test_a_dropped_connection_is_recovered_from_rest_history(shared_data: Path) -> None:
    capture = shared_data / "binance" / "btcusdt_20230405.dat.gz"
    trade_ids, _ = recorded_binance(capture)
    records: list[MarketRecord] = []
    gaps: list[Gap] = []

    async def record_gap(gap: Gap) -> None:
        gaps.append(gap)

    async def scenario() -> FeedRunner:
        # The venue cuts the socket after 2,000 frames and plays on for 500 frames before
        # taking connections again: those trades are only in its REST history.
        async with LocalVenue("binance", [capture], speed=0) as venue:
            venue.drop_after(2_000, gap=500)
            adapter = BinanceAdapter(["BTCUSDT"], endpoints(venue))
            [plan] = adapter.plans()
            runner = FeedRunner(
                adapter,
                plan,
                records.extend,
                watchdog_secs=20,
                backoff=Backoff(0.01, 0.05),
                on_gap=record_gap,
            )
            await run_until(runner, venue=venue)
            await adapter.aclose()
            return runner

    runner = asyncio.run(scenario())
    got = [r.trade_id for r in records if isinstance(r, TradeRecord)]
    assert Counter(got) == Counter(trade_ids)  # every trade, none twice
    assert runner.stats.reconnects["closed"] >= 1
    assert sum(runner.stats.recovered.values()) > 0
    assert gaps == []


def test_kraken_replay_verifies_every_book_checksum(shared_data: Path) -> None:
    session = shared_data / "kraken" / "KRAKEN.ws.50.0"
    records: list[MarketRecord] = []

    async def scenario() -> FeedRunner:
        # The replay starts 2 s after the first subscription: the three channels' subscribe
        # frames are paced under the venue's rate limit.
        async with LocalVenue("kraken", [session], speed=0, start_delay=2) as venue:
            pairs = ["ETH/CHF", "XMR/USD", "ADA/XBT"]
            adapter = KrakenAdapter(pairs, endpoints(venue), book_depth=1000)
            [plan] = adapter.plans()
            runner = FeedRunner(adapter, plan, records.extend, watchdog_secs=20)
            await run_until(runner, venue=venue)
            await adapter.aclose()
            return runner

    runner = asyncio.run(scenario())
    assert runner.parser.errors.counts["checksum"] == 0
    assert runner.parser.checksums_verified > 100  # type: ignore[attr-defined]
    assert all(runner.stats.records[pair, "book"] > 0 for pair in ("ETH/CHF", "XMR/USD"))


def test_kraken_futures_replay_publishes_trades_books_and_quotes(shared_data: Path) -> None:
    session = shared_data / "kraken_futures" / "KRAKEN_FUTURES.ws.1.0"
    records: list[MarketRecord] = []

    async def scenario() -> FeedRunner:
        async with LocalVenue("kraken_futures", [session], speed=0, start_delay=2) as venue:
            adapter = KrakenFuturesAdapter(["PI_ETHUSD", "PI_XRPUSD"], endpoints(venue))
            [plan] = adapter.plans()
            runner = FeedRunner(adapter, plan, records.extend, watchdog_secs=20)
            await run_until(runner, venue=venue)
            await adapter.aclose()
            return runner

    runner = asyncio.run(scenario())
    kinds = {kind for (_, kind) in runner.stats.records}
    assert {"book", "quote"} <= kinds
    assert runner.parser.errors.counts["gap"] == 0
