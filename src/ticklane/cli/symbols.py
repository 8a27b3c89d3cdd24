"""``data-manager symbol``: the symbol registry."""

from __future__ import annotations

import asyncio
from typing import Annotated, Final

import typer

from ticklane.cli.common import (
    FormatOption,
    OutputFormat,
    fail,
    handle_errors,
    opened_store,
    out,
    print_json,
    print_table,
    state,
)
from ticklane.core.identifiers import InstrumentId
from ticklane.storage import SymbolInfo

DISCOVERED: Final = "discover"  # the registry's source of instruments a venue listed

app = typer.Typer(help="The symbol registry: list, add, remove, discover.", no_args_is_help=True)

ExchangeOption = Annotated[
    str, typer.Option("--exchange", "-e", help="Exchange the symbols trade on.")
]
SymbolsOption = Annotated[
    str, typer.Option("--symbols", "-s", help="Comma-separated, e.g. BTCUSDT,ETHUSDT.")
]


def _split(symbols: str) -> list[str]:
    names = [name.strip() for name in symbols.split(",") if name.strip()]
    if not names:
        fail("--symbols: give at least one symbol, e.g. --symbols BTCUSDT,ETHUSDT", 2)
    return names


def _instruments(exchange: str, names: list[str]) -> list[InstrumentId]:
    """The instruments named, as a venue's records name them (Kraken XBT/USD -> BTC/USD)."""
    from ticklane.venues.discovery import PROVIDERS, normalize_symbol

    if exchange.lower() in PROVIDERS:
        names = [normalize_symbol(exchange.lower(), name) for name in names]
    return [InstrumentId.of(exchange, name) for name in names]


@app.command("list")
@handle_errors
def list_symbols(
    ctx: typer.Context,
    exchange: Annotated[
        str | None, typer.Option("--exchange", "-e", help="Only this exchange.")
    ] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """List registered symbols."""
    with opened_store(ctx) as store:
        symbols = store.list_symbols(exchange.lower() if exchange else None)
    if output is OutputFormat.JSON:
        print_json(symbols)
        return
    if not symbols:
        out.print(
            "No symbols registered. Add some with `data-manager symbol add --symbols BTCUSDT`."
        )
        return
    print_table(
        f"{len(symbols)} registered symbol(s)",
        ["exchange", "symbol", "status", "tick size", "lot size", "source"],
        [
            (s.exchange, s.symbol, s.status, s.tick_size or "-", s.lot_size or "-", s.source)
            for s in symbols
        ],
    )


@app.command()
@handle_errors
def add(
    ctx: typer.Context,
    symbols: SymbolsOption,
    exchange: ExchangeOption = "binance",
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Register symbols (names are checked against the venue list once `discover` ran)."""
    instruments = _instruments(exchange, _split(symbols))
    with opened_store(ctx) as store:
        listed = store.list_symbols(instruments[0].exchange)
        known = {s.symbol for s in listed if s.source == DISCOVERED}
        if known:
            unknown = [i.symbol for i in instruments if i.symbol not in known]
            if unknown:
                fail(
                    f"{', '.join(unknown)} not listed by {instruments[0].exchange} "
                    f"(discovered list has {len(known)} symbols)",
                )
        new = store.add_symbols([SymbolInfo(i.exchange, i.symbol) for i in instruments])
    if output is OutputFormat.JSON:
        print_json({"added": new, "updated": len(instruments) - new})
        return
    out.print(f"added {new} symbol(s), {len(instruments) - new} already registered")


@app.command()
@handle_errors
def remove(
    ctx: typer.Context,
    symbols: SymbolsOption,
    exchange: ExchangeOption = "binance",
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Unregister symbols; their stored ticks stay."""
    instruments = _instruments(exchange, _split(symbols))
    with opened_store(ctx) as store:
        removed = store.remove_symbols(instruments)
    missing = len(instruments) - removed
    if output is OutputFormat.JSON:
        print_json({"removed": removed, "not_registered": missing})
        return
    out.print(
        f"removed {removed} symbol(s)" + (f", {missing} were not registered" if missing else "")
    )


@app.command()
@handle_errors
def discover(
    ctx: typer.Context,
    provider: Annotated[
        str, typer.Option("--provider", help="binance, kraken or kraken_futures.")
    ] = "binance",
    demo: Annotated[bool, typer.Option("--demo", help="The venue's test environment.")] = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Fetch the venue's instrument list (tick size, lot size, status) into the registry."""
    from ticklane.venues.discovery import PROVIDERS, discover_instruments

    if provider not in PROVIDERS:
        fail(f"--provider: {provider!r} is not one of {', '.join(PROVIDERS)}", 2)
    settings = state(ctx).settings
    endpoints = getattr(settings.venues, provider)
    rest_url = endpoints.demo_rest_url if demo else endpoints.rest_url
    if rest_url is None:
        fail(f"--demo: venues.{provider}.demo_rest_url is not configured", 2)
    instruments = asyncio.run(discover_instruments(provider, rest_url))
    rows = [
        SymbolInfo(
            i.exchange,
            i.symbol,
            i.base_asset,
            i.quote_asset,
            i.tick_size,
            i.lot_size,
            i.status,
            source=DISCOVERED,
        )
        for i in instruments
    ]
    with opened_store(ctx) as store:
        new = store.add_symbols(rows)
    active = sum(1 for row in rows if row.status == "active")
    if output is OutputFormat.JSON:
        print_json({"instruments": len(rows), "active": active, "added": new})
        return
    out.print(
        f"{provider}: {len(rows):,} instruments ({active:,} trading, "
        f"{len(rows) - active:,} halted); {new:,} new in the registry, "
        f"{len(rows) - new:,} updated"
    )
