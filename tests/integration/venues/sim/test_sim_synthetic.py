"""The seeded synthetic Binance market: deterministic, and consistent with its REST depth."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
from websockets.asyncio.client import connect

from ticklane.venues.sim import LocalVenue, SyntheticMarket

from sim_support import receive


def test_same_seed_gives_the_same_market_and_another_seed_another() -> None:
    market = SyntheticMarket(seed=7, symbols=2, rate=1_000, frames=2_000)
    first = list(market.events())
    assert first == list(SyntheticMarket(seed=7, symbols=2, rate=1_000, frames=2_000).events())
    assert first != list(SyntheticMarket(seed=8, symbols=2, rate=1_000, frames=2_000).events())
    frames = [e for e in first if hasattr(e, "frame")]
    assert len(frames) == 2_000
    streams = {json.loads(e.frame)["stream"].split("@", 1)[1] for e in frames}
    assert streams == {"trade", "bookTicker", "depth@100ms"}
    # Frame i is stamped i / rate seconds after the start: 1 ms apart at 1000 frames/s.
    assert frames[1].ts_recv - frames[0].ts_recv == 1_000_000


def test_synthetic_frames_agree_with_the_venue_depth_snapshots() -> None:
    market = SyntheticMarket(seed=3, symbols=2, rate=500, frames=6_000)
    streams = "/".join(f"syn1usdt@{kind}" for kind in ("trade", "bookTicker", "depth@100ms"))

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        venue = LocalVenue("binance", synthetic=market, speed=0, autostart=False)
        async with (
            venue,
            connect(f"{venue.ws_url}/stream?streams={streams}") as ws,
            httpx.AsyncClient(base_url=venue.http_url) as http,
        ):
            query = {"symbol": "SYN1USDT", "limit": 1000}
            start = (await http.get("/api/v3/depth", params=query)).json()
            venue.start()
            await venue.wait_finished()
            frames = await receive(ws, venue.connections[0].frames_sent)
            end = (await http.get("/api/v3/depth", params=query)).json()
        return start, [json.loads(frame) for frame in frames], end

    start, frames, end = asyncio.run(scenario())
    bids = {Decimal(p): Decimal(q) for p, q in start["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in start["asks"]}
    book_id = start["lastUpdateId"]
    checked = {"trade": 0, "bookTicker": 0}
    for frame in frames:
        kind, data = frame["stream"].split("@", 1)[1], frame["data"]
        if kind == "depth@100ms":
            assert data["U"] == book_id + 1  # contiguous update ids
            for side, key in ((bids, "b"), (asks, "a")):
                for price, qty in data[key]:
                    if Decimal(qty) == 0:
                        side.pop(Decimal(price), None)
                    else:
                        side[Decimal(price)] = Decimal(qty)
            book_id = data["u"]
            assert max(bids) < min(asks)  # never crossed
        elif kind == "bookTicker":
            best_bid, best_ask = max(bids), min(asks)
            assert data["u"] == book_id
            assert (Decimal(data["b"]), Decimal(data["B"])) == (best_bid, bids[best_bid])
            assert (Decimal(data["a"]), Decimal(data["A"])) == (best_ask, asks[best_ask])
            checked["bookTicker"] += 1
        else:
            # A trade takes the touch: a buyer lifts the best ask, a seller hits the best bid.
            touch = max(bids) if data["m"] else min(asks)
            assert Decimal(data["p"]) == touch
            checked["trade"] += 1
    assert min(checked.values()) > 100
    assert end["lastUpdateId"] == book_id
    assert {Decimal(p): Decimal(q) for p, q in end["bids"]} == bids
    assert {Decimal(p): Decimal(q) for p, q in end["asks"]} == asks
