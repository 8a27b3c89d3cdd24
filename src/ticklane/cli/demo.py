"""``data-manager demo``: the live pipeline offline, on the local venue's synthetic market.

The local venue (``ticklane.venues.sim``) generates a seeded Binance market for the symbols
asked and speaks Binance's protocol on 127.0.0.1; ``serve`` streams it exactly as it would
the real venue, into the tick store and the IPC ring. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from ticklane.cli.common import err, fail, handle_errors, state


@handle_errors
def demo(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")] = "BTCUSDT,ETHUSDT",
    rate: Annotated[float, typer.Option(help="Frames per second the market makes.")] = 50.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = 7,
    ipc: Annotated[bool, typer.Option("--ipc/--no-ipc", help="Write to the IPC ring.")] = True,
    persist: Annotated[
        bool, typer.Option("--persist/--no-persist", help="Store trades and quotes.")
    ] = True,
) -> None:
    """Stream a synthetic market from a local venue through serve (offline; Ctrl-C stops)."""
    from ticklane.config.settings import VenueEndpoints
    from ticklane.datamanager.serve import (
        FeedRequest,
        ServeOptions,
        Server,
        check_symbols,
        install_stop_signals,
    )
    from ticklane.storage import open_store
    from ticklane.venues.sim.server import LocalVenue
    from ticklane.venues.sim.synthetic import SyntheticMarket

    names = [name.strip().upper() for name in symbols.split(",") if name.strip()]
    if not names:
        fail("--symbols: give at least one symbol", 2)
    if rate <= 0:
        fail(f"--rate: {rate} is not positive", 2)
    wanted = check_symbols("binance", names, None)
    settings = state(ctx).settings
    store = open_store(settings.database, settings.storage) if persist else None

    async def main() -> None:
        # Stamped from now, as a live market is (trading-core rejects stale trades); endless.
        market = SyntheticMarket(seed, tuple(wanted), rate, None, start_ns=time.time_ns())
        async with LocalVenue("binance", synthetic=market, speed=1.0) as venue:
            local = settings.model_copy(
                update={
                    "venues": settings.venues.model_copy(
                        update={
                            "binance": VenueEndpoints(ws_url=venue.ws_url, rest_url=venue.http_url)
                        }
                    )
                }
            )
            err.print(
                f"local venue on {venue.ws_url}: a synthetic market of {', '.join(wanted)} at "
                f"{rate:g} frames/s; Ctrl-C stops",
                soft_wrap=True,
            )
            options = ServeOptions(
                feeds=(FeedRequest("binance", tuple(wanted)),), ipc=ipc, persist=persist
            )
            server = Server(local, options, store)
            stop = asyncio.Event()
            install_stop_signals(stop)
            summary = await server.run(stop)
            err.print(
                f"stopped after {summary.seconds:.1f} s: {summary.trades:,} trades, "
                f"{summary.quotes:,} quotes, {summary.book_updates:,} book updates"
                + (f"; stored {summary.written:,}" if persist else "")
                + (f"; {summary.ipc_records:,} records to the ring" if ipc else ""),
                soft_wrap=True,
            )

    try:
        if store is not None:
            store.migrate()
        asyncio.run(main())
    finally:
        if store is not None:
            store.close()
