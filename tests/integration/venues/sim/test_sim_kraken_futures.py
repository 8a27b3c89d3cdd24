"""The local Kraken Futures venue: feeds replayed byte-exact, acks, idle closing, REST."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from ticklane.venues.sim import LocalVenue

from sim_support import receive, recorded_frames, recv_json, send_json

SESSION = "kraken_futures/KRAKEN_FUTURES.ws.1.0"
INSTRUMENTS = "kraken_futures/instruments_2021.cryptofeed"
PRODUCTS = ["fi_ethusd_211231", "pi_xrpusd", "pi_ltcusd", "fi_bchusd_210730", "pi_ethusd",
            "fi_xbtusd_210924", "fi_ethusd_210730", "fi_bchusd_210924", "fi_xrpusd_210924",
            "fi_xbtusd_210730"]  # fmt: skip


def _key(frame: str) -> str:
    decoded = json.loads(frame)
    return f"{decoded['feed'].removesuffix('_snapshot')}:{decoded['product_id']}"


def _is_data(frame: str) -> bool:
    return '"feed":' in frame and '"event":' not in frame


def test_every_recorded_feed_frame_is_replayed_in_order(shared_data: Path) -> None:
    path = shared_data / SESSION
    expected: dict[str, list[str]] = defaultdict(list)
    for frame in recorded_frames(path):
        if _is_data(frame):
            expected[_key(frame)].append(frame)
    total = sum(len(frames) for frames in expected.values())

    async def scenario() -> tuple[list[Any], list[str], dict[str, int]]:
        async with LocalVenue("kraken_futures", [path], speed=0, autostart=False) as venue:
            async with connect(f"{venue.ws_url}/ws/v1") as ws:
                answers = [await recv_json(ws)]
                for feed in ("book", "trade", "ticker_lite"):
                    message = {"event": "subscribe", "feed": feed, "product_ids": PRODUCTS}
                    await send_json(ws, message)
                answers += [await recv_json(ws) for _ in range(30)]
                venue.start()
                frames = await receive(ws, total, keep=_is_data)
            return answers, frames, dict(venue.sent_counts(by="channel"))

    answers, frames, sent = asyncio.run(scenario())
    assert answers[0] == {"event": "info", "version": 1}
    assert answers[1] == {
        "event": "subscribed",
        "feed": "book",
        "product_ids": ["FI_ETHUSD_211231"],
    }
    assert len({json.dumps(a) for a in answers[1:]}) == 30
    received: dict[str, list[str]] = defaultdict(list)
    for frame in frames:
        received[_key(frame)].append(frame)
    assert received == expected
    assert sent == {"book": 7_024, "trade": 13, "ticker_lite": 107}


def test_bad_subscriptions_get_the_venue_error_events(shared_data: Path) -> None:
    async def scenario() -> list[Any]:
        async with (
            LocalVenue(
                "kraken_futures", [shared_data / SESSION], reject_symbols=["PI_XRPUSD"]
            ) as venue,
            connect(f"{venue.ws_url}/ws/v1") as ws,
        ):
            await recv_json(ws)
            answers = []
            for message in [
                {"event": "subscribe", "feed": "book", "product_ids": ["PI_NOPE"]},
                {"event": "subscribe", "feed": "book", "product_ids": ["PI_XRPUSD"]},
                {"event": "subscribe", "feed": "nonsense", "product_ids": ["PI_ETHUSD"]},
                "{not json",
            ]:
                await ws.send(message if isinstance(message, str) else json.dumps(message))
                answers.append(await recv_json(ws))
            return answers

    assert asyncio.run(scenario()) == [
        {"event": "error", "message": "Invalid product id"},
        {"event": "error", "message": "Invalid product id"},
        {"event": "error", "message": "Invalid feed"},
        {"event": "error", "message": "Json Error"},
    ]


def test_a_client_that_sends_nothing_is_closed_and_a_pinging_one_is_not(
    shared_data: Path,
) -> None:
    async def scenario() -> tuple[int | None, bool]:
        async with LocalVenue("kraken_futures", [shared_data / SESSION], idle_timeout=0.5) as venue:
            url = f"{venue.ws_url}/ws/v1"
            async with (
                connect(url, ping_interval=0.05) as pinging,
                connect(url, ping_interval=None) as silent,
            ):
                await receive(silent)  # until the venue closes it
                return silent.close_code, pinging.state.name == "OPEN"

    code, pinging_open = asyncio.run(scenario())
    assert code == 1001
    assert pinging_open


async def _subscribe(ws: ClientConnection, feed: str, products: list[str]) -> list[Any]:
    await send_json(ws, {"event": "subscribe", "feed": feed, "product_ids": products})
    return [await recv_json(ws) for _ in products]


def test_subscribing_mid_replay_starts_from_snapshots_of_the_current_state(
    shared_data: Path,
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], Any, int]:
        async with LocalVenue(
            "kraken_futures", [shared_data / SESSION], speed=0, pause_when_idle=True
        ) as venue:
            venue.drop_at(3_000)
            async with connect(f"{venue.ws_url}/ws/v1") as first:
                await recv_json(first)
                await _subscribe(first, "book", ["PI_ETHUSD"])
                await receive(first)  # until the drop
            async with connect(f"{venue.ws_url}/demo/ws/v1") as second:
                await recv_json(second)
                venue.pause()  # both subscriptions at one replay position
                for feed in ("book", "trade"):
                    message = {"event": "subscribe", "feed": feed, "product_ids": ["PI_ETHUSD"]}
                    await send_json(second, message)
                await venue.wait_subscribed(2)
                venue.resume()
                await venue.wait_finished()
                count = venue.connections[1].frames_sent
                frames = await receive(second, count, keep=_is_data)
            async with httpx.AsyncClient(base_url=venue.http_url) as http:
                query = {"symbol": "PI_ETHUSD"}
                book = (await http.get("/demo/derivatives/api/v3/orderbook", params=query)).json()
            return (
                [json.loads(f, parse_float=Decimal) for f in frames],
                book,
                venue.connections[1].synthesized,
            )

    messages, rest_book, synthesized = asyncio.run(scenario())
    assert synthesized == 2
    assert messages[0]["feed"] == "book_snapshot"
    assert messages[1]["feed"] == "trade_snapshot"
    assert len(messages[1]["trades"]) == 100
    bids = {level["price"]: level["qty"] for level in messages[0]["bids"]}
    asks = {level["price"]: level["qty"] for level in messages[0]["asks"]}
    seq = messages[0]["seq"]
    for message in messages[2:]:
        if message["feed"] != "book":
            continue
        assert message["seq"] == seq + 1
        seq = message["seq"]
        side = bids if message["side"] == "buy" else asks
        if message["qty"] == 0:
            side.pop(message["price"], None)
        else:
            side[message["price"]] = message["qty"]
    rest_bids = {Decimal(str(p)): Decimal(str(q)) for p, q in rest_book["orderBook"]["bids"]}
    assert bids == rest_bids


def test_ticker_subscription_on_a_ticker_lite_recording_gets_them_as_ticker(
    shared_data: Path,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with (
            LocalVenue(
                "kraken_futures", [shared_data / SESSION], speed=0, autostart=False
            ) as venue,
            connect(f"{venue.ws_url}/ws/v1") as ws,
        ):
            await recv_json(ws)
            await _subscribe(ws, "ticker", ["PI_ETHUSD"])
            venue.start()
            await venue.wait_finished()
            frames = await receive(ws, venue.connections[0].frames_sent, keep=_is_data)
        return [json.loads(frame) for frame in frames]

    tickers = asyncio.run(scenario())
    assert tickers
    assert {t["feed"] for t in tickers} == {"ticker"}
    assert all(t["product_id"] == "PI_ETHUSD" and "time" in t and "bid" in t for t in tickers)


def test_rest_answers_instruments_and_trade_history(shared_data: Path) -> None:
    dump = (shared_data / INSTRUMENTS).read_text().split(": ", 1)[1].splitlines()[0]

    last_time = ""

    async def scenario() -> list[Any]:
        nonlocal last_time
        recordings = [shared_data / SESSION, shared_data / INSTRUMENTS]
        async with LocalVenue("kraken_futures", recordings, speed=0, autostart=False) as venue:
            venue.start()
            await venue.wait_finished()
            async with httpx.AsyncClient(base_url=venue.http_url) as http:
                instruments = await http.get("/derivatives/api/v3/instruments")
                history = await http.get(
                    "/derivatives/api/v3/history", params={"symbol": "pi_ethusd"}
                )
                last_time = history.json()["history"][49]["time"]
                older = await http.get(
                    "/derivatives/api/v3/history",
                    params={"symbol": "PI_ETHUSD", "lastTime": last_time},
                )
                executions = await http.get(
                    "/api/history/v3/market/PI_ETHUSD/executions",
                    params={"sort": "asc", "count": 5},
                )
                return [instruments.text, history.json(), older.json(), executions.json()]

    instruments, history, older, executions = asyncio.run(scenario())
    assert instruments == dump
    trades = history["history"]
    assert len(trades) == 100
    assert [t["trade_id"] for t in trades] == sorted((t["trade_id"] for t in trades), reverse=True)
    assert trades[0]["trade_id"] == 103_832  # the one trade sent after the snapshot
    before = [trade for trade in trades if trade["time"] < last_time]
    assert older["history"][: len(before)] == before
    assert executions["len"] == 5
    first = executions["elements"][0]["event"]["Execution"]["execution"]
    assert first["takerOrder"]["tradeable"] == "PI_ETHUSD"
