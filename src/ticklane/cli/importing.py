"""``data-manager import FILE``: load trade ticks from CSV or Parquet into the tick store."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ticklane.cli.common import (
    FormatOption,
    OutputFormat,
    err,
    handle_errors,
    opened_store,
    out,
    print_json,
)
from ticklane.core.columnar import RowError
from ticklane.storage import InsertResult, SymbolInfo
from ticklane.storage.history import ProvenanceRange

SHOWN_ERRORS = 20


class ImportSummary(msgspec.Struct):
    file: str
    layout: str
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    symbols: list[str] = msgspec.field(default_factory=list)
    errors: list[RowError] = msgspec.field(default_factory=list)  # the first 1,000


@handle_errors
def import_file(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or Parquet file."),
    ],
    exchange: Annotated[
        str, typer.Option("--exchange", "-e", help="Exchange the trades happened on.")
    ],
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", "-s", help="Symbol, unless the file has a symbol column."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1_000, help="Rows per batch written.")
    ] = 200_000,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Load trades from CSV or Parquet (duplicate-safe: importing a file twice adds nothing).

    Columns: timestamp (ISO 8601, or integer epoch in s, ms, us or ns, detected), price,
    quantity, side (buy/sell), trade_id, optional is_buyer_maker and symbol. Binance's
    headerless public-archive trade files are recognised too. Bad rows are skipped and
    reported by row number; a file with a wrong column layout is refused before anything is
    written.
    """
    # Imported here: pyarrow costs every other command 0.15 s of start-up.
    from ticklane.datamanager.importer import inspect_trade_file, read_trade_file

    layout = inspect_trade_file(file, symbol=symbol)  # refuses a wrong layout up front
    summary = ImportSummary(file=str(file), layout=layout.description)
    symbols: set[str] = set()
    spans: defaultdict[str, _Span] = defaultdict(_Span)
    with opened_store(ctx) as store:
        err.print(f"importing {file} into {store!r}: {layout.description}")
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            task = progress.add_task("reading", total=file.stat().st_size)
            for chunk in read_trade_file(
                file, exchange=exchange, symbol=symbol, chunk_rows=chunk_rows
            ):
                summary.rows_read += chunk.rows_read
                _count(summary, chunk.errors)
                for batch in chunk.batches:
                    result = store.insert_trades(batch)
                    _add(summary, result)
                    symbols.add(batch.instrument.symbol)
                    if result.inserted and len(batch):
                        spans[batch.instrument.symbol].add(batch.data["ts_event"], result.inserted)
                progress.update(
                    task, completed=chunk.bytes_read, description=f"{summary.rows_read:,} rows"
                )
        exchange_name = exchange.strip().lower()
        for name, span in spans.items():
            store.history.record_provenance(
                ProvenanceRange(
                    exchange=exchange_name,
                    symbol=name,
                    start_ns=span.first_ns,
                    end_ns=span.last_ns + 1,
                    kind="import",
                    source="import",
                    detail=file.name,
                    rows=span.rows,
                )
            )
        store.add_symbols(
            [
                s
                for s in (
                    SymbolInfo(exchange_name, name, source="import") for name in sorted(symbols)
                )
                if s.symbol not in {r.symbol for r in store.list_symbols(exchange_name)}
            ]
        )
    summary.symbols = sorted(symbols)
    _report(summary, output)
    if summary.rows_read and summary.rejected == summary.rows_read:
        raise typer.Exit(1)


class _Span:
    """First and last time and rows stored of one symbol, for its provenance."""

    def __init__(self) -> None:
        self.first_ns = 2**63 - 1
        self.last_ns = -(2**63)
        self.rows = 0

    def add(self, times: Any, rows: int) -> None:
        self.first_ns = min(self.first_ns, int(times.min()))
        self.last_ns = max(self.last_ns, int(times.max()))
        self.rows += rows


def _add(summary: ImportSummary, result: InsertResult) -> None:
    summary.inserted += result.inserted
    summary.duplicates += result.duplicates
    _count(summary, list(result.rejected))


def _count(summary: ImportSummary, errors: list[RowError]) -> None:
    summary.rejected += len(errors)
    room = 1_000 - len(summary.errors)
    if room > 0:
        summary.errors.extend(errors[:room])


def _report(summary: ImportSummary, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(summary)
        return
    out.print(
        f"{summary.rows_read:,} rows read: {summary.inserted:,} stored, "
        f"{summary.duplicates:,} already stored, {summary.rejected:,} rejected"
        + (f" ({', '.join(summary.symbols)})" if summary.symbols else "")
    )
    for error in summary.errors[:SHOWN_ERRORS]:
        err.print(f"  row {error.position}: {error.message}", soft_wrap=True)
    if summary.rejected > SHOWN_ERRORS:
        err.print(
            f"  ... and {summary.rejected - SHOWN_ERRORS:,} more; "
            "--format json lists the first 1,000"
        )
