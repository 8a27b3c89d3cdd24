"""``trading-core live`` as a process, fed through a real shared-memory ring: trades are
validated (bad ones counted by reason), cached in Redis, exported as metrics, and SIGINT stops
it cleanly. data-manager's side of the ring is played by a ``RingWriter`` in the test."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.ipc.segment import unlink_segment
from ticklane.ipc.writer import RingWriter

BIN = Path(sys.executable).parent
DEADLINE_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def trade(n: int, symbol: str = "BTCUSDT", price: int = 42_000 * 10**9) -> TradeRecord:
    now = time.time_ns()
    return TradeRecord("binance", symbol, now, now, n, price, 10**6, Side.BUY)


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def ring_name() -> Iterator[str]:
    name = f"ticklane-test-{secrets.token_hex(4)}"
    yield name
    unlink_segment(name)


def test_live_validates_caches_and_stops_cleanly(
    tmp_path: Path, ring_name: str, redis_url: str
) -> None:
    port = free_port()
    prefix = f"t{secrets.token_hex(3)}:"
    config = tmp_path / "live.toml"
    config.write_text(
        f'symbols = ["BTCUSDT"]\n[data_manager.ipc]\nname = "{ring_name}"\n'
        f"[live]\nmetrics_port = {port}\nmax_age_secs = 3600\n"
        f'[alerting]\nenabled = false\n[cache.redis]\nkey_prefix = "{prefix}"\n'
    )
    env = {**os.environ, "REDIS_URL": redis_url}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [str(BIN / "trading-core"), "-c", str(config), "live"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: "ticklane_ipc_connected" in metrics(port), "the metrics endpoint")
        with RingWriter(ring_name, capacity=1024) as writer:
            wait_for(lambda: metrics(port)["ticklane_ipc_connected"] == 1.0, "the ring")
            writer.write_batch([trade(n) for n in range(1, 101)])
            writer.write(trade(50))  # a duplicate
            writer.write(trade(101, symbol="DOGEUSDT"))  # not configured
            writer.write(trade(102, price=0))
            wait_for(lambda: metrics(port).get("ticklane_ticks_processed_total") == 103, "ticks")
            values = metrics(port)
            assert values['ticklane_ticks_rejected_total{reason="duplicate"}'] == 1
            assert values['ticklane_ticks_rejected_total{reason="unknown_symbol"}'] == 1
            assert values['ticklane_ticks_rejected_total{reason="non_positive_price"}'] == 1
        client = redis.Redis.from_url(redis_url)
        try:
            cached = client.lrange(f"{prefix}ticks:binance:BTCUSDT", 0, -1)
        finally:
            client.close()
        ids = sorted(json.loads(item)["trade_id"] for item in cached)
        assert ids[-100:] == list(range(1, 101))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=DEADLINE_S)
        assert process.returncode == 0, stderr
        assert "103 trades processed, 3 rejected" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
