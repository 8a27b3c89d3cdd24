"""``data-manager serve --live --persist --ipc`` as a process against the local venue replaying
the recorded 2023-04-05 BTCUSDT session (3,144 trades, 8,015 book tickers) as another process:
every trade stored once, every quote stored, the ring delivering the trades in order, the
Prometheus endpoint counting them, and a stop by SIGINT or SIGTERM losing nothing pending."""

from __future__ import annotations

import signal
import socket
from collections import Counter
from pathlib import Path

import pytest
from serve_e2e_support import (
    Processes,
    RingTrades,
    ServeProcess,
    free_port,
    open_test_store,
    recorded_binance_trades,
    serve_config,
    stored_quotes,
    stored_trades,
)

from cli_process import Cli

TRADES = 3_144  # in the capture, written down once (its README)
QUOTES = 8_015  # @bookTicker frames in the capture
LAST_TRADE_S = 1_680_653_214.1  # the last trade is at .256 s, the one before at 213.946 s
SERVE_ARGS = ("--live", "--provider", "binance", "--symbols", "BTCUSDT", "--persist", "--ipc")


def capture(shared_data: Path) -> Path:
    return shared_data / "binance" / "btcusdt_20230405.dat.gz"


def test_every_recorded_trade_is_stored_once_and_read_from_the_ring_in_order(
    backend_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    trade_ids = recorded_binance_trades(capture(shared_data))
    assert len(trade_ids) == TRADES
    venue = processes.venue("binance", "--recording", str(capture(shared_data)), "--speed", "0")
    port = free_port()
    config = serve_config(backend_cli.cwd, [venue], metrics_port=port, segment=segment)
    serve = processes.serve(backend_cli, config, port, *SERVE_ARGS)
    ring = RingTrades(segment, TRADES)

    serve.wait_until("every trade counted", lambda: trades_counted(serve) >= TRADES)
    serve.wait_until("every quote stored", lambda: rows_written(serve) >= TRADES + QUOTES)
    assert serve.value("ticklane_records_total", venue="binance", kind="trade") == TRADES
    assert serve.value("ticklane_parse_errors_total") == 0
    code, log = serve.stop(signal.SIGINT)

    assert code == 0, log
    assert "3,144 trades, 8,015 quotes" in summary_line(log)
    assert ring.join() == trade_ids  # in the venue's order, none lost, none twice
    assert ring.lost == 0
    store = open_test_store(backend_cli)
    try:
        stored = stored_trades(store, "binance", "BTCUSDT")
        assert len(stored) == TRADES
        assert Counter(t.trade_id for t in stored) == Counter(trade_ids)
        assert len(stored_quotes(store, "binance", "BTCUSDT")) == QUOTES
    finally:
        store.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_stop_signal_writes_every_pending_record_before_exiting(
    sig: signal.Signals,
    sqlite_cli: Cli,
    processes: Processes,
    segment: str,
    shared_data: Path,
) -> None:
    # The writer holds everything until it stops: no batch fills, no flush interval ends.
    venue = processes.venue("binance", "--recording", str(capture(shared_data)), "--speed", "0")
    port = free_port()
    config = serve_config(sqlite_cli.cwd, [venue], metrics_port=port, segment=segment,
                          batch_size=1_000_000, flush_interval_secs=3_600)  # fmt: skip
    serve = processes.serve(sqlite_cli, config, port, *SERVE_ARGS)
    serve.wait_until("every trade counted", lambda: trades_counted(serve) >= TRADES)
    serve.wait_until("every quote counted", lambda: quotes_counted(serve) >= QUOTES)
    assert serve.value("ticklane_writer_queue_depth") == TRADES + QUOTES
    assert rows_written(serve) == 0

    code, log = serve.stop(sig)

    assert code == 0, log
    assert "stored 11,159 (0 already stored, 0 dropped)" in summary_line(log)
    store = open_test_store(sqlite_cli)
    try:
        assert len(stored_trades(store, "binance", "BTCUSDT")) == TRADES
        assert len(stored_quotes(store, "binance", "BTCUSDT")) == QUOTES
    finally:
        store.close()


def trades_counted(serve: ServeProcess) -> float:
    return serve.value("ticklane_records_total", kind="trade")


def quotes_counted(serve: ServeProcess) -> float:
    return serve.value("ticklane_records_total", kind="quote")


def rows_written(serve: ServeProcess) -> float:
    return serve.value("ticklane_writer_rows_total", outcome="written")


def summary_line(log: str) -> str:
    """serve's last words: ``stopped after ...: N frames, ...``."""
    lines = [line for line in log.splitlines() if line.startswith("stopped after")]
    assert lines, log[-4000:]
    return lines[-1]


def test_a_symbol_the_venue_refuses_in_the_stream_url_is_dropped_and_the_rest_streams(
    sqlite_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    # The venue lists ETHUSDT (its exchangeInfo) but refuses its streams: Binance then refuses
    # the whole combined-stream handshake (HTTP 400, not naming the stream).
    listing = shared_data / "binance" / "exchangeInfo_2021.cryptofeed"
    recordings = ("--recording", str(capture(shared_data)), "--recording", str(listing))
    processes.venue("binance", *recordings, "--speed", "0", "--start-delay", "3",
                    "--reject", "ETHUSDT")  # fmt: skip
    port = free_port()
    config = serve_config(sqlite_cli.cwd, processes.venues, metrics_port=port, segment=segment)
    serve = processes.serve(sqlite_cli, config, port, "--live", "--provider", "binance",
                            "--symbols", "BTCUSDT,ETHUSDT", "--persist")  # fmt: skip

    serve.wait_until("the last recorded trade", lambda: last_trade(serve) >= LAST_TRADE_S)
    assert serve.value("ticklane_ws_reconnects_total", reason="refused") == 1
    code, log = serve.stop(signal.SIGINT)

    assert code == 0, log
    refusals = [line for line in log.splitlines() if "Invalid request: invalid stream" in line]
    assert any("ETHUSDT" in line for line in refusals), log[-4000:]
    assert not any("BTCUSDT" in line for line in refusals if "refuses" in line)
    store = open_test_store(sqlite_cli)
    try:
        stored = [t.trade_id for t in stored_trades(store, "binance", "BTCUSDT")]
        assert stored_trades(store, "binance", "ETHUSDT") == []
    finally:
        store.close()
    # The venue starts its replay at the first subscription, which may be one of the probes
    # that found the refused symbol: what serve stored is then the recording from its first
    # trade on, each once. (The 3 s start delay normally makes it the whole recording.)
    recorded = recorded_binance_trades(capture(shared_data))
    assert sorted(stored) == recorded[recorded.index(min(stored)) :]
    assert len(stored) > TRADES // 2


def last_trade(serve: ServeProcess) -> float:
    return serve.value("ticklane_last_trade_timestamp_seconds", symbol="BTCUSDT")


def test_a_metrics_port_already_taken_stops_serve_with_a_message_naming_it(
    sqlite_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    venue = processes.venue("binance", "--recording", str(capture(shared_data)), "--speed", "0")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        config = serve_config(sqlite_cli.cwd, [venue], metrics_port=port, segment=segment)
        result = sqlite_cli.run("-c", str(config), "serve", *SERVE_ARGS)

    assert result.returncode == 2, result.stderr
    assert f"metrics port {port}" in result.stderr
