"""The history tables: backfill jobs and their chunks, the cost ledger, and provenance.

One implementation serves both backends: the tables have the same columns in SQLite and
PostgreSQL (times are UTC ns integers, money is exact decimal: TEXT in SQLite, numeric in
PostgreSQL), so the statements differ only in their placeholder, which ``SqlRunner``
implementations translate. Every write runs in its own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final, Literal, Protocol, TypeVar

import msgspec

from ticklane.storage.rows import decimal_text

JobKind = Literal["fetch", "backfill", "fill-gaps"]
JobState = Literal["pending", "running", "done", "failed", "interrupted"]
ChunkState = Literal["pending", "done", "failed"]
CostOutcome = Literal["estimate", "refused", "fetched", "failed"]
ProvenanceKindName = Literal["live", "archive", "rest", "databento", "import"]

T = TypeVar("T")
Execute = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

UNFINISHED: Final[tuple[JobState, ...]] = ("pending", "running", "failed", "interrupted")


class SqlRunner(Protocol):
    """How the history tables reach a backend. Statements use ``?`` placeholders."""

    def write(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement in its own transaction; the rows of its RETURNING clause."""
        ...

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row, all in one transaction."""
        ...

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    def atomic(self, work: Callable[[Execute], T]) -> T:
        """Run ``work`` in one transaction; it gets a function executing a statement and
        returning its rows. All of it is stored, or none of it."""
        ...


class BackfillJob(msgspec.Struct, frozen=True, kw_only=True):
    """A fetch or backfill: what it asks for and how far it got."""

    kind: JobKind
    source: str
    exchange: str
    symbols: tuple[str, ...]
    schema: str
    start_ns: int
    end_ns: int
    dataset: str = ""
    state: JobState = "pending"
    chunks_total: int = 0
    chunks_done: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None
    created_ns: int = 0
    updated_ns: int = 0
    id: int | None = None
    owner: str = ""  # "host:pid" of the process that last ran it


class JobChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One chunk of a job; ``fetches`` counts the downloads started (1 when all went well)."""

    job_id: int
    seq: int
    exchange: str
    symbol: str
    start_ns: int
    end_ns: int
    state: ChunkState = "pending"
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    cost_usd: Decimal = Decimal(0)
    detail: str = ""
    error: str | None = None
    fetches: int = 0
    finished_ns: int | None = None


class CostEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One paid request: its estimate and, once known, what it cost and how it ended."""

    source: str
    exchange: str
    symbol: str
    start_ns: int
    end_ns: int
    estimated_usd: Decimal
    outcome: CostOutcome
    dataset: str = ""
    schema: str = ""
    records: int | None = None
    bytes: int | None = None
    actual_usd: Decimal | None = None
    detail: str = ""
    job_id: int | None = None
    ts_ns: int = 0
    id: int | None = None


class ProvenanceRange(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of stored ticks of one instrument and where they came from."""

    exchange: str
    symbol: str
    start_ns: int
    end_ns: int
    kind: ProvenanceKindName
    source: str
    detail: str = ""
    rows: int = 0
    job_id: int | None = None
    created_ns: int = 0
    id: int | None = None


class ProvenanceSummary(msgspec.Struct, frozen=True):
    """Provenance of one instrument by kind: how many ranges, rows, and the span covered."""

    exchange: str
    symbol: str
    kind: str
    ranges: int
    rows: int
    first_ns: int
    last_ns: int


_JOB_COLUMNS: Final = (
    "kind, source, exchange, symbols, schema, start_ns, end_ns, state, chunks_total, "
    "chunks_done, rows_stored, rows_duplicate, rows_rejected, cost_usd, error, created_ns, "
    "updated_ns, id, dataset, owner"
)
_CHUNK_COLUMNS: Final = (
    "job_id, seq, exchange, symbol, start_ns, end_ns, state, rows_stored, rows_duplicate, "
    "rows_rejected, cost_usd, detail, error, fetches, finished_ns"
)
_COST_COLUMNS: Final = (
    "source, exchange, symbol, start_ns, end_ns, estimated_usd, outcome, dataset, schema, "
    "records, bytes, actual_usd, detail, job_id, ts_ns, id"
)
_PROVENANCE_COLUMNS: Final = (
    "exchange, symbol, start_ns, end_ns, kind, source, detail, rows, job_id, created_ns, id"
)


def now_ns() -> int:
    return time.time_ns()


class HistoryBook:
    """Jobs, chunks, the cost ledger and provenance on one tick store's database."""

    def __init__(self, runner: SqlRunner) -> None:
        self._db = runner

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, job: BackfillJob, chunks: Sequence[tuple[str, str, int, int]]) -> int:
        """Store a job with its chunks ``(exchange, symbol, start_ns, end_ns)`` in one
        transaction (a job is never left without its chunks); its id."""
        stamp = now_ns()

        def insert(execute: Execute) -> int:
            rows = execute(
                "INSERT INTO backfill_jobs (kind, source, exchange, symbols, schema, dataset, "
                "start_ns, end_ns, state, chunks_total, created_ns, updated_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id",
                (
                    job.kind,
                    job.source,
                    job.exchange,
                    ",".join(job.symbols),
                    job.schema,
                    job.dataset,
                    job.start_ns,
                    job.end_ns,
                    len(chunks),
                    stamp,
                    stamp,
                ),
            )
            job_id = int(rows[0][0])
            for seq, chunk in enumerate(chunks):
                execute(
                    "INSERT INTO backfill_chunks (job_id, seq, exchange, symbol, start_ns, "
                    "end_ns, state) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
                    (job_id, seq, *chunk),
                )
            return job_id

        return self._db.atomic(insert)

    def job(self, job_id: int) -> BackfillJob | None:
        rows = self._db.read(f"SELECT {_JOB_COLUMNS} FROM backfill_jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, limit: int = 50) -> list[BackfillJob]:
        """The most recent jobs first."""
        rows = self._db.read(
            f"SELECT {_JOB_COLUMNS} FROM backfill_jobs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_job(row) for row in rows]

    def find_unfinished(self, job: BackfillJob) -> BackfillJob | None:
        """An earlier job asking for exactly the same thing that did not finish (to resume)."""
        rows = self._db.read(
            f"SELECT {_JOB_COLUMNS} FROM backfill_jobs WHERE kind = ? AND source = ? "
            "AND exchange = ? AND symbols = ? AND schema = ? AND dataset = ? AND start_ns = ? "
            "AND end_ns = ? AND state <> 'done' ORDER BY id DESC LIMIT 1",
            (
                job.kind,
                job.source,
                job.exchange,
                ",".join(job.symbols),
                job.schema,
                job.dataset,
                job.start_ns,
                job.end_ns,
            ),
        )
        return _job(rows[0]) if rows else None

    def claim_job(self, job_id: int, owner: str, seen_owner: str) -> bool:
        """Mark the job running by ``owner`` if its owner is still ``seen_owner`` (what the
        caller checked); False when another process claimed it in between."""
        rows = self._db.write(
            "UPDATE backfill_jobs SET state = 'running', owner = ?, error = NULL, updated_ns = ? "
            "WHERE id = ? AND owner = ? RETURNING id",
            (owner, now_ns(), job_id, seen_owner),
        )
        return bool(rows)

    def set_job_state(self, job_id: int, state: JobState, error: str | None = None) -> None:
        self._db.write(
            "UPDATE backfill_jobs SET state = ?, error = ?, updated_ns = ? WHERE id = ? "
            "RETURNING id",
            (state, error, now_ns(), job_id),
        )

    def chunks(self, job_id: int) -> list[JobChunk]:
        rows = self._db.read(
            f"SELECT {_CHUNK_COLUMNS} FROM backfill_chunks WHERE job_id = ? ORDER BY seq",
            (job_id,),
        )
        return [_chunk(row) for row in rows]

    def chunk_started(self, job_id: int, seq: int) -> None:
        self._db.write(
            "UPDATE backfill_chunks SET fetches = fetches + 1 WHERE job_id = ? AND seq = ? "
            "RETURNING seq",
            (job_id, seq),
        )

    def chunk_done(self, chunk: JobChunk, provenance: ProvenanceRange | None) -> None:
        """Mark a chunk done, add its figures to the job and record its provenance, in one
        transaction."""
        stamp = now_ns()

        def finish(execute: Execute) -> None:
            execute(
                "UPDATE backfill_chunks SET state = 'done', rows_stored = ?, "
                "rows_duplicate = ?, rows_rejected = ?, cost_usd = ?, detail = ?, error = NULL, "
                "finished_ns = ? WHERE job_id = ? AND seq = ? RETURNING seq",
                (
                    chunk.rows_stored,
                    chunk.rows_duplicate,
                    chunk.rows_rejected,
                    decimal_text(chunk.cost_usd),
                    chunk.detail,
                    stamp,
                    chunk.job_id,
                    chunk.seq,
                ),
            )
            _refresh_job(execute, chunk.job_id)
            if provenance is not None:
                _insert_provenance(execute, provenance)

        self._db.atomic(finish)

    def chunk_failed(self, job_id: int, seq: int, error: str) -> None:
        self._db.write(
            "UPDATE backfill_chunks SET state = 'failed', error = ? WHERE job_id = ? AND seq = ? "
            "RETURNING seq",
            (error, job_id, seq),
        )

    # -- cost ledger -----------------------------------------------------------------------

    def record_cost(self, entry: CostEntry) -> int:
        rows = self._db.write(
            "INSERT INTO cost_ledger (ts_ns, job_id, source, dataset, schema, exchange, symbol, "
            "start_ns, end_ns, records, bytes, estimated_usd, actual_usd, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                entry.ts_ns or now_ns(),
                entry.job_id,
                entry.source,
                entry.dataset,
                entry.schema,
                entry.exchange,
                entry.symbol,
                entry.start_ns,
                entry.end_ns,
                entry.records,
                entry.bytes,
                decimal_text(entry.estimated_usd),
                decimal_text(entry.actual_usd),
                entry.outcome,
                entry.detail,
            ),
        )
        return int(rows[0][0])

    def settle_cost(
        self, entry_id: int, outcome: CostOutcome, actual_usd: Decimal | None, detail: str = ""
    ) -> None:
        """Record how a paid request ended (fetched, with its cost; or failed)."""
        self._db.write(
            "UPDATE cost_ledger SET outcome = ?, actual_usd = ?, detail = ? WHERE id = ? "
            "RETURNING id",
            (outcome, decimal_text(actual_usd), detail, entry_id),
        )

    def costs(self, since_ns: int = 0, until_ns: int | None = None) -> list[CostEntry]:
        rows = self._db.read(
            f"SELECT {_COST_COLUMNS} FROM cost_ledger WHERE ts_ns >= ? AND ts_ns < ? "
            "ORDER BY ts_ns, id",
            (since_ns, until_ns if until_ns is not None else 2**63 - 1),
        )
        return [_cost(row) for row in rows]

    def spent(self, since_ns: int) -> Decimal:
        """What requests cost since ``since_ns``: fetched ones, and failed ones whose download
        was paid for (their ``actual_usd`` is set)."""
        rows = self._db.read(
            "SELECT actual_usd FROM cost_ledger WHERE ts_ns >= ? AND actual_usd IS NOT NULL",
            (since_ns,),
        )
        return sum((Decimal(str(value)) for (value,) in rows if value is not None), Decimal(0))

    # -- provenance ------------------------------------------------------------------------

    def record_provenance(self, entry: ProvenanceRange) -> int:
        return self._db.atomic(lambda execute: _insert_provenance(execute, entry))

    def extend_provenance(self, entry_id: int, end_ns: int, rows_added: int) -> None:
        """Grow a range as more ticks of the same origin arrive (a live session)."""
        self._db.write(
            "UPDATE tick_provenance SET end_ns = CASE WHEN end_ns > ? THEN end_ns ELSE ? END, "
            "rows = rows + ? WHERE id = ? RETURNING id",
            (end_ns, end_ns, rows_added, entry_id),
        )

    def provenance(
        self, exchange: str | None = None, symbol: str | None = None
    ) -> list[ProvenanceRange]:
        rows = self._db.read(
            f"SELECT {_PROVENANCE_COLUMNS} FROM tick_provenance "
            "WHERE (? = '' OR exchange = ?) AND (? = '' OR symbol = ?) "
            "ORDER BY exchange, symbol, start_ns, id",
            (exchange or "", exchange or "", symbol or "", symbol or ""),
        )
        return [_provenance(row) for row in rows]

    def provenance_summary(self) -> list[ProvenanceSummary]:
        rows = self._db.read(
            "SELECT exchange, symbol, kind, COUNT(*), COALESCE(SUM(rows), 0), MIN(start_ns), "
            "MAX(end_ns) FROM tick_provenance GROUP BY exchange, symbol, kind "
            "ORDER BY exchange, symbol, MIN(start_ns)",
            (),
        )
        return [
            ProvenanceSummary(e, s, k, int(n), int(r), int(lo), int(hi))
            for e, s, k, n, r, lo, hi in rows
        ]

    # -- gaps in stored ticks --------------------------------------------------------------

    def silences(
        self, exchange: str, symbol: str, start_ns: int, end_ns: int, threshold_ns: int
    ) -> list[tuple[int, int]]:
        """Pairs ``(last_ts, next_ts)`` of consecutive stored trades in ``[start_ns, end_ns)``
        further apart than ``threshold_ns``."""
        rows = self._db.read(
            "SELECT previous, ts FROM (SELECT ts_event AS ts, LAG(ts_event) OVER "
            "(ORDER BY ts_event, trade_id) AS previous FROM tick_data WHERE exchange = ? "
            "AND symbol = ? AND ts_event >= ? AND ts_event < ?) AS steps "
            "WHERE previous IS NOT NULL AND ts - previous > ? ORDER BY ts",
            (exchange, symbol, start_ns, end_ns, threshold_ns),
        )
        return [(int(previous), int(ts)) for previous, ts in rows]

    def stored_span(self, exchange: str, symbol: str) -> tuple[int, int] | None:
        """First and last stored trade time of an instrument, or None when it has none."""
        rows = self._db.read(
            "SELECT MIN(ts_event), MAX(ts_event) FROM tick_data WHERE exchange = ? AND symbol = ?",
            (exchange, symbol),
        )
        if not rows or rows[0][0] is None:
            return None
        return int(rows[0][0]), int(rows[0][1])


def _refresh_job(execute: Execute, job_id: int) -> None:
    # Totals from the chunks themselves, so a resumed job never counts a chunk twice.
    rows = execute(
        "SELECT COUNT(*), COALESCE(SUM(rows_stored), 0), COALESCE(SUM(rows_duplicate), 0), "
        "COALESCE(SUM(rows_rejected), 0) FROM backfill_chunks "
        "WHERE job_id = ? AND state = 'done'",
        (job_id,),
    )
    done, stored, duplicate, rejected = (int(value) for value in rows[0])
    costs = execute(
        "SELECT cost_usd FROM backfill_chunks WHERE job_id = ? AND state = 'done'", (job_id,)
    )
    cost = sum((_money(value) for (value,) in costs), Decimal(0))
    execute(
        "UPDATE backfill_jobs SET chunks_done = ?, rows_stored = ?, rows_duplicate = ?, "
        "rows_rejected = ?, cost_usd = ?, updated_ns = ? WHERE id = ? RETURNING id",
        (done, stored, duplicate, rejected, decimal_text(cost), now_ns(), job_id),
    )


def _insert_provenance(execute: Execute, entry: ProvenanceRange) -> int:
    rows = execute(
        "INSERT INTO tick_provenance (exchange, symbol, start_ns, end_ns, kind, source, "
        "detail, rows, job_id, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        (
            entry.exchange,
            entry.symbol,
            entry.start_ns,
            entry.end_ns,
            entry.kind,
            entry.source,
            entry.detail,
            entry.rows,
            entry.job_id,
            entry.created_ns or now_ns(),
        ),
    )
    return int(rows[0][0])


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


def _job(row: Sequence[Any]) -> BackfillJob:
    return BackfillJob(
        kind=row[0],
        source=row[1],
        exchange=row[2],
        symbols=tuple(s for s in str(row[3]).split(",") if s),
        schema=row[4],
        start_ns=int(row[5]),
        end_ns=int(row[6]),
        state=row[7],
        chunks_total=int(row[8]),
        chunks_done=int(row[9]),
        rows_stored=int(row[10]),
        rows_duplicate=int(row[11]),
        rows_rejected=int(row[12]),
        cost_usd=_money(row[13]),
        error=row[14],
        created_ns=int(row[15]),
        updated_ns=int(row[16]),
        id=int(row[17]),
        dataset=row[18],
        owner=row[19],
    )


def _chunk(row: Sequence[Any]) -> JobChunk:
    return JobChunk(
        job_id=int(row[0]),
        seq=int(row[1]),
        exchange=row[2],
        symbol=row[3],
        start_ns=int(row[4]),
        end_ns=int(row[5]),
        state=row[6],
        rows_stored=int(row[7]),
        rows_duplicate=int(row[8]),
        rows_rejected=int(row[9]),
        cost_usd=_money(row[10]),
        detail=row[11],
        error=row[12],
        fetches=int(row[13]),
        finished_ns=None if row[14] is None else int(row[14]),
    )


def _cost(row: Sequence[Any]) -> CostEntry:
    return CostEntry(
        source=row[0],
        exchange=row[1],
        symbol=row[2],
        start_ns=int(row[3]),
        end_ns=int(row[4]),
        estimated_usd=_money(row[5]),
        outcome=row[6],
        dataset=row[7],
        schema=row[8],
        records=None if row[9] is None else int(row[9]),
        bytes=None if row[10] is None else int(row[10]),
        actual_usd=None if row[11] is None else _money(row[11]),
        detail=row[12],
        job_id=None if row[13] is None else int(row[13]),
        ts_ns=int(row[14]),
        id=int(row[15]),
    )


def _provenance(row: Sequence[Any]) -> ProvenanceRange:
    return ProvenanceRange(
        exchange=row[0],
        symbol=row[1],
        start_ns=int(row[2]),
        end_ns=int(row[3]),
        kind=row[4],
        source=row[5],
        detail=row[6],
        rows=int(row[7]),
        job_id=None if row[8] is None else int(row[8]),
        created_ns=int(row[9]),
        id=int(row[10]),
    )
