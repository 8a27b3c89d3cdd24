"""The local Kraken spot venue: v1 verbatim, v2 converted, REST from the recordings."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from ticklane.venues.sim import LocalVenue

from sim_support import receive, recorded_frames, recv_json, send_json

TRADES, TICKERS, BOOKS = "kraken/KRAKEN.ws.48.0", "kraken/KRAKEN.ws.49.0", "kraken/KRAKEN.ws.50.0"
PAIRS = ["WAVES/EUR", "XMR/USD", "KSM/XBT", "GRT/ETH", "SC/EUR", "ETH/CHF", "OCEAN/XBT",
         "OMG/USD", "XBT/CHF", "ADA/XBT"]  # fmt: skip
ASSET_PAIRS = "kraken/AssetPairs_2021.cryptofeed"


def _data_frames(*paths: Path) -> dict[str, list[str]]:
    """Recorded data frames per ``channel:pair``, in order."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for frame in recorded_frames(*paths):
        if frame.startswith("["):
            decoded = json.loads(frame)
            by_key[f"{decoded[-2].split('-')[0]}:{decoded[-1]}"].append(frame)
    return by_key


def _is_data(frame: str) -> bool:
    return frame.startswith("[") or '"type":"' in frame


def test_v1_subscribers_get_the_recorded_frames_verbatim(shared_data: Path) -> None:
    paths = [shared_data / p for p in (TRADES, TICKERS, BOOKS)]
    expected = _data_frames(*paths)
    total = sum(len(frames) for frames in expected.values())

    async def scenario() -> tuple[list[Any], list[str]]:
        async with (
            LocalVenue("kraken", paths, speed=0, autostart=False) as venue,
            connect(f"{venue.ws_url}/") as ws,
        ):
            status = [await recv_json(ws)]
            for subscription in (
                {"name": "trade"},
                {"name": "ticker"},
                {"name": "book", "depth": 1000},
            ):
                await send_json(
                    ws, {"event": "subscribe", "pair": PAIRS, "subscription": subscription}
                )
            acks = [await recv_json(ws) for _ in range(30)]
            venue.start()
            return status + acks, await receive(ws, total, keep=_is_data)

    answers, frames = asyncio.run(scenario())
    assert answers[0]["event"] == "systemStatus"
    assert {a["status"] for a in answers[1:]} == {"subscribed"}
    assert answers[1]["channelID"] == 1665  # the recorded channel of WAVES/EUR trades
    received: dict[str, list[str]] = defaultdict(list)
    for frame in frames:
        decoded = json.loads(frame)
        received[f"{decoded[-2].split('-')[0]}:{decoded[-1]}"].append(frame)
    assert received == expected


def _crc(bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]) -> int:
    def part(levels: list[tuple[Decimal, Decimal]]) -> str:
        return "".join(
            format(p, "f").replace(".", "").lstrip("0")
            + format(q, "f").replace(".", "").lstrip("0")
            for p, q in levels[:10]
        )

    top_asks = sorted(asks.items())[:10]
    top_bids = sorted(bids.items(), reverse=True)[:10]
    return zlib.crc32((part(top_asks) + part(top_bids)).encode()) & 0xFFFFFFFF


class V2Book:
    """A client book for v2 frames, checking every checksum as protocols.md 2.3 says."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.frames = 0
        self.kinds: list[str] = []

    def apply(self, text: str) -> None:
        message = json.loads(text, parse_float=Decimal)
        data = message["data"][0]
        if message["type"] == "snapshot":
            self.bids.clear()
            self.asks.clear()
        for side, levels in (("bids", self.bids), ("asks", self.asks)):
            for level in data[side]:
                price, qty = Decimal(level["price"]), Decimal(level["qty"])
                if qty == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = qty
        for key in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[key]
        for key in sorted(self.asks)[self.depth :]:
            del self.asks[key]
        assert _crc(self.bids, self.asks) == data["checksum"], f"checksum at frame {self.frames}"
        self.frames += 1
        self.kinds.append(message["type"])


@pytest.mark.parametrize(
    ("symbol", "depth"), [("BTC/CHF", 1000), ("BTC/CHF", 10), ("XMR/USD", 10), ("SC/EUR", 25)]
)
def test_v2_book_frames_keep_a_valid_checksum_at_any_depth(
    shared_data: Path, symbol: str, depth: int
) -> None:
    pair = symbol.replace("BTC", "XBT")

    async def scenario() -> tuple[V2Book, int, int]:
        async with LocalVenue("kraken", [shared_data / BOOKS], speed=0, autostart=False) as venue:
            async with connect(f"{venue.ws_url}/v2") as ws:
                await recv_json(ws)
                params = {"channel": "book", "symbol": [symbol], "depth": depth}
                await send_json(ws, {"method": "subscribe", "params": params, "req_id": 4})
                ack = await recv_json(ws)
                assert ack["success"] and ack["result"]["depth"] == depth and ack["req_id"] == 4
                venue.start()
                await venue.wait_finished()
                book = V2Book(depth)
                for frame in await receive(ws, venue.connections[0].frames_sent, keep=_is_data):
                    book.apply(frame)
            return (
                book,
                venue.sent_counts()[f"book:{pair}"],
                venue.recorded_counts()[f"book:{pair}"],
            )

    book, sent, recorded = asyncio.run(scenario())
    assert book.kinds[0] == "snapshot"
    assert book.frames == sent
    if depth == 1000:
        assert sent == recorded  # the recorded depth: one v2 frame per v1 frame
    else:
        assert 0 < sent <= recorded  # changes beyond the depth are not sent


def test_v2_trades_carry_the_recorded_digits_and_ids_that_rest_also_gives(
    shared_data: Path,
) -> None:
    path = shared_data / TRADES
    rows: dict[str, list[list[str]]] = defaultdict(list)
    for frames in _data_frames(path).values():
        for frame in frames:
            decoded = json.loads(frame)
            rows[decoded[-1]].extend(decoded[1])
    symbols = [pair.replace("XBT", "BTC") for pair in PAIRS]

    async def scenario() -> tuple[list[str], Any, Any]:
        recordings = [path, shared_data / ASSET_PAIRS]
        async with LocalVenue("kraken", recordings, speed=0, autostart=False) as venue:
            async with connect(f"{venue.ws_url}/v2") as ws:
                await recv_json(ws)
                params = {"channel": "trade", "symbol": symbols}
                await send_json(ws, {"method": "subscribe", "params": params})
                [await recv_json(ws) for _ in symbols]
                venue.start()
                await venue.wait_finished()
                frames = await receive(ws, venue.connections[0].frames_sent, keep=_is_data)
            async with httpx.AsyncClient(base_url=venue.http_url) as http:
                everything = (await http.get("/0/public/Trades", params={"pair": "XMRUSD"})).json()
                last = everything["result"]["last"]
                later = (
                    await http.get("/0/public/Trades", params={"pair": "XMR/USD", "since": last})
                ).json()
            return frames, everything, later

    frames, everything, later = asyncio.run(scenario())
    by_symbol: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for frame in frames:
        message = json.loads(frame, parse_float=Decimal)
        assert message["channel"] == "trade" and message["type"] == "update"
        for trade in message["data"]:
            by_symbol[trade["symbol"]].append(trade)
    for pair, recorded in rows.items():
        trades = by_symbol[pair.replace("XBT", "BTC")]
        assert [t["trade_id"] for t in trades] == list(range(1, len(recorded) + 1))
        assert [format(t["price"], "f") for t in trades] == [row[0] for row in recorded]
        assert [format(t["qty"], "f") for t in trades] == [row[1] for row in recorded]
        assert [t["side"] for t in trades] == [
            "buy" if row[3] == "b" else "sell" for row in recorded
        ]
    rest = everything["result"]["XXMRZUSD"]
    assert [row[6] for row in rest] == list(range(1, len(rows["XMR/USD"]) + 1))
    assert [row[:2] for row in rest] == [row[:2] for row in rows["XMR/USD"]]
    assert later["result"]["XXMRZUSD"] == []


def test_v2_ticker_starts_with_a_snapshot_then_updates(shared_data: Path) -> None:
    path = shared_data / TICKERS

    async def scenario() -> list[dict[str, Any]]:
        venue = LocalVenue("kraken", [path], speed=0, autostart=False)
        async with venue, connect(f"{venue.ws_url}/v2") as ws:
            await recv_json(ws)
            params = {"channel": "ticker", "symbol": ["BTC/CHF"]}
            await send_json(ws, {"method": "subscribe", "params": params, "req_id": 1})
            await recv_json(ws)
            venue.start()
            await venue.wait_finished()
            frames = await receive(ws, venue.connections[0].frames_sent, keep=_is_data)
        return [json.loads(frame, parse_float=Decimal) for frame in frames]

    messages = asyncio.run(scenario())
    recorded = [json.loads(f)[1] for f in _data_frames(path)["ticker:XBT/CHF"]]
    assert [m["type"] for m in messages] == ["snapshot"] + ["update"] * (len(recorded) - 1)
    for message, v1 in zip(messages, recorded, strict=True):
        data = message["data"][0]
        assert data["symbol"] == "BTC/CHF"
        assert format(data["bid"], "f") == v1["b"][0]
        assert format(data["ask_qty"], "f") == v1["a"][2]
        assert data["change"] == Decimal(v1["c"][0]) - Decimal(v1["o"][1])


def test_subscribing_mid_replay_gets_a_snapshot_of_the_current_book(shared_data: Path) -> None:
    async def scenario() -> tuple[V2Book, int]:
        async with LocalVenue(
            "kraken", [shared_data / BOOKS], speed=0, pause_when_idle=True
        ) as venue:
            venue.drop_at(2_000)
            first = await _subscribe_book(venue, "XMR/USD")
            await receive(first)  # until the drop
            second = await _subscribe_book(venue, "XMR/USD")
            await venue.wait_finished()
            book = V2Book(10)
            for frame in await receive(second, venue.connections[1].frames_sent, keep=_is_data):
                book.apply(frame)
            await first.close()
            await second.close()
            return book, venue.connections[1].synthesized

    book, synthesized = asyncio.run(scenario())
    assert synthesized == 1
    assert book.kinds[0] == "snapshot"
    assert book.frames > 100


async def _subscribe_book(venue: LocalVenue, symbol: str) -> ClientConnection:
    ws = await connect(f"{venue.ws_url}/v2")
    await recv_json(ws)
    params = {"channel": "book", "symbol": [symbol], "depth": 10}
    await send_json(ws, {"method": "subscribe", "params": params})
    assert (await recv_json(ws))["success"]
    return ws


def test_refusals_pings_and_heartbeats_look_like_the_venue(shared_data: Path) -> None:
    async def scenario() -> list[Any]:
        async with LocalVenue(
            "kraken",
            [shared_data / TRADES],
            reject_symbols=["WAVES/EUR"],
            heartbeat_interval=0.05,
            autostart=False,
        ) as venue:
            answers = []
            async with connect(f"{venue.ws_url}/v2") as ws:
                await recv_json(ws)
                for symbol in ("NOPE/USD", "WAVES/EUR", "XMR/USD"):
                    params = {"channel": "trade", "symbol": [symbol]}
                    await send_json(ws, {"method": "subscribe", "params": params, "req_id": 9})
                    answers.append(await recv_json(ws))
                await send_json(ws, {"method": "ping", "req_id": 10})
                answers.append(await recv_json(ws))
                answers.append(await recv_json(ws, skip=()))  # subscribed and idle: heartbeat
            async with connect(f"{venue.ws_url}/") as ws:
                await recv_json(ws)
                subscription = {"name": "book", "depth": 10}
                await send_json(
                    ws, {"event": "subscribe", "pair": ["XMR/USD"], "subscription": subscription}
                )
                answers.append(await recv_json(ws))
                await send_json(
                    ws,
                    {"event": "subscribe", "pair": ["XBT/NOPE"], "subscription": {"name": "trade"}},
                )
                answers.append(await recv_json(ws))
                await send_json(ws, {"event": "ping", "reqid": 7})
                answers.append(await recv_json(ws))
            return answers

    unknown, refused, ok, pong, heartbeat, v1_book, v1_unknown, v1_pong = asyncio.run(scenario())
    assert (unknown["success"], unknown["error"]) == (False, "Currency pair not supported NOPE/USD")
    assert unknown["symbol"] == "NOPE/USD" and unknown["req_id"] == 9
    assert refused["success"] is False
    assert ok["success"] is True and ok["result"] == {
        "channel": "trade",
        "snapshot": False,
        "symbol": "XMR/USD",
    }
    assert pong["method"] == "pong" and pong["req_id"] == 10
    assert heartbeat == {"channel": "heartbeat"}
    assert (v1_book["status"], v1_book["channelName"]) == ("subscribed", "book-10")
    assert v1_unknown["status"] == "error"
    assert v1_unknown["errorMessage"] == "Currency pair not supported"
    assert v1_pong == {"event": "pong", "reqid": 7}


def test_asset_pairs_answer_from_the_dump(shared_data: Path) -> None:
    dump = (shared_data / ASSET_PAIRS).read_text().split(": ", 1)[1].splitlines()[0]

    async def scenario() -> tuple[str, Any]:
        recordings = [shared_data / TRADES, shared_data / ASSET_PAIRS]
        async with (
            LocalVenue("kraken", recordings) as venue,
            httpx.AsyncClient(base_url=venue.http_url) as http,
        ):
            full = await http.get("/0/public/AssetPairs")
            one = await http.get("/0/public/AssetPairs", params={"pair": "XBT/CHF"})
            return full.text, one.json()

    full, one = asyncio.run(scenario())
    assert full == dump
    assert list(one["result"]) == ["XBTCHF"]
