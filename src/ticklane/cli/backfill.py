"""``data-manager backfill``: estimate, fetch, fill-gaps, status, cost-report."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from typing import Annotated

import msgspec
import typer

from ticklane.cli.common import (
    FormatOption,
    OutputFormat,
    err,
    fail,
    handle_errors,
    opened_store,
    out,
    print_json,
    print_table,
    short_time,
    state,
)
from ticklane.cli.db import show_provenance
from ticklane.cli.fill_gaps import fill_gaps
from ticklane.cli.history import (
    EndOption,
    ExchangeOption,
    FetchRequest,
    SchemaOption,
    StartOption,
    SymbolsOption,
    YesSpendOption,
    budget_approver,
    estimate_request,
    estimate_rows,
    fetch_command,
    ledger_estimates,
    parse_request,
    show_estimates,
)
from ticklane.core.time import parse_datetime
from ticklane.datamanager.history.budget import usd
from ticklane.datamanager.history.catalog import AUTO, SOURCE_NAMES, build_source
from ticklane.datamanager.history.jobs import running_elsewhere
from ticklane.storage.history import BackfillJob, CostEntry, JobChunk

app = typer.Typer(
    help="Backfill jobs with cost tracking: estimate, fetch, fill-gaps, status, cost-report.",
    no_args_is_help=True,
)
app.command("fill-gaps")(fill_gaps)

SourceOption = Annotated[
    str,
    typer.Option(
        "--source", help=f"{', '.join(SOURCE_NAMES)} (auto: the cheapest that has the data)."
    ),
]


@app.command()
@handle_errors
def estimate(
    ctx: typer.Context,
    symbols: SymbolsOption,
    start: StartOption,
    end: EndOption,
    exchange: ExchangeOption = "binance",
    source: SourceOption = "auto",
    schema: SchemaOption = "trades",
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Estimate chunks, records, size and cost of a backfill; fetches nothing."""
    request = parse_request(exchange, symbols, start, end, schema)
    settings = state(ctx).settings
    with opened_store(ctx) as store:
        approve = budget_approver(settings, store, False) if source == AUTO else None
        chosen = build_source(source, settings, schema=schema, approve=approve)

        async def flow() -> None:
            try:
                chunks, estimates = await estimate_request(chosen, request)
            finally:
                await chosen.aclose()
            ledger_estimates(store, chosen, request, chunks, estimates, "estimate", "estimate")
            total = sum((e.cost_usd for e in estimates), Decimal(0))
            rows = estimate_rows(chosen.name, chunks, estimates)
            show_estimates(rows, output, f"backfill estimate, total {usd(total)}")

        asyncio.run(flow())


@app.command("fetch")
@handle_errors
def fetch_job(
    ctx: typer.Context,
    symbols: Annotated[
        str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols.")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="Start, ISO 8601.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="End (exclusive), ISO 8601.")] = None,
    exchange: ExchangeOption = "binance",
    source: SourceOption = "auto",
    schema: SchemaOption = "trades",
    job: Annotated[
        int | None, typer.Option("--job", help="Resume this job (see backfill status).")
    ] = None,
    yes_spend: YesSpendOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Run a backfill job (resumable: the same request, or --job ID, continues it)."""
    if job is not None:
        with opened_store(ctx) as store:
            found = store.history.job(job)
        if found is None:
            fail(f"no backfill job {job}; `data-manager backfill status` lists them", 2)
        request = FetchRequest(
            found.exchange,
            found.symbols,
            found.start_ns,
            found.end_ns,
            found.schema,
            found.dataset,
        )
        fetch_command(
            ctx, request, found.source, kind=found.kind, dry_run=False,
            yes_spend=yes_spend, job_id=job, output=output,
        )  # fmt: skip
        return
    if symbols is None or start is None or end is None:
        fail("give --symbols, --start and --end (or --job ID to resume a job)", 2)
    request = parse_request(exchange, symbols, start, end, schema)
    fetch_command(
        ctx, request, source, kind="backfill", dry_run=False,
        yes_spend=yes_spend, job_id=None, output=output,
    )  # fmt: skip


@app.command()
@handle_errors
def status(
    ctx: typer.Context,
    job: Annotated[int | None, typer.Option("--job", help="Show this job's chunks.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Jobs shown.")] = 20,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Show backfill jobs (state, progress, rows, cost, error) and where stored ticks came
    from; with --job, that job's chunks."""
    with opened_store(ctx) as store:
        book = store.history
        if job is not None:
            found = book.job(job)
            if found is None:
                fail(f"no backfill job {job}", 2)
            _show_job(found, book.chunks(job), output)
            return
        jobs = book.jobs(limit)
        provenance = book.provenance_summary()
    if output is OutputFormat.JSON:
        print_json({"jobs": jobs, "provenance": provenance})
        return
    _show_jobs(jobs)
    show_provenance(provenance)


def _show_job(job: BackfillJob, chunks: list[JobChunk], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json({"job": job, "chunks": chunks})
        return
    print_table(
        f"job {job.id}: {job.kind} from {job.source}, {_state(job)}",
        ["seq", "instrument", "from", "to", "state", "rows", "fetches", "detail"],
        [
            (
                c.seq,
                f"{c.exchange}:{c.symbol}",
                short_time(c.start_ns),
                short_time(c.end_ns),
                c.state,
                f"{c.rows_stored:,}",
                c.fetches,
                c.error or c.detail,
            )
            for c in chunks
        ],
    )


def _show_jobs(jobs: list[BackfillJob]) -> None:
    if not jobs:
        out.print("no backfill jobs yet")
        return
    print_table(
        "backfill jobs",
        ["id", "kind", "source", "instruments", "range", "state", "chunks", "rows", "cost"],
        [
            (
                j.id,
                j.kind,
                j.source,
                f"{j.exchange}:{','.join(j.symbols)}",
                f"{short_time(j.start_ns)[:16]} .. {short_time(j.end_ns)[:16]}",
                _state(j),
                f"{j.chunks_done}/{j.chunks_total}",
                f"{j.rows_stored:,}",
                usd(j.cost_usd),
            )
            for j in jobs
        ],
    )


class CostLine(msgspec.Struct):
    period: str
    key: str
    spent_usd: Decimal = Decimal(0)
    requests: int = 0
    refused: int = 0
    estimates: int = 0
    failed: int = 0


@app.command("cost-report")
@handle_errors
def cost_report(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Only requests from this date on.")
    ] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """What paid requests cost, summed by day, by month and by symbol."""
    since_ns = parse_datetime(since) if since else 0
    with opened_store(ctx) as store:
        entries = store.history.costs(since_ns)
    report = {
        "by_day": _grouped(entries, "day"),
        "by_month": _grouped(entries, "month"),
        "by_symbol": _grouped(entries, "symbol"),
    }
    total = sum((line.spent_usd for line in report["by_month"]), Decimal(0))
    if output is OutputFormat.JSON:
        print_json({**report, "total_usd": total})
        return
    if not entries:
        out.print("no paid requests recorded")
        return
    for name, lines in report.items():
        print_table(
            name.replace("_", " "),
            ["period" if name != "by_symbol" else "symbol", "spent", "requests", "refused"],
            [
                (
                    line.key,
                    f"{usd(line.spent_usd)}",
                    line.requests,
                    line.refused,
                )
                for line in lines
            ],
        )
    out.print(f"total spent: {usd(total)}")
    refused = sum(line.refused for line in report["by_month"])
    if refused:
        err.print(f"{refused} request(s) were refused by the budget")


def _grouped(entries: list[CostEntry], by: str) -> list[CostLine]:
    lines: dict[str, CostLine] = defaultdict(lambda: CostLine(by, ""))
    for entry in entries:
        day = short_time(entry.ts_ns)[:10]
        key = {"day": day, "month": day[:7], "symbol": f"{entry.exchange}:{entry.symbol}"}[by]
        line = lines[key]
        line.key = key
        line.spent_usd += entry.actual_usd or Decimal(0)  # a paid download, even if it failed
        if entry.outcome == "fetched":
            line.requests += 1
        elif entry.outcome == "refused":
            line.refused += 1
        elif entry.outcome == "failed":
            line.failed += 1
        else:
            line.estimates += 1
    return [lines[key] for key in sorted(lines)]


def _short(text: str, width: int = 48) -> str:
    """An error cut to fit a table cell (``status --job ID`` shows it whole)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _state(job: BackfillJob) -> str:
    """The job's state as a reader needs it: a job marked running whose process is gone was
    cut short (resume it)."""
    if job.state == "running" and running_elsewhere(job) is None and job.owner:
        return "stopped: its process is gone (resume it)"
    return job.state + (f" ({_short(job.error)})" if job.error else "")
