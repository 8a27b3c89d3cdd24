"""The local Binance venue, driven by plain websockets and httpx clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ticklane.venues.sim import LocalVenue

from sim_support import (
    receive,
    recorded_frames,
    recv_json,
    send_json,
    server_frames,
    silent_websocket,
)

CAPTURE = "binance/btcusdt_20230405.dat.gz"
SESSION = "binance/cryptofeed_2021-04-04_BINANCE-ee25be.0"
EXCHANGE_INFO = "binance/exchangeInfo_2021.cryptofeed"


def _stream(frame: str) -> str:
    return str(json.loads(frame)["stream"])


def test_combined_stream_sends_exactly_the_recorded_frames_of_its_streams(
    shared_data: Path,
) -> None:
    path = shared_data / CAPTURE
    wanted = {"btcusdt@trade", "btcusdt@depth@100ms"}
    expected = [f for f in recorded_frames(path) if _stream(f) in wanted]

    async def scenario() -> tuple[list[str], Counter[str], Counter[str]]:
        async with LocalVenue("binance", [path], speed=0) as venue:
            url = f"{venue.ws_url}/stream?streams=btcusdt@trade/btcusdt@depth@100ms"
            async with connect(url) as ws:
                frames = await receive(ws, len(expected))
            await venue.wait_finished()
            return frames, venue.sent_counts(by="channel"), venue.recorded_counts(by="channel")

    frames, sent, recorded = asyncio.run(scenario())
    assert frames == expected  # byte-exact, in order, each once
    assert sent == {"trade": 3_144, "depth@100ms": 3_929}
    assert sent == {channel: recorded[channel] for channel in sent}


def test_raw_endpoint_subscribes_live_and_sends_bare_payloads(shared_data: Path) -> None:
    path = shared_data / CAPTURE
    trades = [f for f in recorded_frames(path) if _stream(f) == "btcusdt@trade"]
    expected = [json.dumps(json.loads(f)["data"], separators=(",", ":")) for f in trades]

    async def scenario() -> tuple[Any, Any, list[str]]:
        async with (
            LocalVenue("binance", [path], speed=0, autostart=False) as venue,
            connect(f"{venue.ws_url}/ws") as ws,
        ):
            await send_json(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})
            ack = await recv_json(ws)
            await send_json(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
            listed = await recv_json(ws)
            venue.start()
            return ack, listed, await receive(ws, len(trades))

    ack, listed, frames = asyncio.run(scenario())
    assert ack == {"result": None, "id": 1}
    assert listed == {"result": ["btcusdt@trade"], "id": 2}
    assert frames == expected


def test_unknown_or_refused_symbol_gets_the_venue_error_answer(shared_data: Path) -> None:
    async def scenario() -> list[Any]:
        async with LocalVenue(
            "binance", [shared_data / CAPTURE], reject_symbols=["ETHUSDT"]
        ) as venue:
            answers = []
            async with connect(f"{venue.ws_url}/ws") as ws:
                for number, stream in enumerate(["nosuchcoin@trade", "ethusdt@trade"], 1):
                    await send_json(ws, {"method": "SUBSCRIBE", "params": [stream], "id": number})
                    answers.append(await recv_json(ws))
                await send_json(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 3})
                answers.append(await recv_json(ws))
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{venue.ws_url}/stream?streams=ethusdt@trade"):
                    pass
            answers.append(refused.value.response.status_code)
            return answers

    answers = asyncio.run(scenario())
    error = {"code": 2, "msg": "Invalid request: invalid stream"}
    assert answers == [
        {"error": error, "id": 1},
        {"error": error, "id": 2},
        {"result": None, "id": 3},
        400,
    ]


def test_more_than_five_messages_a_second_closes_the_connection(shared_data: Path) -> None:
    async def scenario() -> tuple[int, int | None]:
        async with LocalVenue("binance", [shared_data / CAPTURE]) as venue:
            async with connect(f"{venue.ws_url}/ws") as ws:
                for number in range(10):
                    await send_json(ws, {"method": "LIST_SUBSCRIPTIONS", "id": number})
                answers = await receive(ws)
                code = ws.close_code
            await venue.wait_for(lambda: venue.connections[0].closed)
            return len(answers), code

    answered, code = asyncio.run(scenario())
    assert answered <= 5  # the sixth message within the second ends the connection
    assert code == 1008


def test_client_that_never_answers_pings_is_disconnected(shared_data: Path) -> None:
    async def scenario() -> bytes:
        async with LocalVenue(
            "binance", [shared_data / CAPTURE], ping_interval=0.05, ping_timeout=0.1
        ) as venue:
            return await silent_websocket(venue.host, venue.port, "/ws")

    frames = server_frames(asyncio.run(scenario()))
    opcodes = [opcode for opcode, _ in frames]
    assert 0x9 in opcodes  # the venue pinged
    close = frames[opcodes.index(0x8)][1]
    assert int.from_bytes(close[:2], "big") == 1011  # and gave up waiting for the pong


def test_rest_answers_exchange_info_and_trades_from_the_recordings(shared_data: Path) -> None:
    dump = (shared_data / EXCHANGE_INFO).read_text().split(": ", 1)[1].splitlines()[0]
    trades = [json.loads(f)["data"] for f in recorded_frames(shared_data / CAPTURE)]
    trade_ids = [t["t"] for t in trades if t.get("e") == "trade"]

    async def scenario() -> list[httpx.Response]:
        recordings = [shared_data / CAPTURE, shared_data / EXCHANGE_INFO]
        async with LocalVenue("binance", recordings, speed=0, autostart=False) as venue:
            venue.start()
            await venue.wait_finished()
            async with httpx.AsyncClient(base_url=venue.http_url) as http:
                return [
                    await http.get("/api/v3/exchangeInfo"),
                    await http.get("/api/v3/exchangeInfo", params={"symbol": "ETHBTC"}),
                    await http.get("/api/v3/trades", params={"symbol": "BTCUSDT", "limit": 3}),
                    await http.get(
                        "/api/v3/historicalTrades",
                        params={"symbol": "BTCUSDT", "fromId": trade_ids[10], "limit": 1000},
                    ),
                    await http.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT", "limit": 2}),
                    await http.get("/api/v3/depth", params={"symbol": "NOPE"}),
                ]

    info, one, recent, history, agg, bad = asyncio.run(scenario())
    assert info.text == dump
    assert [s["symbol"] for s in one.json()["symbols"]] == ["ETHBTC"]
    assert [t["id"] for t in recent.json()] == trade_ids[-3:]
    assert [t["id"] for t in history.json()] == trade_ids[10:1010]
    first = history.json()[0]
    assert Decimal(first["quoteQty"]) == Decimal(first["price"]) * Decimal(first["qty"])
    assert [a["a"] for a in agg.json()] == trade_ids[-2:]
    assert (bad.status_code, bad.json()["code"]) == (400, -1121)


@pytest.mark.parametrize("recording", [SESSION, CAPTURE])
def test_depth_snapshot_and_diffs_keep_a_client_book_equal_to_the_venue(
    shared_data: Path, recording: str
) -> None:
    """The documented sync: buffer diffs, fetch the snapshot, apply the diffs after it."""
    path = shared_data / recording
    symbol = "BTCUSDT"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        async with LocalVenue("binance", [path], speed=0, autostart=False) as venue:
            url = f"{venue.ws_url}/stream?streams={symbol.lower()}@depth@100ms"
            async with connect(url) as ws, httpx.AsyncClient(base_url=venue.http_url) as http:
                query = {"symbol": symbol, "limit": 5000}
                snapshot = (await http.get("/api/v3/depth", params=query)).json()
                venue.start()
                expected = venue.recorded_counts()[f"{symbol.lower()}@depth@100ms"]
                diffs = [json.loads(f)["data"] for f in await receive(ws, expected)]
                await venue.wait_finished()
                final = (await http.get("/api/v3/depth", params=query)).json()
        book = _book(snapshot)
        applied = 0
        for diff in diffs:
            if diff["u"] <= book["id"]:
                continue
            assert diff["U"] <= book["id"] + 1, "gap in the diff stream"
            for side, key in (("bids", "b"), ("asks", "a")):
                for price, qty in diff[key]:
                    if Decimal(qty) == 0:
                        book[side].pop(Decimal(price), None)
                    else:
                        book[side][Decimal(price)] = Decimal(qty)
            book["id"] = diff["u"]
            applied += 1
        return book, _book(final), applied

    client, venue_book, applied = asyncio.run(scenario())
    assert applied > 800
    assert client == venue_book


def _book(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": body["lastUpdateId"],
        "bids": {Decimal(p): Decimal(q) for p, q in body["bids"]},
        "asks": {Decimal(p): Decimal(q) for p, q in body["asks"]},
    }


def test_dropped_client_recovers_the_missed_trades_from_rest_with_nothing_lost(
    shared_data: Path,
) -> None:
    path = shared_data / CAPTURE
    recorded_ids = [
        json.loads(f)["data"]["t"] for f in recorded_frames(path) if _stream(f) == "btcusdt@trade"
    ]

    async def scenario() -> tuple[list[int], list[int], list[int], int]:
        async with LocalVenue("binance", [path], speed=0, pause_when_idle=True) as venue:
            venue.drop_after(500, gap=400)
            url = f"{venue.ws_url}/stream?streams=btcusdt@trade"
            async with connect(url) as ws:
                before = [json.loads(f)["data"]["t"] for f in await receive(ws)]
                cut = ws.close_code
            async with connect(url) as ws, httpx.AsyncClient(base_url=venue.http_url) as http:
                first = json.loads((await receive(ws, 1))[0])["data"]["t"]
                query = {"symbol": "BTCUSDT", "fromId": before[-1] + 1, "limit": 1000}
                rest = [
                    t["id"]
                    for t in (await http.get("/api/v3/historicalTrades", params=query)).json()
                ]
                await venue.wait_finished()
                remaining = venue.connections[1].frames_sent - 1
                after = [first] + [json.loads(f)["data"]["t"] for f in await receive(ws, remaining)]
            return before, rest, after, cut or 1006

    before, rest, after, cut = asyncio.run(scenario())
    assert cut == 1006  # no close frame: a network cut
    assert len(before) == 500
    missed = [trade for trade in rest if trade < after[0]]
    assert missed  # the gap was real, and REST covers it
    assert before + missed + after == recorded_ids


def test_stall_holds_frames_with_the_socket_open_and_loses_nothing(shared_data: Path) -> None:
    path = shared_data / CAPTURE
    expected = [f for f in recorded_frames(path) if _stream(f) == "btcusdt@trade"]

    async def scenario() -> tuple[list[str], list[tuple[int, float]], int]:
        async with LocalVenue("binance", [path], speed=0) as venue:
            venue.stall_at(6_000, 0.3)
            async with connect(f"{venue.ws_url}/stream?streams=btcusdt@trade") as ws:
                frames = await receive(ws, len(expected))
            return frames, venue.replay.stalls, len(venue.connections)

    frames, stalls, connections = asyncio.run(scenario())
    assert stalls == [(6_000, 0.3)]  # held before item 6000
    assert frames == expected
    assert connections == 1  # the same socket carried everything, before and after


def test_connection_lifetime_rotation_loses_and_repeats_nothing(shared_data: Path) -> None:
    path = shared_data / CAPTURE
    expected = [f for f in recorded_frames(path) if _stream(f) == "btcusdt@trade"]

    async def scenario() -> tuple[list[str], list[int | None]]:
        received: list[str] = []
        codes: list[int | None] = []
        # ~415 s recorded at 400x: the replay outlasts several 0.3 s connection lifetimes.
        async with LocalVenue(
            "binance", [path], speed=400, pause_when_idle=True, max_lifetime=0.3
        ) as venue:
            while len(received) < len(expected) and len(codes) < 100:  # bounded if frames go
                async with connect(f"{venue.ws_url}/stream?streams=btcusdt@trade") as ws:
                    received += await receive(ws)
                    codes.append(ws.close_code)
        return received, codes

    received, codes = asyncio.run(scenario())
    assert received == expected
    assert len(codes) >= 2
    assert set(codes[:-1]) == {1001}


def test_subscribe_and_unsubscribe_change_what_a_connection_is_sent(shared_data: Path) -> None:
    async def scenario() -> tuple[Counter[str], Any]:
        async with LocalVenue(
            "binance", [shared_data / CAPTURE], speed=0, autostart=False
        ) as venue:
            async with connect(f"{venue.ws_url}/stream") as ws:
                params = ["btcusdt@trade", "btcusdt@bookTicker"]
                await send_json(ws, {"method": "SUBSCRIBE", "params": params, "id": 1})
                await recv_json(ws)
                await send_json(ws, {"method": "UNSUBSCRIBE", "params": params[1:], "id": 2})
                unsubscribed = await recv_json(ws)
                venue.start()
                await venue.wait_finished()
                sent = venue.sent_counts()
                await receive(ws, sum(sent.values()))
            return sent, unsubscribed

    sent, unsubscribed = asyncio.run(scenario())
    assert unsubscribed == {"result": None, "id": 2}
    assert sent == {"btcusdt@trade": 3_144}


def test_bad_requests_get_the_documented_error_codes(shared_data: Path) -> None:
    async def scenario() -> list[Any]:
        async with (
            LocalVenue("binance", [shared_data / CAPTURE]) as venue,
            connect(f"{venue.ws_url}/ws") as ws,
        ):
            answers = []
            for message in [
                "not json",
                json.dumps({"method": "SUBSCRIBES", "params": [], "id": 1}),
                json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}),
                json.dumps({"method": "SET_PROPERTY", "params": ["combined", 1], "id": 3}),
            ]:
                await ws.send(message)
                answers.append(await recv_json(ws))
            return answers

    invalid_json, unknown_method, combined, bad_value = asyncio.run(scenario())
    assert invalid_json["error"]["code"] == 3
    assert unknown_method["error"]["code"] == 2
    assert combined == {"result": False, "id": 2}
    assert bad_value == {
        "error": {"code": 1, "msg": "Invalid value type: expected Boolean"},
        "id": 3,
    }
