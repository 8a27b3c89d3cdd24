"""The PostgreSQL tick store: TimescaleDB hypertables when the extension is installed, native
range partitions on ``ts_event`` otherwise (chosen once, at the first migration).

Batches go in with binary COPY, in one transaction: a batch is stored whole or not at all, and
storing it again adds nothing. The keys already stored in the batch's time span are read first;
the other rows are copied straight into the table. A batch meeting a key stored meanwhile, or
holding one twice, goes through a session-local staging table and one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` instead.
Streaming reads page through the primary key with one binary array per column, decoded straight
into numpy (``ticklane.storage.pgbinary``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any, Final

import msgspec
import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ticklane.config import redact_url
from ticklane.core.bars import Bar, Timeframe
from ticklane.core.columnar import (
    TRADE_DTYPE,
    QuoteColumns,
    TradeColumns,
)
from ticklane.core.errors import MigrationError, NotAvailableError, StorageError
from ticklane.core.fixed import price_from_raw
from ticklane.core.identifiers import InstrumentId
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.storage import pgbinary
from ticklane.storage.bars import BarBook
from ticklane.storage.base import (
    STRATEGY_LOG_COLUMNS,
    AppliedMigration,
    CompressResult,
    Gap,
    InsertResult,
    Order,
    PartitionInfo,
    SeriesStats,
    StoreStats,
    StrategyLogEvent,
    StrategyLogRow,
    SymbolInfo,
    TradeSink,
    each_batch_sink,
)
from ticklane.storage.history import Execute, HistoryBook, T
from ticklane.storage.migrations import check_applied, load_migrations
from ticklane.storage.partitions import missing_ranges, parse_bound, partition_name
from ticklane.storage.rows import (
    bars_from_rows,
    check_range,
    checked_instrument,
    decimal_or_none,
    insert_by_instrument,
    ohlc_params,
    quotes_from_rows,
    strategy_log_row,
    strategy_log_values,
    symbol_rows,
    trades_from_rows,
)

log = logging.getLogger(__name__)

TRADE_WIRE: Final = (
    ("ts_event", 8),
    ("trade_id", 8),
    ("price", 8),
    ("quantity", 8),
    ("side", 2),
    ("is_buyer_maker", 1),
)
QUOTE_WIRE: Final = (
    ("ts_event", 8),
    ("sequence", 8),
    ("bid_price", 8),
    ("bid_size", 8),
    ("ask_price", 8),
    ("ask_size", 8),
)
_STAGING_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS tick_stage (ts_event int8, trade_id int8, price int8, "
    "quantity int8, side int2, is_buyer_maker bool) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS quote_stage (ts_event int8, sequence int8, bid_price int8, "
    "bid_size int8, ask_price int8, ask_size int8) ON COMMIT DELETE ROWS"
)
_LOG_INSERT: Final = (
    f"INSERT INTO live_strategy_log ({', '.join(STRATEGY_LOG_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in STRATEGY_LOG_COLUMNS)}) ON CONFLICT DO NOTHING"
)
_LOG_SELECT: Final = f"SELECT id, {', '.join(STRATEGY_LOG_COLUMNS)} FROM live_strategy_log"
# A strategy-log write waits at most this long for a lock (someone holding the table): it then
# fails like any other store error, so its writer retries or gives up instead of hanging.
_LOG_LOCK_TIMEOUT: Final = "5s"
_MIGRATION_LOCK: Final = 0x7469636B6C616E65  # "ticklane": one migrator at a time
_TICK_TABLES: Final = ("tick_data", "quotes")
# A batch reads the keys stored in its time span, up to this many per row of the batch, to
# tell its new rows from its duplicates; beyond that it takes the staging path.
_STORED_KEYS_PER_ROW: Final = 4


def _same(value: Decimal) -> Decimal:
    return value  # psycopg adapts Decimal to numeric exactly


def _spans(partitions: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    return [(start, end) for start, end, _ in partitions]


def _in_key_order(data: Any) -> Any:
    """The rows sorted by (ts_event, trade_id). ``array_agg`` over an ordered subquery keeps
    that order in practice but SQL does not promise it, so check (cheap) and sort if needed."""
    ts, ids = data["ts_event"], data["trade_id"]
    ordered = (ts[1:] > ts[:-1]) | ((ts[1:] == ts[:-1]) & (ids[1:] > ids[:-1]))
    if bool(ordered.all()):
        return data
    log.warning("chunk of %d rows arrived out of key order; sorting it", len(data))
    return data[np.lexsort((ids, ts))]


def _stored_mask(ts: Any, keys: Any, stored_ts: Any, stored_keys: Any) -> Any:
    """Which rows ``(ts, keys)`` are among the stored ``(stored_ts, stored_keys)``: one
    lexicographic sort of both (~13 ms for 300,000 keys), each run of equal keys marked when
    a stored one, sorting first in its run, leads it."""
    all_ts = np.concatenate([stored_ts, ts])
    all_keys = np.concatenate([stored_keys, keys])
    ours = np.zeros(len(all_ts), dtype=bool)
    ours[len(stored_ts) :] = True
    order = np.lexsort((ours, all_keys, all_ts))
    sorted_ts, sorted_keys = all_ts[order], all_keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_ts[1:] != sorted_ts[:-1]) | (sorted_keys[1:] != sorted_keys[:-1])
    run = np.cumsum(starts) - 1
    stored = np.empty(len(order), dtype=bool)
    stored[order] = (~ours[order])[starts][run]
    return stored[len(stored_ts) :]


def _copy_rows(
    conn: psycopg.Connection[Any],
    table: str,
    wire: Sequence[tuple[str, int]],
    names: tuple[str, str],
    data: Any,
) -> None:
    """Binary COPY of the rows straight into ``table``; raises on any key already there."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name, _ in wire)
    statement = sql.SQL("COPY {} (exchange, symbol, {}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), columns
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(pgbinary.encode(data, wire, names))


def _insert_staged(
    conn: psycopg.Connection[Any],
    table: str,
    stage: str,
    wire: Sequence[tuple[str, int]],
    names: tuple[str, str],
    data: Any,
) -> int:
    """Binary COPY into the session's staging table, then one ``INSERT ... SELECT ... ON
    CONFLICT DO NOTHING``; returns how many rows were new. The staging table empties itself
    at commit (``ON COMMIT DELETE ROWS``)."""
    with conn.cursor().copy(
        sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(stage))
    ) as copy:
        copy.write(pgbinary.encode(data, wire))
    columns = sql.SQL(", ").join(sql.Identifier(name) for name, _ in wire)
    insert = sql.SQL(
        "INSERT INTO {target} (exchange, symbol, {columns}) SELECT %s, %s, {columns} "
        "FROM {stage} ON CONFLICT DO NOTHING"
    ).format(target=sql.Identifier(table), columns=columns, stage=sql.Identifier(stage))
    return conn.execute(insert, names).rowcount


class PostgresTickStore:
    """``TickStore`` on PostgreSQL. ``partition_interval_ns`` sizes partitions and chunks."""

    def __init__(
        self,
        url: str,
        *,
        min_connections: int = 1,
        max_connections: int = 5,
        partition_interval_ns: int = 86_400 * 10**9,
    ) -> None:
        self._url_shown = redact_url(url)
        self._partition_ns = partition_interval_ns
        self._partitions: dict[str, list[tuple[int, int, str]]] = {}
        self._partition_lock = threading.Lock()
        self._layout: str | None = None
        self._url = url
        # Latest-price look-ups run on one dedicated connection with a reused cursor: the
        # pool's check-out and a fresh cursor cost ~80 us of the ~200 us a call took.
        self._reader: psycopg.Connection[Any] | None = None
        self._reader_cursor: psycopg.RawCursor[Any] | None = None
        self._reader_lock = threading.Lock()
        self._pool = ConnectionPool(
            url,
            min_size=min_connections,
            max_size=max_connections,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name="ticklane",
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except psycopg.Error as error:
            raise StorageError(f"cannot connect to {self._url_shown}: {error}") from error
        except Exception as error:  # the pool raises its own PoolTimeout
            raise StorageError(f"cannot connect to {self._url_shown}: {error}") from error

    @staticmethod
    def _configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute(_STAGING_DDL)

    @property
    def backend(self) -> str:
        return "postgresql"

    @property
    def layout(self) -> str:
        if self._layout is None:
            self._layout = self._recorded_layout() or self._available_layout()
        return self._layout

    def __repr__(self) -> str:
        return f"PostgresTickStore({self._url_shown!r})"

    def close(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = self._reader_cursor = None
        self._pool.close()

    def _execute_returning(self, query: Any, params: Sequence[Any]) -> list[Any]:
        """A write in its own transaction, with the rows its RETURNING clause gives."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                return conn.execute(query, params).fetchall()
        except psycopg.Error as error:
            raise StorageError(f"{self._url_shown}: {error}") from error

    def _query(self, query: Any, params: Sequence[Any] | dict[str, Any] | None = None) -> list[Any]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(query, params).fetchall()
        except psycopg.Error as error:
            raise StorageError(f"{self._url_shown}: {error}") from error

    # -- migrations ------------------------------------------------------------------------

    def _recorded_layout(self) -> str | None:
        rows = self._query(
            "SELECT name FROM schema_migrations WHERE version = 2"
            if self._has_table("schema_migrations")
            else "SELECT NULL WHERE false"
        )
        if rows:
            return str(rows[0][0]).rsplit(".", 1)[-1]
        return None

    def _available_layout(self) -> str:
        rows = self._query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        return "timescaledb" if rows else "partitioned"

    def _has_table(self, name: str) -> bool:
        return bool(self._query("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])

    def migrate(self) -> list[AppliedMigration]:
        layout = self.layout
        migrations = load_migrations(
            "postgres", layout, {"partition_interval_ns": self._partition_ns}
        )
        newly: set[int] = set()
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
                    "name text NOT NULL, checksum text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                )
                applied = {
                    version: (name, checksum)
                    for version, name, checksum in conn.execute(
                        "SELECT version, name, checksum FROM schema_migrations"
                    )
                }
                check_applied(applied, migrations)
                for migration in migrations:
                    if migration.version in applied:
                        continue
                    log.info(
                        "applying PostgreSQL migration %04d %s", migration.version, migration.name
                    )
                    try:
                        with conn.transaction():
                            conn.execute(migration.sql.encode())
                    except psycopg.Error as error:
                        raise MigrationError(
                            f"migration {migration.version:04d} {migration.name} failed on "
                            f"{self._url_shown}: {error}; nothing of it was applied"
                        ) from error
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                    newly.add(migration.version)
        except psycopg.Error as error:
            raise MigrationError(f"migrating {self._url_shown} failed: {error}") from error
        return [
            AppliedMigration(
                version, name, applied_at.strftime("%Y-%m-%dT%H:%M:%SZ"), version in newly
            )
            for version, name, applied_at in self._query(
                "SELECT version, name, applied_at AT TIME ZONE 'UTC' FROM schema_migrations "
                "ORDER BY version"
            )
        ]

    # -- partitions (native layout) ----------------------------------------------------------

    def _ensure_partitions(self, table: str, lo_ns: int, hi_ns: int) -> str | None:
        """Create the partitions ``[lo_ns, hi_ns]`` needs (native layout; TimescaleDB makes
        its own chunks). Returns the one partition holding the whole span, if there is one."""
        if self.layout != "partitioned":
            return None
        with self._partition_lock:
            known = self._partitions.get(table)
            if known is None:
                known = self._partitions[table] = self._load_partitions(table)
            if missing_ranges(lo_ns, hi_ns, self._partition_ns, _spans(known)):
                self._create_partitions(table, lo_ns, hi_ns, known)
            return next(
                (name for start, end, name in known if start <= lo_ns and hi_ns < end), None
            )

    def _create_partitions(
        self,
        table: str,
        lo_ns: int,
        hi_ns: int,
        known: list[tuple[int, int, str]],
        on: psycopg.Connection[Any] | None = None,
    ) -> None:
        connection = nullcontext(on) if on is not None else self._pool.connection()
        try:
            with connection as conn, conn.transaction():
                # Another process may be creating the same partitions: serialize, re-read.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
                known[:] = self._load_partitions(table, conn)
                for start, end in missing_ranges(lo_ns, hi_ns, self._partition_ns, _spans(known)):
                    name = partition_name(table, start, self._partition_ns)
                    conn.execute(
                        sql.SQL(
                            "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                        ).format(
                            sql.Identifier(name),
                            sql.Identifier(table),
                            sql.Literal(start),
                            sql.Literal(end),
                        )
                    )
                    log.info("created partition %s", name)
                    known.append((start, end, name))
        except psycopg.Error as error:
            self._partitions.pop(table, None)
            raise StorageError(
                f"{self._url_shown}: creating partitions of {table}: {error}"
            ) from error

    def _load_partitions(
        self, table: str, conn: psycopg.Connection[Any] | None = None
    ) -> list[tuple[int, int, str]]:
        query = (
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
        )
        rows = conn.execute(query, (table,)).fetchall() if conn else self._query(query, (table,))
        return [
            (bound[0], bound[1], name)
            for name, expression in rows
            if (bound := parse_bound(expression)) is not None
        ]

    # -- writes ----------------------------------------------------------------------------

    def insert_tick(self, tick: TradeTick) -> bool:
        # One row: a prepared INSERT beats the COPY-and-staging path of batches (~5x here).
        row = TradeColumns.from_ticks([tick]).data[0]
        instrument = checked_instrument(tick.instrument_id)
        self._ensure_partitions("tick_data", int(row["ts_event"]), int(row["ts_event"]))
        try:
            with self._pool.connection() as conn:
                cursor = conn.execute(
                    "INSERT INTO tick_data (exchange, symbol, ts_event, trade_id, price, quantity, "
                    "side, is_buyer_maker) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (instrument.exchange, instrument.symbol, *row.tolist()),
                    prepare=True,
                )
                return cursor.rowcount == 1
        except psycopg.Error as error:
            raise StorageError(
                f"{self._url_shown}: trade {tick.trade_id} not stored: {error}"
            ) from error

    def insert_ticks(self, ticks: Iterable[TradeTick]) -> InsertResult:
        return insert_by_instrument(self.insert_trades, ticks)

    def insert_trades(self, batch: TradeColumns) -> InsertResult:
        instrument = checked_instrument(batch.instrument)
        good, errors = batch.validated()
        inserted = self._copy_insert(
            "tick_data",
            "tick_stage",
            TRADE_WIRE,
            instrument,
            good.data,
        )
        return InsertResult(len(batch), inserted, len(good) - inserted, tuple(errors))

    def insert_quotes(self, batch: QuoteColumns) -> InsertResult:
        instrument = checked_instrument(batch.instrument)
        good, errors = batch.validated()
        inserted = self._copy_insert("quotes", "quote_stage", QUOTE_WIRE, instrument, good.data)
        return InsertResult(len(batch), inserted, len(good) - inserted, tuple(errors))

    def bulk_trades(self) -> AbstractContextManager[TradeSink]:
        # TimescaleDB makes its chunks itself, row by row. The bulk path holds a connection
        # for the whole load: a pool of one would leave none for anything else meanwhile.
        if self.layout != "partitioned" or self._pool.max_size < 2:
            return each_batch_sink(self.insert_trades)
        from ticklane.storage import pgbulk  # builds on this module

        return pgbulk.bulk_trades(self)

    def _copy_insert(
        self,
        table: str,
        stage: str,
        wire: Sequence[tuple[str, int]],
        instrument: InstrumentId,
        data: Any,
        on: psycopg.Connection[Any] | None = None,
    ) -> int:
        """Store the rows of ``data`` duplicate-safe in one transaction (on the connection
        ``on``, else a pooled one); return how many were new.

        The keys this instrument has stored in the batch's time span are read first (none, for
        history into an empty span); rows not among them are copied straight into the table,
        1.6x the rate of the staging path, whose ``INSERT ... SELECT ... ON CONFLICT`` pays a
        second pass and an index descent per row (~5 us per duplicate). A key in the batch
        twice, or stored by a concurrent writer since the keys were read, makes that COPY fail
        with a unique violation: its savepoint is rolled back and the whole batch takes the
        staging path, as does a batch whose span holds too many stored rows to read.
        """
        if len(data) == 0:
            return 0
        lo, hi = int(data["ts_event"].min()), int(data["ts_event"].max())
        # A batch within one partition goes straight to it (~8 % faster than routing).
        target = self._ensure_partitions(table, lo, hi) or table
        names = (instrument.exchange, instrument.symbol)
        key = wire[1][0]  # with ts_event, the rest of the row's key (trade_id, sequence)
        limit = _STORED_KEYS_PER_ROW * len(data)
        connection = nullcontext(on) if on is not None else self._pool.connection()
        try:
            with connection as conn, conn.transaction():
                stored = self._stored_keys(conn, target, key, names, lo, hi, limit)
                if stored is None:
                    return _insert_staged(conn, target, stage, wire, names, data)
                if len(stored[0]):
                    data_new = data[~_stored_mask(data["ts_event"], data[key], *stored)]
                else:
                    data_new = data
                if len(data_new):
                    try:
                        with conn.transaction():
                            _copy_rows(conn, target, wire, names, data_new)
                    except psycopg.errors.UniqueViolation:
                        return _insert_staged(conn, target, stage, wire, names, data)
                return len(data_new)
        except psycopg.Error as error:
            raise StorageError(
                f"{self._url_shown}: batch of {len(data)} rows for {instrument} not stored "
                f"({error}); rows stored earlier are intact"
            ) from error

    @staticmethod
    def _stored_keys(
        conn: psycopg.Connection[Any],
        table: str,
        key: str,
        names: tuple[str, str],
        lo: int,
        hi: int,
        limit: int,
    ) -> tuple[Any, Any] | None:
        """``ts_event`` and ``key`` of the instrument's rows stored in ``[lo, hi]`` as two
        arrays (one range scan of the primary key), or None when there are over ``limit``."""
        query = sql.SQL(
            "SELECT count(*), array_send(array_agg(ts_event)), array_send(array_agg({key})) "
            "FROM (SELECT ts_event, {key} FROM {table} WHERE exchange = %s AND symbol = %s "
            "AND ts_event >= %s AND ts_event <= %s LIMIT %s) stored"
        ).format(key=sql.Identifier(key), table=sql.Identifier(table))
        row = conn.execute(query, (*names, lo, hi, limit + 1), binary=True).fetchone()
        count = int(row[0]) if row else 0
        if count > limit:
            return None
        if row is None or count == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return pgbinary.decode_array(row[1], 8, count), pgbinary.decode_array(row[2], 8, count)

    # -- reads -----------------------------------------------------------------------------

    def get_ticks(
        self,
        instrument: InstrumentId,
        start_ns: int,
        end_ns: int,
        *,
        order: Order = Order.ASC,
        limit: int | None = None,
    ) -> list[TradeTick]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        direction = sql.SQL(order.value)
        rows = self._query(
            sql.SQL(
                "SELECT ts_event, trade_id, price, quantity, side, is_buyer_maker FROM tick_data "
                "WHERE exchange = %s AND symbol = %s AND ts_event >= %s AND ts_event < %s "
                "ORDER BY ts_event {d}, trade_id {d} LIMIT %s"
            ).format(d=direction),
            (instrument.exchange, instrument.symbol, start_ns, end_ns, limit),
        )
        return trades_from_rows(instrument, rows)

    def get_quotes(
        self, instrument: InstrumentId, start_ns: int, end_ns: int, *, order: Order = Order.ASC
    ) -> list[QuoteTick]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        direction = sql.SQL(order.value)
        rows = self._query(
            sql.SQL(
                "SELECT ts_event, sequence, bid_price, bid_size, ask_price, ask_size FROM quotes "
                "WHERE exchange = %s AND symbol = %s AND ts_event >= %s AND ts_event < %s "
                "ORDER BY ts_event {d}, sequence {d}"
            ).format(d=direction),
            (instrument.exchange, instrument.symbol, start_ns, end_ns),
        )
        return quotes_from_rows(instrument, rows)

    def latest_price(self, instrument: InstrumentId) -> Decimal | None:
        instrument = checked_instrument(instrument)
        query = (
            "SELECT price FROM tick_data WHERE exchange = $1 AND symbol = $2 "
            "ORDER BY ts_event DESC, trade_id DESC LIMIT 1"
        )
        params = (instrument.exchange, instrument.symbol)
        with self._reader_lock:
            try:
                row = self._reader_cur().execute(query, params, prepare=True).fetchone()
            except psycopg.OperationalError:
                # The dedicated connection broke (server restart, idle timeout): once more.
                self._reader = self._reader_cursor = None
                try:
                    row = self._reader_cur().execute(query, params, prepare=True).fetchone()
                except psycopg.Error as error:
                    raise StorageError(f"{self._url_shown}: {error}") from error
            except psycopg.Error as error:
                raise StorageError(f"{self._url_shown}: {error}") from error
        return None if row is None else price_from_raw(row[0])

    def _reader_cur(self) -> psycopg.RawCursor[Any]:
        if self._reader is None or self._reader.closed or self._reader_cursor is None:
            self._reader = psycopg.connect(self._url, autocommit=True)
            # A raw cursor takes $1 parameters as they are: no query rewriting per call.
            self._reader_cursor = psycopg.RawCursor(self._reader)
        return self._reader_cursor

    def stream_trades(
        self, instrument: InstrumentId, start_ns: int, end_ns: int, *, chunk_rows: int = 100_000
    ) -> Iterator[TradeColumns]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        arrays = sql.SQL(", ").join(
            sql.SQL("array_send(array_agg({}))").format(sql.Identifier(name))
            for name, _ in TRADE_WIRE
        )
        # Keyset paging on the primary key: each chunk is one short query of its own.
        first = sql.SQL("ts_event >= %(after_ts)s")
        later = sql.SQL("(ts_event, trade_id) > (%(after_ts)s, %(after_id)s)")
        params: dict[str, Any] = {
            "exchange": instrument.exchange,
            "symbol": instrument.symbol,
            "after_ts": start_ns,
            "after_id": None,
            "end": end_ns,
            "limit": chunk_rows,
        }
        while True:
            query = sql.SQL(
                "SELECT count(*), {arrays} FROM (SELECT * FROM tick_data "
                "WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND {after} "
                "AND ts_event < %(end)s ORDER BY ts_event, trade_id LIMIT %(limit)s) chunk"
            ).format(arrays=arrays, after=first if params["after_id"] is None else later)
            try:
                with self._pool.connection() as conn:
                    row = conn.execute(query, params, binary=True).fetchone()
            except psycopg.Error as error:
                raise StorageError(f"{self._url_shown}: {error}") from error
            count = int(row[0]) if row else 0
            if count == 0:
                return
            data = np.empty(count, dtype=TRADE_DTYPE)
            for (name, width), payload in zip(TRADE_WIRE, row[1:], strict=True):  # type: ignore[index]
                data[name] = pgbinary.decode_array(payload, width, count)
            yield TradeColumns(instrument, _in_key_order(data))
            if count < chunk_rows:
                return
            params["after_ts"], params["after_id"] = (
                int(data["ts_event"][-1]),
                int(data["trade_id"][-1]),
            )

    def ohlc(
        self, instrument: InstrumentId, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        # Bucket arithmetic of core.bars (ts >= 1980, so truncating division floors). Open and
        # close are the price of the least and greatest (ts_event, trade_id): array comparison
        # is lexicographic, so min/max over ARRAY[ts, id, price] finds them in one grouped scan.
        rows = self._query(
            """
            SELECT (ts_event - %(origin)s) / %(width)s * %(width)s + %(origin)s AS bucket,
                   (min(ARRAY[ts_event, trade_id, price]))[3],
                   max(price), min(price),
                   (max(ARRAY[ts_event, trade_id, price]))[3],
                   sum(quantity), count(*)
            FROM tick_data
            WHERE exchange = %(exchange)s AND symbol = %(symbol)s
              AND ts_event >= %(start)s AND ts_event < %(end)s
            GROUP BY bucket ORDER BY bucket
            """,
            ohlc_params(instrument, timeframe, start_ns, end_ns),
        )
        return bars_from_rows(instrument, timeframe, rows)

    # -- symbols ---------------------------------------------------------------------------

    def add_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        rows = symbol_rows(symbols, _same)
        try:
            with self._pool.connection() as conn, conn.transaction():
                existing = set(conn.execute("SELECT exchange, symbol FROM symbols").fetchall())
                conn.cursor().executemany(
                    "INSERT INTO symbols (exchange, symbol, base_asset, quote_asset, tick_size, "
                    "lot_size, status, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (exchange, symbol) DO UPDATE SET "
                    "base_asset = coalesce(excluded.base_asset, symbols.base_asset), "
                    "quote_asset = coalesce(excluded.quote_asset, symbols.quote_asset), "
                    "tick_size = coalesce(excluded.tick_size, symbols.tick_size), "
                    "lot_size = coalesce(excluded.lot_size, symbols.lot_size), "
                    "status = excluded.status, source = excluded.source",
                    rows,
                )
        except psycopg.Error as error:
            raise StorageError(f"{self._url_shown}: {error}") from error
        return len({(row[0], row[1]) for row in rows} - existing)

    def remove_symbols(self, instruments: Sequence[InstrumentId]) -> int:
        removed = 0
        try:
            with self._pool.connection() as conn, conn.transaction():
                for instrument in instruments:
                    cursor = conn.execute(
                        "DELETE FROM symbols WHERE exchange = %s AND symbol = %s",
                        (instrument.exchange, instrument.symbol),
                    )
                    removed += cursor.rowcount
        except psycopg.Error as error:
            raise StorageError(f"{self._url_shown}: {error}") from error
        return removed

    @property
    def history(self) -> HistoryBook:
        return HistoryBook(_PostgresRunner(self))

    @property
    def bars(self) -> BarBook:
        return BarBook(_PostgresRunner(self))

    def record_gap(self, gap: Gap) -> int:
        rows = self._execute_returning(
            "INSERT INTO gaps (exchange, symbol, from_ns, to_ns, reason) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (gap.exchange, gap.symbol, gap.from_ns, gap.to_ns, gap.reason),
        )
        return int(rows[0][0])

    def list_gaps(self, exchange: str | None = None, *, include_filled: bool = False) -> list[Gap]:
        rows = self._query(
            "SELECT id, exchange, symbol, from_ns, to_ns, reason, filled_at IS NOT NULL FROM gaps "
            "WHERE (%(e)s::text IS NULL OR exchange = %(e)s) AND (%(all)s OR filled_at IS NULL) "
            "ORDER BY from_ns, id",
            {"e": exchange, "all": include_filled},
        )
        return [Gap(e, s, f, t, r, id=i, filled=done) for i, e, s, f, t, r, done in rows]

    def mark_gap_filled(self, gap_id: int) -> None:
        self._execute_returning(
            "UPDATE gaps SET filled_at = now() WHERE id = %s RETURNING id", (gap_id,)
        )

    # -- strategy log ----------------------------------------------------------------------

    def append_strategy_log(self, rows: Sequence[StrategyLogRow]) -> int:
        if not rows:
            return 0
        values = [_log_values(row) for row in rows]
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{_LOG_LOCK_TIMEOUT}'")
                with conn.cursor() as cursor:
                    cursor.executemany(_LOG_INSERT, values)
                    return max(cursor.rowcount, 0)  # the sum over the rows (psycopg >= 3.1)
        except psycopg.Error as error:
            raise StorageError(
                f"{self._url_shown}: {len(rows)} strategy-log rows not stored ({error}); rows "
                "stored earlier are intact"
            ) from error

    def read_strategy_log(
        self,
        strategy_id: str,
        account_id: str | None = None,
        since_ns: int | None = None,
        limit: int | None = None,
        *,
        events: Sequence[StrategyLogEvent] | None = None,
        order: Order = Order.ASC,
    ) -> list[StrategyLogRow]:
        rows = self._query(
            sql.SQL(
                _LOG_SELECT + " WHERE strategy_id = %(strategy)s "
                "AND (%(account)s::text IS NULL OR account_id = %(account)s) "
                "AND (%(since)s::bigint IS NULL OR ts_event >= %(since)s) "
                "AND (%(events)s::text[] IS NULL OR event = ANY(%(events)s)) "
                "ORDER BY id {d} LIMIT %(limit)s"
            ).format(d=sql.SQL(order.value)),
            {
                "strategy": strategy_id,
                "account": account_id,
                "since": since_ns,
                "events": None if events is None else list(events),
                "limit": limit,
            },
        )
        return [_log_row(row) for row in rows]

    def list_symbols(self, exchange: str | None = None) -> list[SymbolInfo]:
        rows = self._query(
            "SELECT exchange, symbol, base_asset, quote_asset, tick_size, lot_size, status, source "
            "FROM symbols WHERE %(e)s::text IS NULL OR exchange = %(e)s ORDER BY exchange, symbol",
            {"e": exchange},
        )
        return [
            SymbolInfo(e, s, base, quote, decimal_or_none(tick), decimal_or_none(lot), status, src)
            for e, s, base, quote, tick, lot, status, src in rows
        ]

    # -- maintenance -----------------------------------------------------------------------

    def stats(self) -> StoreStats:
        partitions = (
            self._timescale_chunks() if self.layout == "timescaledb" else self._native_partitions()
        )
        table_bytes = {table: 0 for table in _TICK_TABLES}
        for partition in partitions:
            table_bytes[partition.table] += partition.bytes
        series: list[SeriesStats] = []
        for table in _TICK_TABLES:
            rows = self._query(
                sql.SQL(
                    "SELECT exchange, symbol, count(*), min(ts_event), max(ts_event) FROM {} "
                    "GROUP BY exchange, symbol ORDER BY exchange, symbol"
                ).format(sql.Identifier(table))
            )
            total = sum(row[2] for row in rows) or 1
            series.extend(
                SeriesStats(table, e, s, n, first, last, table_bytes[table] * n // total)
                for e, s, n, first, last in rows
            )
        total_bytes = int(self._query("SELECT pg_database_size(current_database())")[0][0])
        return StoreStats("postgresql", self.layout, total_bytes, tuple(series), tuple(partitions))

    def _native_partitions(self) -> list[PartitionInfo]:
        rows = self._query(
            "SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid), "
            "pg_total_relation_size(c.oid), greatest(c.reltuples, 0)::bigint "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE i.inhparent = ANY(%s::regclass[]) AND c.relkind = 'r' ORDER BY c.relname",
            (list(_TICK_TABLES),),
        )
        result = []
        for table, name, expression, size, tuples in rows:
            bound = parse_bound(expression) or (0, 0)
            result.append(
                PartitionInfo(table, name, bound[0], bound[1], int(size), int(tuples), None)
            )
        return result

    def _timescale_chunks(self) -> list[PartitionInfo]:
        rows = self._query(
            "SELECT c.hypertable_name, c.chunk_schema || '.' || c.chunk_name, "
            "c.range_start_integer, c.range_end_integer, "
            "pg_total_relation_size(format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass), "
            "c.is_compressed "
            "FROM timescaledb_information.chunks c WHERE c.hypertable_name = ANY(%s) "
            "ORDER BY c.hypertable_name, c.range_start_integer",
            (list(_TICK_TABLES),),
        )
        return [
            PartitionInfo(table, name, int(start), int(end), int(size), -1, bool(compressed))
            for table, name, start, end, size, compressed in rows
        ]

    def compress(self, older_than_ns: int) -> CompressResult:
        if self.layout != "timescaledb":
            raise NotAvailableError(
                "PostgreSQL without TimescaleDB has no compression of its own. This backend "
                f"keeps ticks in range partitions of {self._partition_ns // 10**9 // 3600} h "
                "(see `data-manager db stats`); an old partition can be detached and archived "
                "or dropped without touching newer data. Install the TimescaleDB extension in "
                "a new database and migrate into it to compress chunks."
            )
        before = self._compressed_bytes()
        count = 0
        for table in _TICK_TABLES:
            rows = self._query(
                "SELECT compress_chunk(c, if_not_compressed => true) "
                "FROM show_chunks(%s::regclass, older_than => %s::bigint) c",
                (table, older_than_ns),
            )
            count += len(rows)
        after = self._compressed_bytes()
        return CompressResult(count, before[0], after[1] if after[1] else after[0])

    def _compressed_bytes(self) -> tuple[int, int]:
        """(bytes before compression, bytes after) summed over compressed chunks."""
        total_before = total_after = 0
        for table in _TICK_TABLES:
            rows = self._query(
                "SELECT coalesce(sum(before_compression_total_bytes), 0), "
                "coalesce(sum(after_compression_total_bytes), 0) FROM chunk_compression_stats(%s)",
                (table,),
            )
            total_before += int(rows[0][0])
            total_after += int(rows[0][1])
        return total_before, total_after


class _PostgresRunner:
    """The history tables' statements on this store's pool (``?`` becomes ``%s``)."""

    def __init__(self, store: PostgresTickStore) -> None:
        self._store = store

    def write(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._store._execute_returning(_placeholders(sql), params)

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self._store._pool.connection() as conn, conn.transaction():
                conn.cursor().executemany(_placeholders(sql), rows)
        except psycopg.Error as error:
            raise StorageError(f"{self._store._url_shown}: {error}") from error

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._store._query(_placeholders(sql), params)

    def atomic(self, work: Callable[[Execute], T]) -> T:
        def execute(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            cursor = conn.execute(_placeholders(statement), params)
            return cursor.fetchall() if cursor.description is not None else []

        try:
            with self._store._pool.connection() as conn, conn.transaction():
                return work(execute)
        except psycopg.Error as error:
            raise StorageError(f"{self._store._url_shown}: {error}") from error


def _placeholders(statement: str) -> str:
    # The history statements hold no literal "?" or "%", so this swap is exact.
    return statement.replace("?", "%s")


def _log_values(row: StrategyLogRow) -> tuple[Any, ...]:
    # Decimals go to numeric columns exactly; details to jsonb (decimals in it are strings).
    details = Jsonb(msgspec.to_builtins(row.details)) if row.details else None
    return strategy_log_values(row, money=_same_or_none, details=details)


def _same_or_none(value: Decimal | None) -> Decimal | None:
    return value


def _log_row(values: Sequence[Any]) -> StrategyLogRow:
    details = values[-1]
    return strategy_log_row(values, details if details is not None else {})
