"""A live serve against the local venue, recorded with ``--record`` and persisted, then its
recording replayed (in process and as the command a user types): the replay stores exactly
the trades and quotes the live feed stored."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import msgspec
import pytest
from replay_support import serve_settings, stored, wait_until

from ticklane.core.identifiers import InstrumentId
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.datamanager.metrics import ServeCollector
from ticklane.datamanager.replay import ReplayRunner
from ticklane.datamanager.serve import (
    FeedRequest,
    ReplaySource,
    ServeOptions,
    Server,
    ServeSummary,
)
from ticklane.storage.sqlite import SqliteTickStore
from ticklane.venues.sim.recorder import SUFFIX
from ticklane.venues.sim.recordings import ConnectionOpened, ReceivedFrame, read_recording
from ticklane.venues.sim.server import LocalVenue

from cli_process import Cli

BTCUSDT = InstrumentId("binance", "BTCUSDT")
RECORDED_TRADES = 3_144  # trades in binance/btcusdt_20230405.dat.gz


class LiveSession(msgspec.Struct, frozen=True):
    record_dir: Path
    summary: ServeSummary
    trades: list[TradeTick]
    quotes: list[QuoteTick]
    tickers: int  # bookTicker frames in the capture the venue played


def book_tickers(capture: Path) -> int:
    with gzip.open(capture, "rt") as lines:
        return sum(
            json.loads(line.split(" ", 1)[1]).get("stream", "").endswith("@bookTicker")
            for line in lines
        )


@pytest.fixture(scope="module")
def live(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> LiveSession:
    """``serve --live --provider binance --symbols BTCUSDT --record DIR --persist`` against the
    local venue playing the 2023 BTCUSDT capture, stopped once every trade arrived."""
    capture = shared_data / "binance" / "btcusdt_20230405.dat.gz"
    tickers = book_tickers(capture)
    base = tmp_path_factory.mktemp("live")
    store = SqliteTickStore(base / "live.sqlite3")
    store.migrate()

    async def scenario() -> ServeSummary:
        async with LocalVenue("binance", [capture], speed=0) as venue:
            settings = serve_settings(binance_ws=venue.ws_url, binance_rest=venue.http_url)
            options = ServeOptions(
                feeds=(FeedRequest("binance", ("BTCUSDT",)),),
                persist=True,
                record_dir=base / "recording",
                metrics_port=0,
            )
            server = Server(settings, options, store)
            stop = asyncio.Event()
            running = asyncio.create_task(server.run(stop))
            [runner] = server.feed_runners
            records = runner.stats.records
            try:
                await venue.wait_finished()
                await wait_until(
                    lambda: (
                        records["BTCUSDT", "trade"] == RECORDED_TRADES
                        and records["BTCUSDT", "quote"] == tickers
                    )
                )
                # Flushed while serving: a reader sees every frame before the stop.
                recording = base / "recording"
                await wait_until(lambda: received_frames(recording) == runner.stats.frames)
            finally:
                stop.set()
                summary = await running
            return summary

    try:
        summary = asyncio.run(scenario())
    finally:
        store.close()
    trades, quotes = stored(base / "live.sqlite3", BTCUSDT)
    return LiveSession(base / "recording", summary, trades, quotes, tickers)


def received_frames(record_dir: Path) -> int:
    recording = read_recording(record_dir / "binance")
    return sum(isinstance(event, ReceivedFrame) for event in recording.events)


def test_record_holds_every_received_frame_in_finished_files(live: LiveSession) -> None:
    files = sorted((live.record_dir / "binance").glob(f"*{SUFFIX}"))
    assert files
    for path in files:
        with gzip.open(path) as handle:
            handle.read()  # a file cut short (not finished at the stop) raises EOFError
    recording = read_recording(live.record_dir / "binance")
    frames = [event for event in recording.events if isinstance(event, ReceivedFrame)]
    opened = [event for event in recording.events if isinstance(event, ConnectionOpened)]
    assert recording.venue == "binance"
    assert len(frames) == live.summary.frames
    assert len(opened) == 1  # one connection, never dropped
    assert len(live.trades) == RECORDED_TRADES
    assert len(live.quotes) == live.tickers


def test_replay_of_the_recording_stores_the_same_trades_and_quotes(
    live: LiveSession, tmp_path: Path
) -> None:
    store = SqliteTickStore(tmp_path / "replay.sqlite3")
    store.migrate()
    settings = serve_settings(ring=tmp_path / "ring")
    options = ServeOptions(
        replay=ReplaySource(live.record_dir / "binance"), persist=True, ipc=True, metrics_port=0
    )
    server = Server(settings, options, store)

    async def scenario() -> ServeSummary:
        return await server.run(asyncio.Event())  # ends by itself at the end of the file

    try:
        summary = asyncio.run(scenario())
    finally:
        store.close()
    trades, quotes = stored(tmp_path / "replay.sqlite3", BTCUSDT)
    assert trades == live.trades
    assert quotes == live.quotes
    assert summary.replay_finished
    assert (summary.frames, summary.trades, summary.quotes) == (
        live.summary.frames,
        live.summary.trades,
        live.summary.quotes,
    )
    assert summary.written == len(trades) + len(quotes)
    assert summary.dropped == 0
    # Books: the live feed fetched its snapshot over REST, which the recording does not hold.
    assert summary.unsynced_books == 1
    assert summary.ipc_records == summary.trades + summary.quotes + summary.book_updates
    # The metrics endpoint reads a replay as it reads a live feed.
    [runner] = server.runners
    assert isinstance(runner, ReplayRunner)
    families = {family.name: family for family in ServeCollector([runner]).collect()}
    [frames] = families["ticklane_ws_frames_received"].samples
    assert frames.value == summary.frames


def test_cli_replay_of_the_record_dir_persists_and_prints_its_summary(
    live: LiveSession, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, None)
    # The --record directory as given to serve: its one venue folder is found.
    result = cli.run("serve", "--provider", "replay", "--file", str(live.record_dir), "--persist")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("replay finished")]
    assert f"{RECORDED_TRADES:,} trades" in line
    assert f"{live.tickers:,} quotes" in line
    assert f"stored {RECORDED_TRADES + live.tickers:,} (0 already stored, 0 dropped)" in line
    trades, quotes = stored(tmp_path / ".ticklane-test" / "ticks.sqlite3", BTCUSDT)
    assert trades == live.trades
    assert quotes == live.quotes


def test_a_reconnect_is_recorded_and_the_replay_misses_only_what_rest_recovered(
    shared_data: Path, tmp_path: Path
) -> None:
    capture = shared_data / "binance" / "btcusdt_20230405.dat.gz"
    live_store = SqliteTickStore(tmp_path / "live.sqlite3")
    live_store.migrate()

    async def live_run() -> ServeSummary:
        # The venue cuts the socket after 2,000 frames and plays 500 more before taking
        # connections again: the live feed fetches those trades from the venue's REST history.
        async with LocalVenue("binance", [capture], speed=0) as venue:
            venue.drop_after(2_000, gap=500)
            settings = serve_settings(binance_ws=venue.ws_url, binance_rest=venue.http_url)
            settings = settings.model_copy(
                update={
                    "data_manager": settings.data_manager.model_copy(
                        update={"reconnect_initial_secs": 0.01, "reconnect_max_secs": 0.05}
                    )
                }
            )
            options = ServeOptions(
                feeds=(FeedRequest("binance", ("BTCUSDT",)),),
                persist=True,
                record_dir=tmp_path / "recording",
                metrics_port=0,
            )
            server = Server(settings, options, live_store)
            stop = asyncio.Event()
            running = asyncio.create_task(server.run(stop))
            [runner] = server.feed_runners
            try:
                await venue.wait_finished()
                await wait_until(
                    lambda: runner.stats.records["BTCUSDT", "trade"] == RECORDED_TRADES
                )
            finally:
                stop.set()
                summary = await running
            return summary

    try:
        live_summary = asyncio.run(live_run())
    finally:
        live_store.close()
    assert live_summary.reconnects >= 1 and live_summary.recovered > 0
    recording = read_recording(tmp_path / "recording" / "binance")
    opened = [event for event in recording.events if isinstance(event, ConnectionOpened)]
    assert len(opened) == 1 + live_summary.reconnects

    replay_store = SqliteTickStore(tmp_path / "replay.sqlite3")
    replay_store.migrate()
    options = ServeOptions(
        replay=ReplaySource(tmp_path / "recording" / "binance"), persist=True, metrics_port=0
    )
    server = Server(serve_settings(), options, replay_store)
    try:
        summary = asyncio.run(server.run(asyncio.Event()))
    finally:
        replay_store.close()
    live_trades, _ = stored(tmp_path / "live.sqlite3", BTCUSDT)
    replayed, _ = stored(tmp_path / "replay.sqlite3", BTCUSDT)
    assert summary.reconnects == live_summary.reconnects
    # The recovered trades came over REST, not over the socket: the replay asks for a backfill
    # it cannot run, counts it, and stores every other trade.
    assert summary.venue_requests >= 1
    live_ids = {trade.trade_id for trade in live_trades}
    replay_ids = {trade.trade_id for trade in replayed}
    assert replay_ids <= live_ids
    assert len(live_ids - replay_ids) == live_summary.recovered
