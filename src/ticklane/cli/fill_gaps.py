"""``data-manager backfill fill-gaps``: find gaps in stored ticks and fill them from the
cheapest source that has the data, free sources first (Databento last, within the budget)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
import typer

from ticklane.cli.common import (
    FormatOption,
    OutputFormat,
    err,
    handle_errors,
    opened_store,
    out,
    print_json,
    print_table,
    short_time,
    state,
)
from ticklane.cli.history import YesSpendOption, budget_approver, run_with_progress
from ticklane.config import Settings
from ticklane.core.errors import BadDataError, TicklaneError
from ticklane.core.time import NANOS_PER_SECOND, parse_datetime
from ticklane.datamanager.history.catalog import build_source
from ticklane.datamanager.history.gaps import FoundGap, find_gaps
from ticklane.datamanager.history.jobs import create_job
from ticklane.datamanager.history.source import HistorySource
from ticklane.storage.base import Gap, TickStore


class GapResult(msgspec.Struct):
    gap: FoundGap
    outcome: str  # filled, quiet, failed
    rows: int = 0
    job_id: int | None = None
    message: str = ""


@handle_errors
def fill_gaps(
    ctx: typer.Context,
    symbols: Annotated[
        str | None,
        typer.Option("--symbols", "-s", help="Comma-separated; default: every stored symbol."),
    ] = None,
    exchange: Annotated[str, typer.Option("--exchange", "-e", help="Exchange.")] = "binance",
    start: Annotated[str | None, typer.Option("--start", help="Look from here.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Look until here.")] = None,
    threshold_secs: Annotated[
        float | None,
        typer.Option("--threshold-secs", min=0.001, help="Silence counted as a gap (seconds)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the gaps; fetch nothing.")
    ] = False,
    yes_spend: YesSpendOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Find gaps (silences longer than [backfill] gap_threshold_secs, and gaps the live feed
    recorded) and fill them, free sources first."""
    settings = state(ctx).settings
    config = settings.backfill
    exchange = exchange.strip().lower()
    start_ns = parse_datetime(start) if start else None
    end_ns = parse_datetime(end) if end else None
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise BadDataError(f"--end {end} is not after --start {start}")
    with opened_store(ctx) as store:
        names = _symbols(store, exchange, symbols)
        gaps = find_gaps(
            store,
            exchange,
            names,
            default_secs=threshold_secs or config.gap_threshold_secs,
            by_symbol={} if threshold_secs else config.gap_threshold_secs_by_symbol,
            start_ns=start_ns,
            end_ns=end_ns,
        )
        if not gaps:
            out.print(f"no gaps found in {', '.join(names) or 'the store'} on {exchange}")
            return
        if dry_run:
            _show_gaps(gaps, output)
            return
        if output is OutputFormat.TABLE:
            _show_gaps(gaps, output)
        results = asyncio.run(_fill_all(settings, store, gaps, yes_spend))
    _report(results, output)
    if any(r.outcome == "failed" for r in results):
        raise typer.Exit(1)


def _symbols(store: TickStore, exchange: str, given: str | None) -> list[str]:
    if given:
        return [name.strip() for name in given.split(",") if name.strip()]
    stored = {s.symbol for s in store.stats().series if s.exchange == exchange}
    recorded = {g.symbol for g in store.list_gaps(exchange)}
    return sorted(stored | recorded)


async def _fill_all(
    settings: Settings, store: TickStore, gaps: list[FoundGap], yes_spend: bool
) -> list[GapResult]:
    # One source for every gap: gaps in one day share that day's archive download.
    source = build_source("auto", settings, approve=budget_approver(settings, store, yes_spend))
    try:
        return [await _fill(store, source, gap) for gap in gaps]
    finally:
        await source.aclose()


async def _fill(store: TickStore, source: HistorySource, gap: FoundGap) -> GapResult:
    lo, hi = gap.fetch_range
    try:
        job, _ = create_job(
            store.history, "fill-gaps", source, gap.exchange, [gap.symbol], "trades", lo, hi
        )
        outcome = await run_with_progress(store, source, job)
    except TicklaneError as error:
        err.print(f"[red]gap {gap.symbol} {short_time(gap.from_ns)} not filled:[/] {error}")
        return GapResult(gap, "failed", message=str(error))
    rows = outcome.job.rows_stored
    for gap_id in gap.gap_ids:
        store.mark_gap_filled(gap_id)
    # The whole stretch was fetched: what is still silent in it is a quiet market.
    checked = Gap(gap.exchange, gap.symbol, gap.from_ns, gap.to_ns, f"checked: {source.name}")
    store.mark_gap_filled(store.record_gap(checked))
    kind = "filled" if rows or outcome.job.rows_duplicate else "quiet"
    note = "" if kind == "filled" else "the source has no trades there either: a quiet market"
    return GapResult(gap, kind, rows, outcome.job.id, note)


def _show_gaps(gaps: list[FoundGap], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json({"gaps": gaps})
        return
    print_table(
        f"{len(gaps)} gap(s)",
        ["instrument", "after", "before", "length", "origin"],
        [
            (
                f"{g.exchange}:{g.symbol}",
                short_time(g.from_ns),
                short_time(g.to_ns),
                f"{(g.to_ns - g.from_ns) / NANOS_PER_SECOND:,.1f} s",
                g.origin,
            )
            for g in gaps
        ],
    )


def _report(results: list[GapResult], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json({"results": results})
        return
    for r in results:
        line = f"{r.gap.exchange}:{r.gap.symbol} {short_time(r.gap.from_ns)}: {r.outcome}"
        if r.outcome == "filled":
            line += f", {r.rows:,} rows stored (job {r.job_id})"
        elif r.message:
            line += f" ({r.message})"
        out.print(line)
