"""One ``data-manager serve`` process streaming Kraken (WebSocket v2, the local venue converting
the recorded 2021-04-17 v1 session: its trade, ticker and book-1000 connections merged) and
Kraken Futures (the recorded 2021-07-22 session) from two local venue processes."""

from __future__ import annotations

import signal
from pathlib import Path

from serve_e2e_support import (
    Processes,
    ServeProcess,
    free_port,
    open_test_store,
    serve_config,
    stored_quotes,
    stored_trades,
)

from cli_process import Cli

# What each replay publishes for these instruments, written down once. Kraken v2 trades get
# the venue's per-pair ids; Kraken Futures' trade_snapshot seeds its sequence and is not
# published again (serve subscribes before the replay starts, so it gets the recorded one).
KRAKEN = {"ETH/CHF": (0, 1), "XMR/USD": (4, 4), "SC/EUR": (6, 6)}  # symbol: (trades, quotes)
FUTURES = {"PI_ETHUSD": (1, 25), "PI_XRPUSD": (0, 8)}
KRAKEN_BOOK_RECORDS = {"ETH/CHF": 549, "XMR/USD": 1_103, "SC/EUR": 1_239}
START_DELAY = "5"  # seconds from the first subscription to the first frame: the three
# subscribe frames of each venue are paced under its control-message rate (0.25 s apart)


def kraken_sessions(shared_data: Path) -> list[str]:
    folder = shared_data / "kraken"
    args = []
    for name in ("KRAKEN.ws.48.0", "KRAKEN.ws.49.0", "KRAKEN.ws.50.0"):  # trade, ticker, book
        args += ["--recording", str(folder / name)]
    return args


def test_kraken_and_kraken_futures_in_one_process_are_both_stored_with_verified_books(
    backend_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    kraken = processes.venue(
        "kraken", *kraken_sessions(shared_data), "--speed", "0", "--start-delay", START_DELAY
    )
    futures_session = shared_data / "kraken_futures" / "KRAKEN_FUTURES.ws.1.0"
    futures = processes.venue("kraken_futures", "--recording", str(futures_session),
                              "--speed", "0", "--start-delay", START_DELAY)  # fmt: skip
    port = free_port()
    config = serve_config(backend_cli.cwd, [kraken, futures], metrics_port=port, segment=segment)
    serve = processes.serve(
        backend_cli, config, port, "--live", "--persist", "--ipc",
        "--provider", "kraken", "--symbols", ",".join(KRAKEN),
        "--provider", "kraken_futures", "--symbols", ",".join(FUTURES),
    )  # fmt: skip

    expected = {("kraken", s): counts for s, counts in KRAKEN.items()}
    expected |= {("kraken_futures", s): counts for s, counts in FUTURES.items()}
    serve.wait_until("every recorded trade and quote", lambda: counted(serve) == expected)
    serve.wait_until("every kraken book record", lambda: books(serve) == KRAKEN_BOOK_RECORDS)
    rows = sum(trades + quotes for trades, quotes in expected.values())
    serve.wait_until("the rows written", lambda: written(serve) >= rows)
    assert serve.value("ticklane_parse_errors_total", reason="checksum") == 0
    assert serve.value("ticklane_parse_errors_total") == 0
    code, log = serve.stop(signal.SIGINT)

    assert code == 0, log
    store = open_test_store(backend_cli)
    try:
        for (exchange, symbol), (trades, quotes) in expected.items():
            assert len(stored_trades(store, exchange, symbol)) == trades, (exchange, symbol)
            assert len(stored_quotes(store, exchange, symbol)) == quotes, (exchange, symbol)
    finally:
        store.close()


def test_a_pair_the_venue_refuses_is_logged_with_its_answer_while_the_others_stream(
    sqlite_cli: Cli, processes: Processes, segment: str, shared_data: Path
) -> None:
    kraken = processes.venue("kraken", *kraken_sessions(shared_data), "--speed", "0",
                             "--start-delay", START_DELAY, "--reject", "XMR/USD")  # fmt: skip
    port = free_port()
    config = serve_config(sqlite_cli.cwd, [kraken], metrics_port=port, segment=segment)
    serve = processes.serve(sqlite_cli, config, port, "--live", "--persist", "--provider",
                            "kraken", "--symbols", ",".join(KRAKEN))  # fmt: skip

    others = {s: n for s, n in KRAKEN_BOOK_RECORDS.items() if s != "XMR/USD"}
    serve.wait_until("the other pairs' books", lambda: books(serve) == others)
    serve.wait_until("the other pairs' trades", lambda: trades_of(serve, "SC/EUR") == 6)
    # One refusal per channel (trade, ticker, book), each the venue's error answer.
    assert serve.value("ticklane_parse_errors_total", reason="venue_error") == 3
    assert ("kraken", "XMR/USD") not in counted(serve)
    code, log = serve.stop(signal.SIGINT)

    assert code == 0, log
    refusals = [line for line in log.splitlines() if "Currency pair not supported" in line]
    assert refusals, log[-4000:]
    assert all("XMR/USD" in line for line in refusals)


def counted(serve: ServeProcess) -> dict[tuple[str, str], tuple[int, int]]:
    """(venue, symbol) -> (trades, quotes) published, from the endpoint."""
    found: dict[tuple[str, str], list[int]] = {}
    for (name, labels), value in serve.metrics().items():
        if name != "ticklane_records_total":
            continue
        label = dict(labels)
        slot = found.setdefault((label["venue"], label["symbol"]), [0, 0])
        if label["kind"] in ("trade", "quote"):
            slot[label["kind"] == "quote"] += int(value)
    return {key: (trades, quotes) for key, (trades, quotes) in found.items()}


def books(serve: ServeProcess) -> dict[str, int]:
    return {
        dict(labels)["symbol"]: int(value)
        for (name, labels), value in serve.metrics().items()
        if name == "ticklane_records_total" and ("kind", "book") in labels
        and ("venue", "kraken") in labels
    }  # fmt: skip


def trades_of(serve: ServeProcess, symbol: str) -> float:
    return serve.value("ticklane_records_total", symbol=symbol, kind="trade")


def written(serve: ServeProcess) -> float:
    return serve.value("ticklane_writer_rows_total", outcome="written")
