"""serve against a local venue that misbehaves: a connection cut mid-stream (the trades it
missed come back from the venue's REST history), a stall shorter than the watchdog (ridden
out) and one longer (the watchdog reconnects). Nothing is lost and nothing is stored twice."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from serve_e2e_support import (
    Processes,
    ServeProcess,
    free_port,
    open_test_store,
    recorded_binance_trades,
    serve_config,
    stored_trades,
)

from cli_process import Cli

TRADES = 3_144
SERVE_ARGS = ("--live", "--provider", "binance", "--symbols", "BTCUSDT", "--persist")


def replay(processes: Processes, shared_data: Path, *controls: str) -> Path:
    capture = shared_data / "binance" / "btcusdt_20230405.dat.gz"
    # --pause-when-idle: while serve reconnects the replay waits, so that what a test loses
    # is only what its control cut, not what a slow reconnect missed.
    processes.venue("binance", "--recording", str(capture), "--speed", "0",
                    "--pause-when-idle", *controls)  # fmt: skip
    return capture


def run_serve(
    cli: Cli, processes: Processes, segment: str, watchdog_secs: float
) -> tuple[ServeProcess, int]:
    port = free_port()
    config = serve_config(cli.cwd, processes.venues, metrics_port=port, segment=segment,
                          watchdog_secs=watchdog_secs)  # fmt: skip
    return processes.serve(cli, config, port, *SERVE_ARGS), port


def every_trade_stored_once(cli: Cli, serve: ServeProcess, capture: Path) -> None:
    """Wait for all the recorded trades, stop serve, and check the store holds each once."""
    serve.wait_until("every trade", lambda: trades(serve) >= TRADES)
    assert trades(serve) == TRADES  # none published twice
    code, log = serve.stop(signal.SIGINT)  # the writer stores what is pending first
    assert code == 0, log
    store = open_test_store(cli)
    try:
        stored = [t.trade_id for t in stored_trades(store, "binance", "BTCUSDT")]
    finally:
        store.close()
    assert Counter(stored) == Counter(recorded_binance_trades(capture))


def test_trades_missed_while_the_connection_was_cut_come_from_rest_history(
    backend_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    # The venue cuts the socket after 2,000 frames and plays 500 more timeline items to it in
    # silence before aborting it: the trades among them exist only in its REST history.
    capture = replay(processes, shared_data, "--drop-after", "2000:500")
    serve, _ = run_serve(backend_cli, processes, segment, watchdog_secs=20)

    serve.wait_until("a reconnect", lambda: reconnects(serve, "closed") >= 1)
    serve.wait_until("trades recovered", lambda: recovered(serve) > 0)
    assert serve.value("ticklane_feed_gaps_total") == 0
    every_trade_stored_once(backend_cli, serve, capture)


def test_a_stall_shorter_than_the_watchdog_is_ridden_out(
    sqlite_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    capture = replay(processes, shared_data, "--stall-at", "5000:1.0")
    serve, _ = run_serve(sqlite_cli, processes, segment, watchdog_secs=5)

    serve.wait_until("every trade", lambda: trades(serve) >= TRADES)
    assert serve.value("ticklane_ws_reconnects_total") == 0
    every_trade_stored_once(sqlite_cli, serve, capture)


def test_a_stall_longer_than_the_watchdog_reconnects_and_loses_nothing(
    sqlite_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    capture = replay(processes, shared_data, "--stall-at", "5000:6")
    serve, _ = run_serve(sqlite_cli, processes, segment, watchdog_secs=2)

    serve.wait_until("the watchdog", lambda: reconnects(serve, "silent") >= 1)
    every_trade_stored_once(sqlite_cli, serve, capture)


def trades(serve: ServeProcess) -> float:
    return serve.value("ticklane_records_total", kind="trade")


def reconnects(serve: ServeProcess, reason: str) -> float:
    return serve.value("ticklane_ws_reconnects_total", reason=reason)


def recovered(serve: ServeProcess) -> float:
    return serve.value("ticklane_trades_recovered_total")
