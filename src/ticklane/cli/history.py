"""``data-manager fetch`` and ``data-manager backfill estimate | fetch``: history into the store.

Both create (or resume) a backfill job and run it with a progress bar. ``fetch`` follows the
reference's form (``--provider databento`` by default); ``backfill fetch`` picks the
cheapest source that serves each symbol unless ``--source`` names one. A paid request is
estimated first and checked against the budgets (refused with the figures unless
``--yes-spend``); ``--dry-run`` prints the estimate and fetches nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
from ticklane.config import Settings
from ticklane.core.errors import BadDataError, PermanentError
from ticklane.core.time import MIN_TS_NS, format_ns, parse_datetime
from ticklane.datamanager.history.budget import BudgetDecision, check_budget, month_start_ns, usd
from ticklane.datamanager.history.catalog import AUTO, DATABENTO, SOURCE_NAMES, build_source
from ticklane.datamanager.history.chain import Approve
from ticklane.datamanager.history.jobs import (
    JobOutcome,
    JobRunner,
    create_job,
    ledger_entry,
    plan_chunks,
    unfinished_chunks,
)
from ticklane.datamanager.history.source import Chunk, ChunkReport, Estimate, HistorySource
from ticklane.storage.base import TickStore
from ticklane.storage.history import BackfillJob, CostOutcome, JobChunk, JobKind

T = TypeVar("T")

SymbolsOption = Annotated[
    str, typer.Option("--symbols", "-s", help="Comma-separated, e.g. BTCUSDT,ETHUSDT.")
]
ExchangeOption = Annotated[
    str, typer.Option("--exchange", "-e", help="Exchange the symbols trade on.")
]
StartOption = Annotated[
    str, typer.Option("--start", help="Start, ISO 8601 (UTC unless an offset is given).")
]
EndOption = Annotated[str, typer.Option("--end", help="End (exclusive), ISO 8601.")]
SchemaOption = Annotated[
    str,
    typer.Option(
        "--schema",
        help="Databento schema: trades, mbp-1, tbbo, bbo-1s, bbo-1m, mbp-10, mbo (ticks); "
        "ohlcv-1s, ohlcv-1m, ohlcv-1h, ohlcv-1d (bars).",
    ),
]
YesSpendOption = Annotated[
    bool, typer.Option("--yes-spend", help="Spend even above the configured budgets.")
]


class EstimateRow(msgspec.Struct, frozen=True):
    source: str
    exchange: str
    symbol: str
    chunks: int
    records: int | None
    bytes: int | None
    cost_usd: Decimal


class FetchRequest(msgspec.Struct, frozen=True):
    exchange: str
    symbols: tuple[str, ...]
    start_ns: int
    end_ns: int
    schema: str = "trades"
    dataset: str = ""


def parse_request(
    exchange: str, symbols: str, start: str, end: str, schema: str = "trades"
) -> FetchRequest:
    """The request with its range checked: end after start, neither in the future."""
    names = tuple(dict.fromkeys(name.strip() for name in symbols.split(",") if name.strip()))
    if not names:
        raise BadDataError("--symbols: give at least one symbol, e.g. --symbols BTCUSDT")
    start_ns, end_ns = parse_datetime(start), parse_datetime(end)
    now = time.time_ns()
    if start_ns < MIN_TS_NS:
        raise BadDataError(f"--start {start} is before 1980", value=start)
    if end_ns <= start_ns:
        raise BadDataError(f"--end {format_ns(end_ns)} is not after --start {format_ns(start_ns)}")
    if start_ns >= now:
        raise BadDataError(f"--start {format_ns(start_ns)} is in the future", value=start)
    if end_ns > now:
        raise BadDataError(
            f"--end {format_ns(end_ns)} is in the future (now is {format_ns(now)}); "
            "history ends now",
            value=end,
        )
    return FetchRequest(
        exchange.strip().lower(), _normalized(exchange, names), start_ns, end_ns, schema
    )


def _normalized(exchange: str, names: Sequence[str]) -> tuple[str, ...]:
    from ticklane.venues.discovery import PROVIDERS, normalize_symbol

    provider = exchange.strip().lower()
    if provider in PROVIDERS:
        return tuple(normalize_symbol(provider, name) for name in names)
    return tuple(names)


# -- estimates and the budget ------------------------------------------------------------------


async def estimate_request(
    source: HistorySource, request: FetchRequest
) -> tuple[list[Chunk], list[Estimate]]:
    chunks = plan_chunks(
        source, request.exchange, request.symbols, request.start_ns, request.end_ns
    )
    estimates = [await source.estimate(chunk) for chunk in chunks]
    return chunks, estimates


def estimate_rows(
    source: str, chunks: Sequence[Chunk], estimates: Sequence[Estimate]
) -> list[EstimateRow]:
    rows: dict[tuple[str, str], EstimateRow] = {}
    for chunk, estimate in zip(chunks, estimates, strict=True):
        key = (chunk.exchange, chunk.symbol)
        before = rows.get(
            key, EstimateRow(source, chunk.exchange, chunk.symbol, 0, 0, 0, Decimal(0))
        )
        rows[key] = EstimateRow(
            source,
            chunk.exchange,
            chunk.symbol,
            before.chunks + 1,
            _add(before.records, estimate.records),
            _add(before.bytes, estimate.bytes),
            before.cost_usd + estimate.cost_usd,
        )
    return list(rows.values())


def _add(total: int | None, part: int | None) -> int | None:
    return None if total is None or part is None else total + part


def ledger_estimates(
    store: TickStore,
    source: HistorySource,
    request: FetchRequest,
    chunks: Sequence[Chunk],
    estimates: Sequence[Estimate],
    outcome: CostOutcome,
    detail: str = "",
) -> None:
    """Every paid estimate goes into the cost ledger, with what became of it."""
    if not source.paid:
        return
    for chunk, estimate in zip(chunks, estimates, strict=True):
        entry = ledger_entry(
            source.name, chunk, outcome, estimate, schema=request.schema, detail=detail
        )
        store.history.record_cost(entry)


def budget_for(
    settings: Settings, store: TickStore, estimate: Decimal, yes_spend: bool
) -> BudgetDecision:
    config = settings.databento
    return check_budget(
        estimate,
        per_request_usd=config.max_cost_per_request_usd,
        monthly_usd=config.monthly_budget_usd,
        spent_this_month_usd=store.history.spent(month_start_ns(time.time_ns())),
        yes_spend=yes_spend,
    )


def show_estimates(rows: Sequence[EstimateRow], output: OutputFormat, title: str) -> None:
    if output is OutputFormat.JSON:
        print_json({"estimates": rows})
        return
    print_table(
        title,
        ["source", "instrument", "chunks", "records", "size", "cost"],
        [
            (
                r.source,
                f"{r.exchange}:{r.symbol}",
                r.chunks,
                "unknown" if r.records is None else f"{r.records:,}",
                "unknown" if r.bytes is None else human_bytes(r.bytes),
                f"{usd(r.cost_usd)}",
            )
            for r in rows
        ],
    )


def budget_approver(settings: Settings, store: TickStore, yes_spend: bool) -> Approve:
    """The budget check a paid source in the chain must pass, chunk by chunk."""

    async def approve(source: HistorySource, chunk: Chunk, estimate: Estimate) -> None:
        decision = budget_for(settings, store, estimate.cost_usd, yes_spend)
        if decision.allowed:
            return
        entry = ledger_entry(source.name, chunk, "refused", estimate, detail=decision.reason)
        store.history.record_cost(entry)
        raise PermanentError(
            f"{source.name} would cost {usd(estimate.cost_usd)}: refused by the budget "
            f"({decision.reason}); re-run with --yes-spend"
        )

    return approve


# -- running a job -----------------------------------------------------------------------------


class BarProgress:
    """A rich progress bar over a job's chunks, with rows stored so far."""

    def __init__(self, progress: Progress, total: int, done: int) -> None:
        self._progress = progress
        self._rows = 0
        self._task = progress.add_task("starting", total=total, completed=done)

    def chunk_started(self, chunk: JobChunk) -> None:
        self._progress.update(
            self._task, description=f"{chunk.symbol} {short_time(chunk.start_ns)[:10]}"
        )

    def rows_stored(self, count: int) -> None:
        self._rows += count

    def chunk_finished(self, chunk: JobChunk, report: ChunkReport) -> None:
        self._progress.update(self._task, advance=1, description=f"{self._rows:,} rows stored")


def earlier_job(
    store: TickStore,
    source: HistorySource,
    request: FetchRequest,
    kind: JobKind,
    job_id: int | None,
) -> BackfillJob | None:
    """The job this request continues: ``job_id``'s, or an unfinished one asking the same."""
    book = store.history
    if job_id is not None:
        job = book.job(job_id)
        if job is None:
            fail(f"no backfill job {job_id}; `data-manager backfill status` lists them", 2)
        if job.state == "done":
            fail(f"backfill job {job_id} is already done", 2)
        return job
    wanted = BackfillJob(
        kind=kind,
        source=source.name,
        exchange=request.exchange,
        symbols=request.symbols,
        schema=request.schema,
        dataset=request.dataset,
        start_ns=request.start_ns,
        end_ns=request.end_ns,
    )
    return book.find_unfinished(wanted)


async def run_with_progress(
    store: TickStore, source: HistorySource, job: BackfillJob
) -> JobOutcome:
    """Run the job with a progress bar on a terminal."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        bar = BarProgress(progress, job.chunks_total, job.chunks_done)
        return await JobRunner(
            store, source, progress=bar, schema=job.schema, dataset=job.dataset
        ).run(job)


def report_outcome(outcome: JobOutcome, output: OutputFormat) -> None:
    job = outcome.job
    if output is OutputFormat.JSON:
        print_json({"job": job, "empty_chunks": outcome.empty_chunks})
        return
    rows = "bars" if job.schema.startswith("ohlcv") else "rows"
    out.print(
        f"job {job.id} {job.state}: {job.chunks_done}/{job.chunks_total} chunks, "
        f"{job.rows_stored:,} {rows} stored, {job.rows_duplicate:,} already stored, "
        f"{job.rows_rejected:,} rejected, cost {usd(job.cost_usd)}"
    )
    for chunk in outcome.empty_chunks:
        err.print(
            f"[yellow]no data:[/] {chunk.exchange} {chunk.symbol} "
            f"{short_time(chunk.start_ns)} .. {short_time(chunk.end_ns)}: "
            f"{chunk.detail or 'the source returned nothing'}"
        )
    for finished in outcome.chunks:
        for example in finished.rejected_examples:
            err.print(
                f"  rejected in {finished.chunk.symbol} chunk {finished.chunk.seq}: {example}"
            )


# -- the commands ------------------------------------------------------------------------------


def fetch_command(
    ctx: typer.Context,
    request: FetchRequest,
    source_name: str,
    *,
    kind: JobKind,
    dry_run: bool,
    yes_spend: bool,
    job_id: int | None,
    output: OutputFormat,
) -> None:
    """Estimate (paid sources, dry runs), check the budget, then create or resume the job and
    run it; all in one event loop, which the sources' HTTP clients belong to."""
    settings = state(ctx).settings
    with opened_store(ctx) as store:
        # Auto reaches Databento last, each chunk within the budget.
        approve = budget_approver(settings, store, yes_spend) if source_name == AUTO else None
        source = build_source(
            source_name,
            settings,
            schema=request.schema,
            dataset=request.dataset or None,
            approve=approve,
        )
        running = RunningJob(job_id)
        flow = _fetch_flow(
            settings, store, source, request, kind, dry_run, yes_spend, running, output
        )
        outcome = _run_sync(running, flow)
    if outcome is None:
        return
    report_outcome(outcome, output)
    job = outcome.job
    if job.rows_stored + job.rows_duplicate == 0:
        fail(
            f"no data found for {', '.join(job.symbols)} on {job.exchange} between "
            f"{short_time(job.start_ns)} and {short_time(job.end_ns)} from {job.source}"
        )


class RunningJob:
    """The job a command runs, once known (for the Ctrl-C message)."""

    def __init__(self, job_id: int | None) -> None:
        self.job_id = job_id


def _run_sync(running: RunningJob, flow: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(flow)
    except KeyboardInterrupt:
        shown = running.job_id
        err.print(
            "[yellow]interrupted:[/] what was stored stays stored."
            + (f" Resume with: data-manager backfill fetch --job {shown}" if shown else "")
        )
        raise typer.Exit(130) from None


async def _fetch_flow(
    settings: Settings,
    store: TickStore,
    source: HistorySource,
    request: FetchRequest,
    kind: JobKind,
    dry_run: bool,
    yes_spend: bool,
    running: RunningJob,
    output: OutputFormat,
) -> JobOutcome | None:
    """Find the job this continues; estimate what is left to fetch (a paid source, a dry run)
    and check it against the budget; then create the job if it is new and run it."""
    try:
        earlier = earlier_job(store, source, request, kind, running.job_id)
        chunks = (
            plan_chunks(source, request.exchange, request.symbols, request.start_ns, request.end_ns)
            if earlier is None
            else unfinished_chunks(store.history, earlier)
        )
        if source.paid or dry_run:
            estimates = [await source.estimate(chunk) for chunk in chunks]
            _check_spending(
                settings, store, source, request, chunks, estimates, dry_run, yes_spend, output
            )
            if dry_run:
                return None
        if earlier is None:
            job, _ = create_job(
                store.history, kind, source, request.exchange, request.symbols, request.schema,
                request.start_ns, request.end_ns, dataset=request.dataset, chunks=chunks,
            )  # fmt: skip
            err.print(f"job {job.id}: {job.chunks_total} chunks from {source.name}")
        else:
            job = earlier
            err.print(f"resuming job {job.id}: {job.chunks_done}/{job.chunks_total} chunks done")
        running.job_id = job.id
        return await run_with_progress(store, source, job)
    finally:
        await source.aclose()


def _check_spending(
    settings: Settings,
    store: TickStore,
    source: HistorySource,
    request: FetchRequest,
    chunks: Sequence[Chunk],
    estimates: Sequence[Estimate],
    dry_run: bool,
    yes_spend: bool,
    output: OutputFormat,
) -> None:
    """Show a dry run's estimate; refuse (exit 4) what the budget does not allow."""
    rows = estimate_rows(source.name, chunks, estimates)
    total = sum((e.cost_usd for e in estimates), Decimal(0))
    if dry_run:
        ledger_estimates(store, source, request, chunks, estimates, "estimate", "dry run")
        show_estimates(rows, output, f"would fetch (dry run: nothing fetched), total {usd(total)}")
        return
    decision = budget_for(settings, store, total, yes_spend)
    if not decision.allowed:
        ledger_estimates(store, source, request, chunks, estimates, "refused", decision.reason)
        show_estimates(rows, output, "refused by the budget")
        fail(
            f"refused by the budget: {decision.reason}. {decision.describe()}. "
            "Re-run with --yes-spend to spend it anyway.",
            4,
        )
    err.print(f"budget: {decision.describe()}")


ProviderOption = Annotated[
    str,
    typer.Option(
        "--provider",
        "-p",
        help=f"Where from: {', '.join(SOURCE_NAMES)}, or auto (cheapest first).",
    ),
]


@handle_errors
def fetch(
    ctx: typer.Context,
    symbols: SymbolsOption,
    start: StartOption,
    end: EndOption,
    exchange: ExchangeOption = "binance",
    provider: ProviderOption = "databento",
    schema: SchemaOption = "trades",
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Databento dataset; default: the symbol's in databento.symbols.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print records, size and cost; fetch nothing.")
    ] = False,
    yes_spend: YesSpendOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Fetch historical ticks into the store (Databento by default; free sources too)."""
    request = parse_request(exchange, symbols, start, end, schema)
    request = msgspec.structs.replace(request, dataset=(dataset or "").strip())
    try:
        fetch_command(
            ctx,
            request,
            provider,
            kind="fetch",
            dry_run=dry_run,
            yes_spend=yes_spend,
            job_id=None,
            output=output,
        )
    except PermanentError as error:
        if provider != DATABENTO or not _free_instead(state(ctx).settings, request):
            raise
        raise PermanentError(
            f"{error}. Databento carries no spot crypto; the free sources have "
            f"{request.exchange}: use --provider auto (or binance-archive, binance-rest, ...)"
        ) from error


def _free_instead(settings: Settings, request: FetchRequest) -> bool:
    """True when Databento does not carry the instrument and a free source does."""
    symbol = request.symbols[0]
    databento = build_source(DATABENTO, settings, schema=request.schema)
    free = build_source(AUTO, settings)
    try:
        return (
            databento.unsupported(request.exchange, symbol) is not None
            and free.unsupported(request.exchange, symbol) is None
        )
    finally:
        asyncio.run(free.aclose())
        asyncio.run(databento.aclose())
