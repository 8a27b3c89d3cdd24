"""``data-manager serve``: stream live market data, or replay a recording, into the tick store
and the IPC ring."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ticklane.cli.common import ConfigOption, err, fail, handle_errors, state
from ticklane.config import Settings, configure_logging, load_settings
from ticklane.core.errors import BadDataError, ConfigError
from ticklane.storage import TickStore, open_store

if TYPE_CHECKING:
    from ticklane.datamanager.serve import ServeOptions, ServeSummary
    from ticklane.venues.sim.recordings import Recording

PROVIDERS = ("binance", "kraken", "kraken_futures")
REPLAY = "replay"


@handle_errors
def serve(
    ctx: typer.Context,
    live: Annotated[bool, typer.Option("--live", help="Stream from the venues.")] = False,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="binance, kraken or kraken_futures; repeat for several. replay: play the "
            "recording given with --file through the same pipeline.",
        ),
    ] = None,
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--symbols",
            help="Comma-separated symbols as the venue writes them; one --symbols per "
            "--provider, in order (default: the configured symbols; with replay: all "
            "symbols of the recording).",
        ),
    ] = None,
    ipc: Annotated[bool, typer.Option("--ipc", help="Write every record to the ring.")] = False,
    persist: Annotated[
        bool, typer.Option("--persist", help="Store trades and quotes in the tick store.")
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="The venue's test environment.")] = False,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record", file_okay=False, help="Record every received frame under DIR/<venue>/."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="With --provider replay: a --record recording (file or directory), a recv-ns "
            "capture or a cryptofeed session.",
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(
            "--speed", help="With --provider replay: 1 the recorded pace, 0 as fast as it goes."
        ),
    ] = 0.0,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus port (0: none).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Stream live trades, quotes and books from Binance, Kraken or Kraken Futures, or replay
    a recording of them."""
    from ticklane.datamanager.serve import (
        FeedRequest,
        ReplaySource,
        ServeOptions,
        Server,
        check_symbols,
        install_stop_signals,
    )

    settings = _settings(ctx, config)
    providers = provider or ["binance"]
    replaying = REPLAY in providers
    recording = None
    if replaying:
        recording = _check_replay(providers, symbols, record, demo, file, speed)
    else:
        if not live:
            fail("give --live to stream from the venues (e.g. --live --provider binance)", 2)
        if file is not None or speed:
            fail("--file and --speed are for --provider replay only", 2)
        for name in providers:
            if name not in PROVIDERS:
                fail(f"--provider: {name!r} is not one of {', '.join(PROVIDERS)}, {REPLAY}", 2)
        if len(set(providers)) != len(providers):
            fail("--provider: each provider once (give it all its symbols in one --symbols)", 2)
    lists = symbols or ([] if replaying else [",".join(settings.symbols)])
    if not replaying and len(lists) != len(providers):
        fail(
            f"{len(providers)} --provider but {len(lists)} --symbols: give one --symbols per "
            "--provider, in the same order",
            2,
        )
    replay = None
    if recording is not None:
        wanted = _split(lists[0]) if lists else []
        names = check_symbols(str(recording.venue), wanted, None) if wanted else []
        replay = ReplaySource(file or Path(recording.path), speed, tuple(names))
    # Everything is checked, a recording read, before the store is opened (or created).
    store = open_store(settings.database, settings.storage) if persist else None
    try:
        if store is not None:
            store.migrate()
        feeds = []
        if recording is None:
            for name, text in zip(providers, lists, strict=True):
                known = _discovered(store, name) if store is not None else None
                feeds.append(FeedRequest(name, tuple(check_symbols(name, _split(text), known))))
        options = ServeOptions(
            feeds=tuple(feeds),
            replay=replay,
            ipc=ipc,
            persist=persist,
            demo=demo,
            record_dir=record,
            metrics_port=metrics_port,
        )
        server = Server(settings, options, store, recording=recording)

        async def main() -> None:
            stop = asyncio.Event()
            install_stop_signals(stop)
            summary = await server.run(stop)
            err.print(_summary_line(summary, options), soft_wrap=True)

        asyncio.run(main())
    finally:
        if store is not None:
            store.close()


def _check_replay(
    providers: list[str],
    symbols: list[str] | None,
    record: Path | None,
    demo: bool,
    file: Path | None,
    speed: float,
) -> Recording:
    """The recording a replay plays, read and checked; exit 2 naming what is wrong."""
    from ticklane.datamanager.replay import open_recording

    if providers != [REPLAY]:
        fail(f"--provider {REPLAY} plays one recording: give no other --provider with it", 2)
    if file is None:
        fail(f"--provider {REPLAY} needs --file (a recording, e.g. a --record directory)", 2)
    if record is not None:
        fail(f"--record records live feeds; it cannot be combined with --provider {REPLAY}", 2)
    if demo:
        fail(f"--demo picks the venues' test servers; --provider {REPLAY} connects to none", 2)
    if symbols is not None and len(symbols) > 1:
        fail(f"--provider {REPLAY} takes one --symbols (comma-separated)", 2)
    if speed < 0 or not math.isfinite(speed):
        fail(f"--speed must be 0 (as fast as possible) or more, not {speed}", 2)
    try:
        return open_recording(file)
    except BadDataError as error:
        fail(f"--file: {error}", 2)


def _summary_line(summary: ServeSummary, options: ServeOptions) -> str:
    if options.replay is None:
        head = "stopped"
    else:
        head = "replay finished" if summary.replay_finished else "replay stopped"
    line = (
        f"{head} after {summary.seconds:.1f} s: {summary.frames:,} frames, "
        f"{summary.trades:,} trades, {summary.quotes:,} quotes, "
        f"{summary.book_updates:,} book updates, {summary.reconnects} reconnects, "
        f"{summary.recovered:,} trades recovered, {summary.gaps} gaps"
    )
    if options.replay is not None:
        line += (
            f"; {summary.venue_requests:,} venue requests not sent, "
            f"{summary.snapshots_replayed:,} recorded book snapshots used, "
            f"{summary.unsynced_books} books unsynced"
        )
    if options.persist:
        line += (
            f"; stored {summary.written:,} ({summary.duplicates:,} already stored, "
            f"{summary.dropped:,} dropped)"
        )
    if options.ipc:
        line += f"; {summary.ipc_records:,} records to the ring"
    return line


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _settings(ctx: typer.Context, config: Path | None) -> Settings:
    if config is None:
        return state(ctx).settings
    try:
        settings = load_settings(config)
    except ConfigError as error:
        fail(f"configuration: {error}", 2)
    configure_logging(settings)
    return settings


def _discovered(store: TickStore, provider: str) -> set[str] | None:
    """The venue's instruments if `symbol discover` stored them, else None (not checked)."""
    return {s.symbol for s in store.list_symbols(provider) if s.source == "discover"} or None
