"""Bulk loads of trades into time partitions that do not exist yet: ``bulk_trades`` of the
PostgreSQL store on the native partitioned layout.

COPY into a partition maintains its primary-key B-tree row by row, which holds a backfill to
~300,000 rows/s here; COPY into a table without an index runs at ~1.1 M rows/s, and building
the index once afterwards over rows that mostly arrive in key order costs far less (~1.1 s for
2 M rows). So the rows of a partition range that has no partition when its first rows come
are staged:

1. a standalone table ``LIKE tick_data`` (columns, NOT NULL and CHECK constraints, no index)
   with a CHECK on the range is created, named ``tick_data_bulk_<backend pid>_<range>``; the
   range's rows of each batch go into it by one binary COPY kept open while batches of the
   range keep coming, sent by a thread so that the caller decodes the next batch meanwhile
   (at most one batch waits: nothing piles up in memory);
2. when the ``with`` block ends normally, the primary key is built in one sorted pass; if a key
   repeats, the later copies are deleted (the first copied stays, as with ``insert_trades``)
   and the key is built again;
3. in one transaction, under the advisory lock ``_create_partitions`` takes, the table is
   renamed to the partition's name and attached ``FOR VALUES FROM .. TO ..`` as
   ``_create_partitions`` would have made it. The range CHECK lets ATTACH skip its validation
   scan; ATTACH builds the BRIN index; the CHECK is dropped. If a partition overlapping the
   range exists by then (another writer made it), the missing parts of the range are created
   as ``_create_partitions`` does and the staged rows go into the parent with
   ``ON CONFLICT DO NOTHING`` instead.

Transactions and visibility: the COPYs into a staging table commit as they end, but a staging
table is no partition: readers see a staged range all at once, when its attach commits, and
never part of it. Ranges are attached one by one, in time order, each in its own transaction.
An exception inside the ``with`` block aborts the open COPY and drops the staging tables; a
process that dies leaves its committed staging tables behind, and the next bulk load in the
same schema drops those whose backend has gone. Staging holds no lock on ``tick_data``;
attaching holds a SHARE UPDATE EXCLUSIVE one (reads and inserts go on) for the BRIN build.

Rows of ranges that have a partition take ``insert_trades``' own path (``_copy_insert``),
batch by batch, on the sink's connection; they are stored when added and stay stored.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from queue import Queue
from typing import Any, Final

import numpy as np
import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.copy import LibpqWriter

from ticklane.core.columnar import TradeColumns
from ticklane.core.errors import StorageError
from ticklane.core.identifiers import InstrumentId
from ticklane.storage import pgbinary
from ticklane.storage.base import EMPTY_RESULT, InsertResult
from ticklane.storage.partitions import partition_name
from ticklane.storage.postgres import TRADE_WIRE, PostgresTickStore
from ticklane.storage.rows import checked_instrument

log = logging.getLogger(__name__)

_TABLE: Final = "tick_data"
_STAGE_PREFIX: Final = "tick_data_bulk_"
_STAGE_NAME: Final = re.compile(r"tick_data_bulk_(\d+)_[0-9_]+")
_KEY: Final = sql.SQL("exchange, symbol, ts_event, trade_id")
_COLUMNS: Final = sql.SQL(", ").join(
    sql.Identifier(name) for name in ("exchange", "symbol", *(name for name, _ in TRADE_WIRE))
)
# Sort memory of one primary-key build (this transaction only): a day of 2 M trades sorts in
# ~200 MB; the server default, 64 MB, spills the sort to temporary files. The build is
# serial: rows copied in key order sort in one pass over memory, where parallel workers
# write sorted runs to temporary files and merge them (1.7 s against 1.15 s for 2 M rows,
# 2 cores).
_KEY_BUILD_MEMORY: Final = "256MB"
# What ATTACH raises when a partition it did not know of is in the way: one overlapping the
# range (made without our advisory lock), or a table holding the partition's name.
_IN_THE_WAY: Final = (psycopg.errors.InvalidObjectDefinition, psycopg.errors.DuplicateTable)


class _SendAhead(LibpqWriter):
    """COPY data sent to the server by a thread of its own, so that the caller decodes and
    encodes the next batch while the server stores this one; at most one batch waits
    (psycopg's ``QueuedLibpqWriter`` queues up to 128 MB). The thread starts at the first
    write (a COPY that failed to start has none) and ends at ``finish``."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue: Queue[Buffer | None] = Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _send(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                super().write(data)
        except BaseException as error:  # raised in the caller's thread at its next call
            self._error = error
            while self._queue.get() is not None:  # or the caller's put would block forever
                pass

    def write(self, data: Buffer) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._send, name="bulk-copy", daemon=True)
            self._thread.start()
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        # The COPY is always ended (with the sender's error, if it failed), so the connection
        # never stays in COPY_IN; that error is then raised.
        error = exc if exc is not None else self._error
        super().finish(error)
        if self._error is not None and exc is None:
            raise self._error


class _OpenCopy:
    """A binary COPY into a staging table kept open across batches (one PGCOPY header, rows
    of each batch, the trailer when closed): the server stores rows while the caller
    prepares more.

    The first COPY of a range runs with FREEZE: its rows are written frozen and their pages
    all-visible, so no vacuum of the partition has to freeze them later, rewriting every page
    of the day (the load itself runs no faster; nobody reads a staging table, so FREEZE's
    visibility caveat does not matter). FREEZE needs the table created or truncated in the
    COPY's transaction. It is created before, on its own, because ``LIKE`` locks
    ``tick_data`` until the transaction ends, which would keep other writers from making
    partitions for as long as the COPY lasts; the COPY's transaction truncates it (empty).
    A range staged again after an interruption gets a plain COPY.
    """

    def __init__(self, conn: psycopg.Connection[Any], staged: _StagedRange) -> None:
        self.staged = staged
        options = sql.SQL("FORMAT BINARY")
        with ExitStack() as stack:  # what is entered is left again if a step fails
            if not staged.created:
                conn.execute(_create_statement(staged))
                staged.created = True
                stack.enter_context(conn.transaction())
                conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(staged.stage)))
                options = sql.SQL("FORMAT BINARY, FREEZE")
            statement = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
                sql.Identifier(staged.stage), _COLUMNS, options
            )
            cursor = conn.cursor()
            self._copy = stack.enter_context(cursor.copy(statement, writer=_SendAhead(cursor)))
            self._copy.write(pgbinary.HEADER)
            self._stack = stack.pop_all()

    def write(self, instrument: InstrumentId, data: Any) -> None:
        payload = pgbinary.encode(data, TRADE_WIRE, (instrument.exchange, instrument.symbol))
        self._copy.write(memoryview(payload)[len(pgbinary.HEADER) : -len(pgbinary.TRAILER)])

    def close(self) -> None:
        try:
            self._copy.write(pgbinary.TRAILER)
        except BaseException as error:
            self.abort(error)  # the COPY and its transaction end here, not left open
            raise
        self._stack.close()

    def abort(self, error: BaseException) -> None:
        """End the COPY with an error: the server stores none of its rows."""
        self._stack.__exit__(type(error), error, error.__traceback__)


@dataclass
class _StagedRange:
    """A partition range ``[start, end)`` whose rows are staged in table ``stage``."""

    start: int
    end: int
    stage: str
    partition: str
    rows: int = 0  # copied into the staging table
    repeated: int = 0  # of those, copies of a key copied before (deleted at the key build)
    created: bool = False  # by the first COPY


def _create_statement(staged: _StagedRange) -> sql.Composed:
    # Autovacuum would start on the staging table after its first batch, compete with the
    # COPYs for the CPU and hold the key build up until it gives way; it runs on the
    # partition once attached instead. A table of this name is a leftover of a dead backend
    # whose pid this one has now.
    return sql.SQL(
        "DROP TABLE IF EXISTS {stage}; "
        "CREATE TABLE {stage} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        "CONSTRAINT {check} CHECK (ts_event >= {start} AND ts_event < {end})) "
        "WITH (autovacuum_enabled = false)"
    ).format(
        stage=sql.Identifier(staged.stage),
        table=sql.Identifier(_TABLE),
        check=sql.Identifier(f"{staged.stage}_range"),
        start=sql.Literal(staged.start),
        end=sql.Literal(staged.end),
    )


class PostgresTradeSink:
    """The ``TradeSink`` of ``PostgresTickStore.bulk_trades`` (see the module docstring); one
    thread at a time.

    ``timings`` holds the seconds spent so far per phase: ``copy`` (encoding and COPY into
    staging tables), ``existing`` (batches for partitions that exist), ``primary key`` (key
    builds, de-duplication included), ``attach`` (lock, rename, ATTACH with its BRIN build,
    CHECK dropped) and ``fallback`` (staged rows inserted through the parent instead).
    """

    def __init__(self, store: PostgresTickStore, conn: psycopg.Connection[Any]) -> None:
        self._store = store
        self._conn = conn
        self._interval = store._partition_ns
        # By range start: the range's staging, or None when the range had a partition.
        self._ranges: dict[int, _StagedRange | None] = {}
        self._added = EMPTY_RESULT
        self._result: InsertResult | None = None
        self._open: _OpenCopy | None = None
        self.timings: dict[str, float] = dict.fromkeys(
            ("copy", "existing", "primary key", "attach", "fallback"), 0.0
        )

    @property
    def result(self) -> InsertResult:
        if self._result is None:
            raise StorageError("a bulk load's result is known once its with block has ended")
        return self._result

    def add(self, batch: TradeColumns) -> None:
        if self._result is not None:
            raise StorageError("this bulk load has ended; open another with bulk_trades()")
        instrument = checked_instrument(batch.instrument)
        good, errors = batch.validated()
        self._added = self._added + InsertResult(len(batch), 0, 0, tuple(errors))
        data = good.data
        if len(data) == 0:
            return
        starts = data["ts_event"] // self._interval * self._interval
        first, last = int(starts.min()), int(starts.max())
        existing = np.zeros(len(data), dtype=bool)
        for start in [first] if first == last else np.unique(starts).tolist():
            in_range = None if first == last else starts == start
            staged = self._range(start)
            if staged is not None:
                self._copy(staged, instrument, data if in_range is None else data[in_range])
            elif in_range is None:
                existing[:] = True
            else:
                existing |= in_range
        if existing.any():
            # As one batch, as insert_trades would take it (one partition: straight to it).
            self._insert_existing(instrument, data if existing.all() else data[existing])

    def _insert_existing(self, instrument: InstrumentId, data: Any) -> None:
        self._close_copy()
        started = time.perf_counter()
        inserted = self._store._copy_insert(
            _TABLE, "tick_stage", TRADE_WIRE, instrument, data, on=self._conn
        )
        self._added = self._added + InsertResult(0, inserted, len(data) - inserted)
        self.timings["existing"] += time.perf_counter() - started

    def _copy(self, staged: _StagedRange, instrument: InstrumentId, data: Any) -> None:
        if self._open is not None and self._open.staged is not staged:
            self._close_copy()
        started = time.perf_counter()
        try:
            if self._open is None:
                self._open = _OpenCopy(self._conn, staged)
            self._open.write(instrument, data)
        except psycopg.Error as error:
            raise self._error(f"staging {len(data)} rows of {instrument}", error) from error
        staged.rows += len(data)
        self.timings["copy"] += time.perf_counter() - started

    def _close_copy(self) -> None:
        """End the open COPY, if any: the connection is needed for another statement."""
        if self._open is None:
            return
        started = time.perf_counter()
        opened, self._open = self._open, None
        try:
            opened.close()
        except psycopg.Error as error:
            raise self._error(f"staging rows in {opened.staged.stage}", error) from error
        self.timings["copy"] += time.perf_counter() - started

    def _range(self, start: int) -> _StagedRange | None:
        """The staging of the range starting at ``start``, made now if the range has no
        partition; None if it has one. Decided once per range and sink."""
        if start in self._ranges:
            return self._ranges[start]
        self._close_copy()
        end = start + self._interval
        staged = None if self._has_partition(start, end) else self._create_stage(start, end)
        self._ranges[start] = staged
        return staged

    def _has_partition(self, start: int, end: int) -> bool:
        """Whether a partition overlaps ``[start, end)``: by the store's cache, read again
        when that says no (another process may have made one since)."""
        store = self._store
        with store._partition_lock:
            known = store._partitions.get(_TABLE)
            if known is not None and _overlapping(known, start, end):
                return True
            try:
                known = store._partitions[_TABLE] = store._load_partitions(_TABLE, self._conn)
            except psycopg.Error as error:
                raise self._error("reading the partitions", error) from error
            return _overlapping(known, start, end)

    def _create_stage(self, start: int, end: int) -> _StagedRange:
        partition = partition_name(_TABLE, start, self._interval)
        stage = f"{_STAGE_PREFIX}{self._conn.info.backend_pid}_{partition[len(_TABLE) + 1 :]}"
        log.info("staging trades for partition %s in %s", partition, stage)
        return _StagedRange(start, end, stage, partition)

    # -- the end of the with block -----------------------------------------------------------

    def finish(self) -> InsertResult:
        """Key and attach each staged range in time order (or insert its rows through the
        parent); the load's result."""
        self._close_copy()
        result = self._added
        try:
            for staged in sorted(self._staged(), key=lambda staged: staged.start):
                try:
                    self._build_key(staged)
                    inserted = self._attach(staged)
                    if inserted is None:
                        inserted = self._insert_through_parent(staged)
                except psycopg.Error as error:
                    doing = f"storing the rows staged in {staged.stage}"
                    raise self._error(doing, error) from error
                result = result + InsertResult(0, inserted, staged.rows - inserted)
        finally:
            with self._store._partition_lock:  # partitions were attached or made: read again
                self._store._partitions.pop(_TABLE, None)
        self._result = result
        return result

    def discard(self, error: BaseException) -> None:
        """After ``error``: end the open COPY storing nothing of it and drop every staging
        table left (one attached has the partition's name by now)."""
        if self._open is not None:
            opened, self._open = self._open, None
            try:
                opened.abort(error)
            except Exception as failure:  # dropping the table below ends it all the same
                log.warning("COPY into %s not ended cleanly: %s", opened.staged.stage, failure)
        for staged in self._staged():
            try:
                self._conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(staged.stage))
                )
            except psycopg.Error as error:
                log.warning(
                    "staging table %s not dropped (%s); the next bulk load drops it",
                    staged.stage,
                    error,
                )
                return  # the connection is likely broken: the rest would fail alike

    def _staged(self) -> list[_StagedRange]:
        return [staged for staged in self._ranges.values() if staged is not None]

    def _build_key(self, staged: _StagedRange) -> None:
        """The staging table's primary key. A key copied more than once keeps its first row
        (as ``insert_trades`` would); the later ones are deleted and counted as repeated."""
        started = time.perf_counter()
        stage = sql.Identifier(staged.stage)
        add_key = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            stage, sql.Identifier(f"{staged.stage}_pkey"), _KEY
        )
        conn = self._conn
        with conn.transaction():
            conn.execute(f"SET LOCAL maintenance_work_mem = '{_KEY_BUILD_MEMORY}'")
            conn.execute("SET LOCAL max_parallel_maintenance_workers = 0")  # see above
            try:
                with conn.transaction():
                    conn.execute(add_key)
            except psycopg.errors.UniqueViolation:
                # Rare (a source repeating trades), so a second sort is fine: it finds the later
                # copies by physical position, the order of the COPYs into a new table.
                staged.repeated = conn.execute(
                    sql.SQL(
                        "DELETE FROM {stage} WHERE ctid = ANY(ARRAY(SELECT ctid FROM "
                        "(SELECT ctid, row_number() OVER (PARTITION BY {key} ORDER BY ctid) "
                        "AS copy FROM {stage}) numbered WHERE copy > 1))"
                    ).format(stage=stage, key=_KEY)
                ).rowcount
                log.info("%s: %d repeated trades dropped", staged.stage, staged.repeated)
                conn.execute(add_key)
        self.timings["primary key"] += time.perf_counter() - started

    def _attach(self, staged: _StagedRange) -> int | None:
        """Attach the staging table as its range's partition and return how many rows that
        stored; None, having done nothing, when a partition overlapping the range exists."""
        started = time.perf_counter()
        conn = self._conn
        statement = sql.SQL(
            "ALTER TABLE {stage} RENAME TO {partition}; "
            "ALTER INDEX {stage_key} RENAME TO {partition_key}; "
            "ALTER TABLE {table} ATTACH PARTITION {partition} "
            "FOR VALUES FROM ({start}) TO ({end}); "
            "ALTER TABLE {partition} DROP CONSTRAINT {check}, RESET (autovacuum_enabled)"
        ).format(
            stage=sql.Identifier(staged.stage),
            partition=sql.Identifier(staged.partition),
            stage_key=sql.Identifier(f"{staged.stage}_pkey"),
            partition_key=sql.Identifier(f"{staged.partition}_pkey"),
            table=sql.Identifier(_TABLE),
            start=sql.Literal(staged.start),
            end=sql.Literal(staged.end),
            check=sql.Identifier(f"{staged.stage}_range"),
        )
        try:
            with conn.transaction():
                # The lock _create_partitions takes: no partition of ours appears meanwhile.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_TABLE,))
                known = self._store._load_partitions(_TABLE, conn)
                if _overlapping(known, staged.start, staged.end):
                    log.info("partition range of %s exists by now", staged.stage)
                    return None
                try:
                    with conn.transaction():
                        conn.execute(statement)
                except _IN_THE_WAY as error:  # made by a writer that does not take the lock
                    log.info("%s not attached: %s", staged.partition, error)
                    return None
        finally:
            self.timings["attach"] += time.perf_counter() - started
        stored = staged.rows - staged.repeated
        log.info("attached partition %s: %d trades", staged.partition, stored)
        return stored

    def _insert_through_parent(self, staged: _StagedRange) -> int:
        """Insert the staged rows into ``tick_data`` duplicate-safe, after making the missing
        parts of the range's partitions; drop the staging table; how many rows were new."""
        started = time.perf_counter()
        conn = self._conn
        # Its own transaction: the partition lock is not held through the long insert.
        self._store._create_partitions(_TABLE, staged.start, staged.end - 1, [], on=conn)
        with conn.transaction():
            inserted = conn.execute(
                sql.SQL(
                    "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                    "ON CONFLICT DO NOTHING"
                ).format(
                    table=sql.Identifier(_TABLE),
                    columns=_COLUMNS,
                    stage=sql.Identifier(staged.stage),
                )
            ).rowcount
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(staged.stage)))
        log.info("%s: %d of its trades inserted through %s", staged.stage, inserted, _TABLE)
        self.timings["fallback"] += time.perf_counter() - started
        return inserted

    def drop_leftovers(self) -> None:
        """Drop the staging tables, in this schema, of backends that are gone (a bulk load
        whose process died before it could)."""
        conn = self._conn
        try:
            names = conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "AND relkind = 'r' AND NOT relispartition AND starts_with(relname, %s)",
                (_STAGE_PREFIX,),
            ).fetchall()
            if not names:
                return
            live = {int(pid) for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity")}
            for (name,) in names:
                match = _STAGE_NAME.fullmatch(name)
                if match and int(match.group(1)) not in live:
                    log.warning("dropping staging table %s left by a bulk load that died", name)
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        except psycopg.Error as error:
            raise self._error("dropping staging tables left behind", error) from error

    def _error(self, doing: str, error: psycopg.Error) -> StorageError:
        return StorageError(
            f"{self._store._url_shown}: bulk load: {doing}: {error}; the trades staged and "
            "not attached yet are not stored (the partitions attached are logged)"
        )


def _overlapping(known: list[tuple[int, int, str]], start: int, end: int) -> bool:
    return any(p_start < end and start < p_end for p_start, p_end, _ in known)


@contextmanager
def bulk_trades(store: PostgresTickStore) -> Iterator[PostgresTradeSink]:
    """A ``PostgresTradeSink`` on a connection of its own for the whole ``with`` block."""
    with ExitStack() as stack:
        try:
            conn = stack.enter_context(store._pool.connection())
        except psycopg.Error as error:  # the pool's PoolTimeout is one
            raise StorageError(f"{store._url_shown}: bulk load: {error}") from error
        sink = PostgresTradeSink(store, conn)
        sink.drop_leftovers()
        try:
            yield sink
            sink.finish()
        except BaseException as error:
            sink.discard(error)
            raise
