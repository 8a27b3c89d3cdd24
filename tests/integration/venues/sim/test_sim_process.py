"""``python -m ticklane.venues.sim`` as a process: one JSON line of URLs, then it serves."""

from __future__ import annotations

import asyncio
import json
import selectors
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from sim_support import receive, recv_json, send_json


def _start(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "ticklane.venues.sim", "--port", "0", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ready(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            raise AssertionError("the venue printed no URLs within 60 s")
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        assert process.stderr is not None
        raise AssertionError(f"the venue exited: {process.stderr.read()}")
    return dict(json.loads(line))


def test_process_prints_its_urls_then_serves_until_terminated(shared_data: Path) -> None:
    session = shared_data / "kraken_futures/KRAKEN_FUTURES.ws.1.0"
    instruments = shared_data / "kraken_futures/instruments_2021.cryptofeed"

    async def client(ws_url: str) -> list[Any]:
        async with connect(ws_url) as ws:
            info = await recv_json(ws)
            message = {"event": "subscribe", "feed": "trade", "product_ids": ["PI_ETHUSD"]}
            await send_json(ws, message)
            return [info, await recv_json(ws), await recv_json(ws)]

    with _start(
        "--venue", "kraken_futures", "--recording", str(session), "--recording", str(instruments),
        "--speed", "0",
    ) as process:  # fmt: skip
        try:
            ready = _ready(process)
            rest = httpx.get(f"{ready['endpoints']['rest']}/instruments", timeout=30)
            info, ack, snapshot = asyncio.run(client(ready["endpoints"]["ws"]))
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert ready["venue"] == "kraken_futures"
    assert ready["ws_url"].startswith("ws://127.0.0.1:")
    assert len(rest.json()["instruments"]) == 27
    assert info == {"event": "info", "version": 1}
    assert ack == {"event": "subscribed", "feed": "trade", "product_ids": ["PI_ETHUSD"]}
    assert snapshot["feed"] == "trade_snapshot"
    assert process.returncode == 0


def test_process_with_exit_at_end_stops_once_the_replay_is_over(shared_data: Path) -> None:
    capture = shared_data / "binance/btcusdt_20230405.dat.gz"

    async def client(url: str) -> int:
        async with connect(f"{url}/stream?streams=btcusdt@trade") as ws:
            return len(await receive(ws))  # until the venue goes away

    with _start(
        "--venue", "binance", "--recording", str(capture), "--speed", "0", "--exit-at-end"
    ) as process:  # fmt: skip
        try:
            ready = _ready(process)
            received = asyncio.run(client(ready["ws_url"]))
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert received == 3_144
    assert code == 0
