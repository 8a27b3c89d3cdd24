"""The whole live path as separate processes: the local venue's synthetic Binance market ->
``data-manager serve --ipc --persist`` -> shared memory -> ``trading-core live
--paper-trading``, with PostgreSQL and Redis. Ticks land in tick_data, the cache lists in
Redis, the strategy's decisions in live_strategy_log; Ctrl-C stops both cleanly."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

from ticklane.ipc.segment import unlink_segment

BIN = Path(sys.executable).parent
DEADLINE_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def count(url: str, sql: str) -> int:
    """The query's count; -1 while the table is not there yet (the processes migrate it)."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute(sql).fetchone()
    except psycopg.errors.UndefinedTable:
        return -1
    return int(row[0]) if row else 0


def test_venue_to_serve_to_paper_trading(
    tmp_path: Path, pg_schema_url: str, redis_url: str
) -> None:
    ring = f"ticklane-e2e-{secrets.token_hex(4)}"
    prefix = f"e2e{secrets.token_hex(3)}:"
    venue = subprocess.Popen(
        [sys.executable, "-m", "ticklane.venues.sim", "--venue", "binance",
         "--synthetic-symbols", "BTCUSDT,ETHUSDT", "--rate", "400", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    processes = [venue]
    try:
        assert venue.stdout is not None
        urls = json.loads(venue.stdout.readline())
        config = tmp_path / "e2e.toml"
        config.write_text(
            f'symbols = ["BTCUSDT", "ETHUSDT"]\n'
            f"[data_manager]\nmetrics_port = 0\n"
            f'[data_manager.ipc]\nname = "{ring}"\n'
            f'[venues.binance]\nws_url = "{urls["ws_url"]}"\nrest_url = "{urls["http_url"]}"\n'
            f"[live]\nmetrics_port = {free_port()}\nmax_age_secs = 0\nreport_every_secs = 1\n"
            f'[cache.redis]\nkey_prefix = "{prefix}"\n'
            "[alerting]\nenabled = false\n"
        )
        env = {**os.environ, "DATABASE_URL": pg_schema_url, "REDIS_URL": redis_url}
        env.pop("RUN_MODE", None)
        live = subprocess.Popen(
            [str(BIN / "trading-core"), "-c", str(config), "live", "--paper-trading",
             "--strategy", "sma", "--param", "short_period=2", "--param", "long_period=3",
             "--param", "bar_type=20-tick", "--param", "quantity=0.001", "--warmup-secs", "0"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(live)
        serve = subprocess.Popen(
            [str(BIN / "data-manager"), "-c", str(config), "serve", "--live",
             "--provider", "binance", "--symbols", "BTCUSDT,ETHUSDT", "--ipc", "--persist"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(serve)
        wait_for(
            lambda: (
                count(pg_schema_url, "SELECT count(*) FROM live_strategy_log WHERE event = 'fill'")
                >= 2
            ),
            "paper fills in live_strategy_log",
        )
        for process in (serve, live):
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=DEADLINE_S)
            assert process.returncode == 0, stderr
        stored = count(pg_schema_url, "SELECT count(*) FROM tick_data WHERE symbol = 'BTCUSDT'")
        assert stored > 0
        hashes = count(
            pg_schema_url,
            "SELECT count(DISTINCT strategy_hash) FROM live_strategy_log WHERE strategy_id = 'sma'",
        )
        assert hashes == 1
        client = redis.Redis.from_url(redis_url)
        try:
            assert client.llen(f"{prefix}ticks:binance:BTCUSDT") > 0
            assert client.ttl(f"{prefix}ticks:binance:BTCUSDT") > 0
        finally:
            client.close()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        unlink_segment(ring)
