"""``data-manager db``: migrate, stats, compress."""

from __future__ import annotations

import time

import typer

from ticklane.cli.common import (
    FormatOption,
    OutputFormat,
    err,
    fail,
    handle_errors,
    human_bytes,
    opened_store,
    out,
    print_json,
    print_table,
    short_time,
    state,
)
from ticklane.config import format_duration
from ticklane.core.bars import Timeframe
from ticklane.core.fixed import format_decimal
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_SECOND, format_ns, parse_datetime
from ticklane.storage import open_store
from ticklane.storage.history import ProvenanceSummary

app = typer.Typer(
    help="Database operations: migrations, statistics, compression.", no_args_is_help=True
)


@app.command()
@handle_errors
def migrate(ctx: typer.Context, output: FormatOption = OutputFormat.TABLE) -> None:
    """Apply pending schema migrations (safe to run again: applies only what is missing)."""
    settings = state(ctx).settings
    store = open_store(settings.database, settings.storage)
    try:
        applied = store.migrate()
        where = f"{store!r} ({store.layout} layout)"
    finally:
        store.close()
    if output is OutputFormat.JSON:
        print_json({"store": where, "migrations": applied})
        return
    out.print(f"{where}: schema up to date")
    print_table(
        "Migrations",
        ["version", "name", "applied at", "status"],
        [
            (
                f"{m.version:04d}",
                m.name,
                m.applied_at,
                "applied now" if m.newly_applied else "already applied",
            )
            for m in applied
        ],
    )


@app.command()
@handle_errors
def stats(ctx: typer.Context, output: FormatOption = OutputFormat.TABLE) -> None:
    """Rows, bytes and time span per exchange and symbol; vendor bars; partitions or chunks."""
    with opened_store(ctx) as store:
        result = store.stats()
        provenance = store.history.provenance_summary()
        bars = store.bars.summary()
        where = repr(store)
    if output is OutputFormat.JSON:
        fields = {f: getattr(result, f) for f in result.__struct_fields__}
        print_json({"store": where, **fields, "provenance": provenance, "bars": bars})
        return
    size = human_bytes(result.total_bytes)
    out.print(f"{where}: {result.backend}, {result.layout} layout, {size} in all")
    if not result.series:
        out.print("No ticks stored yet. Load some with `data-manager import FILE --exchange X`.")
    else:
        print_table(
            "Stored series",
            ["table", "exchange", "symbol", "rows", "first", "last", "bytes (est.)"],
            [
                (
                    s.table,
                    s.exchange,
                    s.symbol,
                    f"{s.rows:,}",
                    short_time(s.first_ts),
                    short_time(s.last_ts),
                    human_bytes(s.bytes_estimate),
                )
                for s in result.series
            ],
        )
    show_provenance(provenance)
    if bars:
        print_table(
            "Vendor bars",
            ["exchange", "symbol", "timeframe", "source", "bars", "first open", "last open"],
            [
                (
                    b.exchange,
                    b.symbol,
                    b.timeframe,
                    b.source,
                    f"{b.bars:,}",
                    short_time(b.first_open_ns),
                    short_time(b.last_open_ns),
                )
                for b in bars
            ],
        )
    if result.partitions:
        print_table(
            "Partitions" if result.layout == "partitioned" else "Chunks",
            ["table", "name", "from", "to", "bytes", "compressed"],
            [
                (
                    p.table,
                    p.name,
                    short_time(p.range_start),
                    short_time(p.range_end),
                    human_bytes(p.bytes),
                    "n/a" if p.compressed is None else ("yes" if p.compressed else "no"),
                )
                for p in result.partitions
            ],
        )


@app.command()
@handle_errors
def compress(
    ctx: typer.Context,
    older_than: str = typer.Option(
        None,
        "--older-than",
        help="Age of chunks to compress, e.g. 7d (default: [storage] compress_after).",
    ),
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Compress chunks older than an age (TimescaleDB); elsewhere say what the backend offers."""
    from ticklane.config import parse_duration

    settings = state(ctx).settings
    age = parse_duration(older_than) if older_than else settings.storage.compress_after
    cutoff = time.time_ns() - int(age.total_seconds()) * NANOS_PER_SECOND
    with opened_store(ctx) as store:
        result = store.compress(cutoff)
    if output is OutputFormat.JSON:
        print_json(result)
        return
    err.print(f"chunks older than {format_duration(age)} ({format_ns(cutoff)})")
    out.print(
        f"compressed {result.chunks_compressed} chunk(s): "
        f"{human_bytes(result.bytes_before)} -> {human_bytes(result.bytes_after)}"
    )


def show_provenance(rows: list[ProvenanceSummary]) -> None:
    """Where stored ticks came from: live, archive, REST, Databento, import."""
    if not rows:
        return
    print_table(
        "where stored ticks came from",
        ["instrument", "source", "ranges", "rows", "first", "last"],
        [
            (
                f"{s.exchange}:{s.symbol}",
                s.kind,
                s.ranges,
                f"{s.rows:,}",
                short_time(s.first_ns),
                short_time(s.last_ns),
            )
            for s in rows
        ],
    )


@app.command("bars")
@handle_errors
def bars(
    ctx: typer.Context,
    instrument: str = typer.Argument(..., help="EXCHANGE:SYMBOL, e.g. cme:ESH1."),
    timeframe: str = typer.Option("1m", "--timeframe", "-t", help="1s, 1m, 1h, 1d, ..."),
    start: str = typer.Option(..., "--start", help="Start, ISO 8601 (UTC unless an offset)."),
    end: str = typer.Option(..., "--end", help="End (exclusive), ISO 8601."),
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Vendor bars stored by `fetch --schema ohlcv-*`, opening in [start, end)."""
    exchange, _, symbol = instrument.partition(":")
    if not symbol:
        fail(f"instrument: {instrument!r} is not EXCHANGE:SYMBOL (e.g. cme:ESH1)", code=2)
    width = Timeframe.parse(timeframe)
    start_ns, end_ns = parse_datetime(start), parse_datetime(end)
    with opened_store(ctx) as store:
        found = store.bars.get(InstrumentId(exchange, symbol), width, start_ns, end_ns)
    if output is OutputFormat.JSON:
        print_json({"bars": found})
    if not found:
        fail(f"no {width.value} bars of {instrument} between {start} and {end}")
    if output is OutputFormat.JSON:
        return
    print_table(
        f"{instrument} {width.value} bars",
        ["open time", "open", "high", "low", "close", "volume"],
        [
            (
                short_time(b.open_time),
                *map(format_decimal, (b.open, b.high, b.low, b.close, b.volume)),
            )
            for b in found
        ],
    )
