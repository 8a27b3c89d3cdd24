"""``data-manager serve``: stream live market data into the tick store and the IPC ring."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from ticklane.cli.common import ConfigOption, err, fail, handle_errors, state
from ticklane.config import Settings, configure_logging, load_settings
from ticklane.core.errors import ConfigError
from ticklane.storage import TickStore, open_store

PROVIDERS = ("binance", "kraken", "kraken_futures")


@handle_errors
def serve(
    ctx: typer.Context,
    live: Annotated[bool, typer.Option("--live", help="Stream from the venues.")] = False,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="binance, kraken or kraken_futures; repeat for several."),
    ] = None,
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--symbols",
            help="Comma-separated symbols as the venue writes them; one --symbols per "
            "--provider, in order (default: the configured symbols).",
        ),
    ] = None,
    ipc: Annotated[bool, typer.Option("--ipc", help="Write every record to the ring.")] = False,
    persist: Annotated[
        bool, typer.Option("--persist", help="Store trades and quotes in the tick store.")
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="The venue's test environment.")] = False,
    record: Annotated[
        Path | None, typer.Option("--record", file_okay=False, help="Record raw frames here.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus port (0: none).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Stream live trades, quotes and books from Binance, Kraken or Kraken Futures."""
    from ticklane.datamanager.serve import (
        FeedRequest,
        ServeOptions,
        Server,
        check_symbols,
        install_stop_signals,
    )

    settings = _settings(ctx, config)
    if not live:
        fail("give --live to stream from the venues (e.g. --live --provider binance)", 2)
    providers = provider or ["binance"]
    for name in providers:
        if name not in PROVIDERS:
            fail(f"--provider: {name!r} is not one of {', '.join(PROVIDERS)}", 2)
    if len(set(providers)) != len(providers):
        fail("--provider: each provider once (give it all its symbols in one --symbols)", 2)
    lists = symbols or [",".join(settings.symbols)]
    if len(lists) != len(providers):
        fail(
            f"{len(providers)} --provider but {len(lists)} --symbols: give one --symbols per "
            "--provider, in the same order",
            2,
        )
    store = open_store(settings.database, settings.storage) if persist else None
    try:
        if store is not None:
            store.migrate()
        # Everything is checked before the first connection.
        feeds = []
        for name, text in zip(providers, lists, strict=True):
            wanted = [part.strip() for part in text.split(",") if part.strip()]
            known = _discovered(store, name) if store is not None else None
            feeds.append(FeedRequest(name, tuple(check_symbols(name, wanted, known))))
        options = ServeOptions(
            feeds=tuple(feeds),
            ipc=ipc,
            persist=persist,
            demo=demo,
            record_dir=record,
            metrics_port=metrics_port,
        )
        server = Server(settings, options, store)

        async def main() -> None:
            stop = asyncio.Event()
            install_stop_signals(stop)
            summary = await server.run(stop)
            err.print(
                f"stopped after {summary.seconds:.1f} s: {summary.frames:,} frames, "
                f"{summary.trades:,} trades, {summary.quotes:,} quotes, "
                f"{summary.book_updates:,} book updates, {summary.reconnects} reconnects, "
                f"{summary.recovered:,} trades recovered, {summary.gaps} gaps"
                + (
                    f"; stored {summary.written:,} ({summary.duplicates:,} already stored, "
                    f"{summary.dropped:,} dropped)"
                    if persist
                    else ""
                )
                + (f"; {summary.ipc_records:,} records to the ring" if ipc else ""),
                soft_wrap=True,
            )

        asyncio.run(main())
    finally:
        if store is not None:
            store.close()


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
