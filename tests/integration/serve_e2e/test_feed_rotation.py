"""A Binance connection rotated before the venue's lifetime limit, in process: there is no
setting for the adapter's lifetime, so the runner is built here with one of 2 s against the
local venue's synthetic market at recorded pace (speed 1). Across each overlap of the old and
the new connection every trade arrives once, in order."""

from __future__ import annotations

import asyncio

from ticklane.config.settings import VenueEndpoints
from ticklane.core.records import MarketRecord, TradeRecord
from ticklane.venues.feed import Backoff, FeedRunner
from ticklane.venues.feed_adapters import BinanceAdapter
from ticklane.venues.sim.server import LocalVenue
from ticklane.venues.sim.synthetic import SyntheticMarket

DEADLINE_S = 120.0
RATE = 400.0  # frames a second at speed 1
FRAMES = 3_200  # 8 s of market: three rotations or more at 2 s each


def test_rotating_connections_deliver_every_trade_once_and_in_order() -> None:
    market = SyntheticMarket(seed=5, symbols=("ROTUSDT",), rate=RATE, frames=FRAMES)
    records: list[MarketRecord] = []

    async def scenario() -> tuple[FeedRunner, list[int]]:
        async with LocalVenue("binance", synthetic=market, speed=1.0) as venue:
            expected = [int(item.data["t"]) for item in venue.items if item.key.endswith("@trade")]
            endpoints = VenueEndpoints(ws_url=venue.ws_url, rest_url=venue.http_url)
            adapter = BinanceAdapter(["ROTUSDT"], endpoints, max_lifetime_s=2.0)
            [plan] = adapter.plans()
            runner = FeedRunner(adapter, plan, records.extend, watchdog_secs=20,
                                backoff=Backoff(0.01, 0.1))  # fmt: skip
            task = asyncio.create_task(runner.run())
            try:
                await venue.wait_finished(DEADLINE_S)
                async with asyncio.timeout(DEADLINE_S):  # the last frames are on their way
                    while trade_ids(records)[-1:] != expected[-1:]:
                        await asyncio.sleep(0.05)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await adapter.aclose()
            return runner, expected

    runner, expected = asyncio.run(scenario())
    assert len(expected) > 300
    assert trade_ids(records) == expected  # each once, in the venue's order
    assert runner.stats.reconnects["rotated"] >= 2
    assert (
        sum(count for reason, count in runner.stats.reconnects.items() if reason != "rotated") == 0
    )
    assert runner.parser.errors.counts["gap"] == 0
    assert runner.stats.records["ROTUSDT", "trade"] == len(expected)


def trade_ids(records: list[MarketRecord]) -> list[int]:
    return [r.trade_id for r in records if type(r) is TradeRecord]
