"""Replaying recordings written by other recorders (the shared captures and cryptofeed
sessions) through the serve pipeline: counts written down once from the files."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

from replay_support import serve_settings, stored

from ticklane.core.identifiers import InstrumentId
from ticklane.datamanager.replay import ReplayRunner
from ticklane.datamanager.serve import ReplaySource, ServeOptions, Server, ServeSummary
from ticklane.storage.sqlite import SqliteTickStore
from ticklane.venues.sim.recorder import RecordingWriter
from ticklane.venues.sim.recordings import ReceivedFrame, read_recording

from cli_process import Cli


def replay(
    source: ReplaySource, store_path: Path | None = None
) -> tuple[ServeSummary, ReplayRunner]:
    """Run ``serve --provider replay`` in process, persisting to ``store_path`` if given."""
    store = None
    if store_path is not None:
        store = SqliteTickStore(store_path)
        store.migrate()
    options = ServeOptions(replay=source, persist=store is not None, metrics_port=0)
    server = Server(serve_settings(), options, store)
    try:
        summary = asyncio.run(server.run(asyncio.Event()))
    finally:
        if store is not None:
            store.close()
    assert server.replay_runner is not None
    return summary, server.replay_runner


def test_cli_replay_of_the_2023_binance_capture_stores_its_3144_trades(
    shared_data: Path, tmp_path: Path
) -> None:
    capture = shared_data / "binance" / "btcusdt_20230405.dat.gz"
    with gzip.open(capture, "rt") as lines:
        frames = [json.loads(line.split(" ", 1)[1]) for line in lines]
    trade_ids = [f["data"]["t"] for f in frames if f["stream"].endswith("@trade")]
    result = Cli(tmp_path, None).run(
        "serve", "--provider", "replay", "--file", str(capture), "--persist"
    )
    assert result.returncode == 0, result.stderr
    trades, quotes = stored(
        tmp_path / ".ticklane-test" / "ticks.sqlite3", InstrumentId("binance", "BTCUSDT")
    )
    assert len(trades) == 3_144 == len(trade_ids)
    assert sorted(trade.trade_id for trade in trades) == sorted(trade_ids)
    assert len(quotes) > 0
    assert "replay finished" in result.stderr


def test_binance_books_start_from_the_snapshots_a_session_recorded(shared_data: Path) -> None:
    # The 2021 cryptofeed session holds one REST depth snapshot per symbol (DOT, BTC, ETH).
    session = shared_data / "binance" / "cryptofeed_2021-04-04_BINANCE-ee25be.0"
    summary, runner = replay(ReplaySource(session))
    assert summary.snapshots_replayed == 3
    assert summary.unsynced_books == 0
    assert summary.book_updates > 0
    assert {symbol for symbol, kind in runner.stats.records if kind == "book"} == {
        "DOTUSDT",
        "BTCUSDT",
        "ETHUSDT",
    }


def test_a_binance_session_without_snapshots_leaves_its_books_unsynced(
    shared_data: Path,
) -> None:
    session = shared_data / "binance" / "cryptofeed_BINANCE.ws.1.0"  # its bodies are apart
    summary, _ = replay(ReplaySource(session))
    assert summary.unsynced_books == 4
    assert summary.book_updates == 0
    assert summary.venue_requests == 4  # one snapshot request per book, none sent


def test_symbols_filter_publishes_only_those_symbols(shared_data: Path, tmp_path: Path) -> None:
    session = shared_data / "binance" / "cryptofeed_2021-04-04_BINANCE-ee25be.0"
    _, everything = replay(ReplaySource(session))
    _, runner = replay(ReplaySource(session, symbols=("ETHUSDT",)), tmp_path / "eth.sqlite3")
    assert {symbol for symbol, _ in runner.stats.records} == {"ETHUSDT"}
    assert runner.stats.records == {
        key: count for key, count in everything.stats.records.items() if key[0] == "ETHUSDT"
    }
    trades, _ = stored(tmp_path / "eth.sqlite3", InstrumentId("binance", "ETHUSDT"))
    assert len(trades) == everything.stats.records["ETHUSDT", "trade"]
    others, _ = stored(tmp_path / "eth.sqlite3", InstrumentId("binance", "BTCUSDT"))
    assert others == []


def test_kraken_and_kraken_futures_sessions_replay_with_their_venue_inferred(
    shared_data: Path,
) -> None:
    kraken, runner = replay(ReplaySource(shared_data / "kraken" / "KRAKEN.ws.50.0"))
    assert runner.adapter.exchange == "kraken"
    assert kraken.replay_finished and kraken.book_updates > 0
    assert runner.parser.errors.counts["checksum"] == 0
    futures, runner = replay(ReplaySource(shared_data / "kraken_futures" / "KRAKEN_FUTURES.ws.1.0"))
    assert runner.adapter.exchange == "kraken_futures"
    assert futures.replay_finished and futures.quotes > 0 and futures.book_updates > 0


def test_a_replay_at_the_recorded_pace_publishes_what_an_unpaced_one_does(
    shared_data: Path, tmp_path: Path
) -> None:
    # The first 40 frames of the capture (about half a second), as a --record recording.
    capture = read_recording(shared_data / "binance" / "btcusdt_20230405.dat.gz")
    head = [event for event in capture.events if isinstance(event, ReceivedFrame)][:40]
    with RecordingWriter(tmp_path / "head", "binance") as writer:
        connection = writer.open_connection("wss://stream.binance.com:9443/stream", head[0].ts_recv)
        for event in head:
            writer.write_received(connection, event.frame, event.ts_recv)
    paced, paced_runner = replay(ReplaySource(tmp_path / "head", speed=1.0))
    _, unpaced_runner = replay(ReplaySource(tmp_path / "head", speed=0.0))
    assert paced.replay_finished and paced.frames == 40
    assert paced_runner.stats.records == unpaced_runner.stats.records
