"""Backfill jobs: a range of one or more symbols from one source, split into chunks, each
stored and marked done before the next; resumable after a crash or Ctrl-C.

The job and its chunks are rows of ``backfill_jobs`` / ``backfill_chunks`` (see
``storage.history``). Running a job fetches every chunk not yet done: a chunk that was
half-stored when the process died is fetched again (inserts are duplicate-safe, so nothing
is stored twice), a finished one never. A paid source's chunk gets a cost-ledger row before
its download starts, settled as fetched (with its cost) or failed.

The tick store is synchronous; its calls run in a worker thread so downloads and parsing
on the event loop carry on while a batch is written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, aclosing
from decimal import Decimal
from typing import Any, Final, Protocol, TypeVar

import msgspec

from ticklane.core.columnar import QuoteColumns, TradeColumns
from ticklane.core.errors import PermanentError, TicklaneError
from ticklane.datamanager.history.source import (
    BarBatch,
    Batch,
    Chunk,
    ChunkReport,
    Estimate,
    HistorySource,
)
from ticklane.storage.base import InsertResult, TickStore, TradeSink
from ticklane.storage.history import (
    BackfillJob,
    CostEntry,
    CostOutcome,
    HistoryBook,
    JobChunk,
    JobKind,
    ProvenanceRange,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

STALE_ELSEWHERE_NS: Final = 3_600 * 1_000_000_000  # a job of another host idle this long is free


class JobProgress(Protocol):
    """What a running job tells its caller (the CLI draws a progress bar from it)."""

    def chunk_started(self, chunk: JobChunk) -> None: ...

    def rows_stored(self, count: int) -> None: ...

    def chunk_finished(self, chunk: JobChunk, report: ChunkReport) -> None: ...


class NoProgress:
    def chunk_started(self, chunk: JobChunk) -> None:
        pass

    def rows_stored(self, count: int) -> None:
        pass

    def chunk_finished(self, chunk: JobChunk, report: ChunkReport) -> None:
        pass


class ChunkOutcome(msgspec.Struct, frozen=True):
    """A finished chunk as the summary shows it."""

    chunk: JobChunk
    records_seen: int
    rejected_examples: tuple[str, ...]


class JobOutcome(msgspec.Struct, frozen=True):
    job: BackfillJob
    chunks: tuple[ChunkOutcome, ...]  # those finished by this run
    skipped: int  # chunks already done before this run

    @property
    def empty_chunks(self) -> list[JobChunk]:
        return [c.chunk for c in self.chunks if c.records_seen == 0]


def plan_chunks(
    source: HistorySource, exchange: str, symbols: Sequence[str], start_ns: int, end_ns: int
) -> list[Chunk]:
    """Every symbol's range split into the source's chunks; refused as a whole, naming each
    symbol the source does not serve, before anything is fetched."""
    problems = [
        f"{symbol}: {why}"
        for symbol in symbols
        if (why := source.unsupported(exchange, symbol)) is not None
    ]
    if problems:
        raise PermanentError(f"{source.name} cannot serve {exchange}: " + "; ".join(problems))
    return [
        chunk for symbol in symbols for chunk in source.chunks(exchange, symbol, start_ns, end_ns)
    ]


def create_job(
    book: HistoryBook,
    kind: JobKind,
    source: HistorySource,
    exchange: str,
    symbols: Sequence[str],
    schema: str,
    start_ns: int,
    end_ns: int,
    *,
    dataset: str = "",
    chunks: Sequence[Chunk] | None = None,
) -> tuple[BackfillJob, bool]:
    """The job for this request: an unfinished one asking the same (resumed, True) or a new
    one (False) with ``chunks`` (default: the source's plan)."""
    wanted = BackfillJob(
        kind=kind,
        source=source.name,
        exchange=exchange,
        symbols=tuple(symbols),
        schema=schema,
        dataset=dataset,
        start_ns=start_ns,
        end_ns=end_ns,
    )
    earlier = book.find_unfinished(wanted)
    if earlier is not None:
        return earlier, True
    if chunks is None:
        chunks = plan_chunks(source, exchange, symbols, start_ns, end_ns)
    job_id = book.create_job(wanted, [(c.exchange, c.symbol, c.start_ns, c.end_ns) for c in chunks])
    job = book.job(job_id)
    assert job is not None
    return job, False


def unfinished_chunks(book: HistoryBook, job: BackfillJob) -> list[Chunk]:
    """The chunks of ``job`` still to fetch (what a resume would download and pay for)."""
    assert job.id is not None
    return [
        Chunk(c.exchange, c.symbol, c.start_ns, c.end_ns)
        for c in book.chunks(job.id)
        if c.state != "done"
    ]


class JobRunner:
    """Runs one job's unfinished chunks from its source into the store."""

    def __init__(
        self,
        store: TickStore,
        source: HistorySource,
        *,
        progress: JobProgress | None = None,
        schema: str = "trades",
        dataset: str = "",
    ) -> None:
        self._store = store
        self._book = store.history
        self._source = source
        self._progress = progress or NoProgress()
        self._schema = schema
        self._dataset = dataset

    async def run(self, job: BackfillJob) -> JobOutcome:
        """Fetch and store every chunk not done. On an error the chunk and the job record it
        and it is raised; on cancellation (Ctrl-C) the job is marked interrupted. Either way
        what was stored stays stored; a chunk the store loads in bulk (``_BulkTrades``) is
        stored when it ends, so one cut short stores nothing of a day it was staging."""
        assert job.id is not None
        job_id = job.id
        chunks = await asyncio.to_thread(self._book.chunks, job_id)
        skipped = sum(1 for c in chunks if c.state == "done")
        finished: list[ChunkOutcome] = []
        await asyncio.to_thread(self._claim, job_id)
        try:
            for chunk in chunks:
                if chunk.state == "done":
                    continue
                finished.append(await self._run_chunk(chunk))
        except (asyncio.CancelledError, KeyboardInterrupt):
            # Synchronous on purpose: the loop is being cancelled, and this must be written.
            self._book.set_job_state(job_id, "interrupted", "interrupted by the user")
            raise
        except Exception as error:
            message = _describe(error)
            await asyncio.to_thread(self._book.set_job_state, job_id, "failed", message)
            raise
        await asyncio.to_thread(self._book.set_job_state, job_id, "done")
        final = await asyncio.to_thread(self._book.job, job_id)
        assert final is not None
        return JobOutcome(final, tuple(finished), skipped)

    def _claim(self, job_id: int) -> None:
        """Take the job for this process, unless a live one runs it (two processes fetching
        the same chunks would store and pay twice)."""
        current = self._book.job(job_id)
        assert current is not None
        busy = running_elsewhere(current)
        if busy is not None:
            raise PermanentError(f"backfill job {job_id} is {busy}; wait for it or stop it")
        if not self._book.claim_job(job_id, process_owner(), current.owner):
            raise PermanentError(f"backfill job {job_id} was just started by another process")

    async def _run_chunk(self, chunk: JobChunk) -> ChunkOutcome:
        spec = Chunk(chunk.exchange, chunk.symbol, chunk.start_ns, chunk.end_ns)
        self._progress.chunk_started(chunk)
        report = ChunkReport()
        total = InsertResult(0, 0, 0)
        ticks = False  # whether the chunk gave ticks (provenance), not bars
        ledger_id: int | None = None
        # A source that reads a downloaded file stores its trades through the store's bulk
        # path: on PostgreSQL a day without a partition yet is loaded unindexed and attached
        # whole when the chunk ends (2.5x faster), and a chunk that fails keeps none of it.
        bulk = _BulkTrades(self._store) if self._source.whole_files else None
        try:
            await asyncio.to_thread(self._book.chunk_started, chunk.job_id, chunk.seq)
            ledger_id = await self._open_ledger(chunk, spec)
            async with aclosing(self._source.fetch(spec, report)) as batches:
                async for batch in batches:
                    ticks = ticks or not isinstance(batch, BarBatch)
                    if bulk is not None and isinstance(batch, TradeColumns):
                        await bulk.add(batch)
                        self._progress.rows_stored(len(batch.data))
                        continue
                    result = await asyncio.to_thread(self._insert, batch, report)
                    total = total + result
                    self._progress.rows_stored(result.inserted + result.duplicates)
            if bulk is not None:
                total = total + await bulk.finish()
        except BaseException as error:
            if bulk is not None:
                await bulk.abandon(error)
            await asyncio.to_thread(self._fail_chunk, chunk, report, ledger_id, error)
            raise
        finally:
            if bulk is not None:
                bulk.close()
        done = msgspec.structs.replace(
            chunk,
            state="done",
            rows_stored=total.inserted,
            rows_duplicate=total.duplicates,
            rows_rejected=len(total.rejected) + report.rejected_count,
            cost_usd=report.cost_usd,
            detail=report.detail,
        )
        provenance = self._provenance(done, report) if ticks else None
        await asyncio.to_thread(self._book.chunk_done, done, provenance)
        await asyncio.to_thread(self._settle, chunk, report, ledger_id, "fetched", report.detail)
        self._progress.chunk_finished(done, report)
        examples = tuple(
            f"row {e.position}: {e.message}" for e in (*report.rejected, *total.rejected)
        )[:5]
        return ChunkOutcome(done, report.records_seen, examples)

    def _provenance(self, done: JobChunk, report: ChunkReport) -> ProvenanceRange | None:
        """Where the chunk's rows came from; its rows are all it holds now, stored by this
        run or by an earlier one that was cut short."""
        rows = done.rows_stored + done.rows_duplicate
        if not rows:
            return None
        return ProvenanceRange(
            exchange=done.exchange,
            symbol=done.symbol,
            start_ns=done.start_ns,
            end_ns=done.end_ns,
            kind=(report.served_kind or self._source.kind).value,
            source=report.served_by or self._source.name,
            detail=report.detail,
            rows=rows,
            job_id=done.job_id,
        )

    def _fail_chunk(
        self, chunk: JobChunk, report: ChunkReport, ledger_id: int | None, error: BaseException
    ) -> None:
        message = _describe(error)
        self._book.chunk_failed(chunk.job_id, chunk.seq, message)
        self._settle(chunk, report, ledger_id, "failed", message)

    def _settle(
        self,
        chunk: JobChunk,
        report: ChunkReport,
        ledger_id: int | None,
        outcome: CostOutcome,
        detail: str,
    ) -> None:
        """Close the chunk's cost-ledger row. A paid download counts as spent even when what
        followed failed. A paid member of a source chain (which opened no row, as the chain is
        free until a chunk reaches it) gets its row here."""
        spent = report.cost_usd if report.paid or outcome == "fetched" else None
        if ledger_id is not None:
            self._book.settle_cost(ledger_id, outcome, spent, detail)
        elif report.cost_usd > 0:
            source = report.served_by or self._source.name
            self._book.record_cost(
                ledger_entry(
                    source,
                    chunk,
                    outcome,
                    Estimate(None, None, report.cost_usd),
                    dataset=self._dataset,
                    schema=self._schema,
                    actual_usd=spent,
                    detail=detail,
                    job_id=chunk.job_id,
                )
            )

    async def _open_ledger(self, chunk: JobChunk, spec: Chunk) -> int | None:
        if not self._source.paid:
            return None
        estimate = await self._source.estimate(spec)
        entry = ledger_entry(
            self._source.name,
            chunk,
            "estimate",
            estimate,
            dataset=self._dataset,
            schema=self._schema,
            job_id=chunk.job_id,
        )
        return await asyncio.to_thread(self._book.record_cost, entry)

    def _insert(self, batch: Batch, report: ChunkReport) -> InsertResult:
        if isinstance(batch, TradeColumns):
            return self._store.insert_trades(batch)
        if isinstance(batch, QuoteColumns):
            return self._store.insert_quotes(batch)
        # Bars record who published them themselves: they have no tick provenance.
        return self._store.bars.insert(batch.bars, report.served_by or self._source.name)


class _BulkTrades:
    """The store's bulk trade sink for one chunk, opened at the chunk's first trades.

    Every call on it (open, each batch, the end) runs on one worker thread of its own, in
    order: the end (index build, attach: seconds, which the event loop must not wait out) or
    the discard after a cancellation comes after the batch in flight, never beside it on the
    same connection.
    """

    def __init__(self, store: TickStore) -> None:
        self._store = store
        self._manager: AbstractContextManager[TradeSink] | None = None
        self._sink: TradeSink | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-trades")

    def _run(self, call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._worker, call, *args)

    async def add(self, batch: TradeColumns) -> None:
        if self._sink is None:
            self._manager = self._store.bulk_trades()
            self._sink = await self._run(self._manager.__enter__)
        await self._run(self._sink.add, batch)

    async def finish(self) -> InsertResult:
        """Store what was held back; what every batch added came to."""
        manager, self._manager = self._manager, None  # ended once, whatever happens
        if manager is None or self._sink is None:
            return InsertResult(0, 0, 0)
        await self._run(manager.__exit__, None, None, None)
        return self._sink.result

    async def abandon(self, error: BaseException) -> None:
        """Drop what was held back (the chunk failed or was interrupted)."""
        manager, self._manager = self._manager, None
        if manager is not None:
            # Shielded: a second Ctrl-C must not leave staging tables behind.
            ending = self._run(manager.__exit__, type(error), error, error.__traceback__)
            await asyncio.shield(ending)

    def close(self) -> None:
        self._worker.shutdown(wait=False)


def ledger_entry(
    source: str,
    chunk: Chunk | JobChunk,
    outcome: CostOutcome,
    estimate: Estimate,
    *,
    dataset: str = "",
    schema: str = "",
    actual_usd: Decimal | None = None,
    detail: str = "",
    job_id: int | None = None,
) -> CostEntry:
    """The cost-ledger row of one paid request: ``source`` asked for ``chunk``."""
    return CostEntry(
        source=source,
        exchange=chunk.exchange,
        symbol=chunk.symbol,
        start_ns=chunk.start_ns,
        end_ns=chunk.end_ns,
        estimated_usd=estimate.cost_usd,
        outcome=outcome,
        dataset=dataset,
        schema=schema,
        records=estimate.records,
        bytes=estimate.bytes,
        actual_usd=actual_usd,
        detail=detail,
        job_id=job_id,
    )


def process_owner() -> str:
    """``host:pid`` of this process, recorded on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def running_elsewhere(job: BackfillJob) -> str | None:
    """Why another process must be running ``job`` (None when none is): it is marked running
    by a process of this host that is still alive, or by another host within the last hour
    (whose processes this one cannot see)."""
    if job.state != "running" or not job.owner or job.owner == process_owner():
        return None
    host, _, pid = job.owner.rpartition(":")
    if host == socket.gethostname():
        return f"being run by process {pid}" if pid.isdigit() and _alive(int(pid)) else None
    if time.time_ns() - job.updated_ns < STALE_ELSEWHERE_NS:
        return f"being run on {host} (process {pid}), updated less than an hour ago"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _describe(error: BaseException) -> str:
    if isinstance(error, TicklaneError):
        return str(error)
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return "interrupted by the user"
    return f"{type(error).__name__}: {error}"
