"""The embedded tick store: one SQLite file in WAL mode, nothing to install.

Writes of a batch happen in one transaction of ``executemany``; reads use the primary key,
which the tables are clustered on (``WITHOUT ROWID``). Each thread gets its own connection;
WAL lets readers run while one writer writes.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

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
from ticklane.storage.bars import BarBook
from ticklane.storage.base import (
    STRATEGY_LOG_COLUMNS,
    AppliedMigration,
    CompressResult,
    Gap,
    InsertResult,
    Order,
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
from ticklane.storage.rows import (
    QUOTE_COLUMNS,
    TRADE_COLUMNS,
    bars_from_rows,
    check_range,
    checked_instrument,
    decimal_or_none,
    decimal_text,
    insert_by_instrument,
    ohlc_params,
    quotes_from_rows,
    strategy_log_row,
    strategy_log_values,
    symbol_rows,
    trades_from_rows,
)

log = logging.getLogger(__name__)

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # WAL + NORMAL: a crash never corrupts; a power cut may lose the last commits only.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA cache_size = -65536",  # 64 MiB
    "PRAGMA temp_store = MEMORY",
    "PRAGMA mmap_size = 268435456",
)


_LOG_INSERT: Final = (
    f"INSERT INTO live_strategy_log ({', '.join(STRATEGY_LOG_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in STRATEGY_LOG_COLUMNS)}) ON CONFLICT DO NOTHING"
)
_LOG_SELECT: Final = f"SELECT id, {', '.join(STRATEGY_LOG_COLUMNS)} FROM live_strategy_log"


# Rows per INSERT statement of a batch. With one statement per row, most of a batch's time is
# the bind-step-reset round trip of each row (~2.8 us of the ~3.7 us a row took; the B-tree
# takes ~0.7), so statements of 500 rows and 3,000 parameters store 1.7-2.9x as many rows per
# second here (batches of 10,000 to 200,000); 100 rows gain less, beyond 500 nothing more.
_ROWS_PER_INSERT: Final = 500
# Statements whose parameters are turned into Python lists at a time (bounds their memory).
_STATEMENTS_PER_BLOCK: Final = 40


@functools.lru_cache(maxsize=8)
def _values_insert(table: str, columns: tuple[str, ...], rows: int) -> str:
    """An INSERT of ``rows`` rows that skips stored keys: ``?1`` and ``?2`` are the exchange
    and symbol, bound once for all rows, then each row's integer ``columns``."""
    row = "(" + ", ".join("?" for _ in columns) + ")"
    # WHERE true: without it SQLite would read ON CONFLICT as the start of a join constraint.
    return (
        f"INSERT INTO {table} (exchange, symbol, {', '.join(columns)}) "
        f"SELECT ?1, ?2, * FROM (VALUES {', '.join(row for _ in range(rows))}) "
        "WHERE true ON CONFLICT DO NOTHING"
    )


def _parameters(names: list[str], values: npt.NDArray[np.int64]) -> Iterator[list[object]]:
    """One parameter list per row of ``values``: the instrument's names, then the row."""
    for start in range(0, len(values), _STATEMENTS_PER_BLOCK):
        for row in values[start : start + _STATEMENTS_PER_BLOCK].tolist():
            row[:0] = names
            yield row


class SqliteTickStore:
    """``TickStore`` on a SQLite file (created with its folder if missing)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def backend(self) -> str:
        return "sqlite"

    @property
    def layout(self) -> str:
        return "sqlite"

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SqliteTickStore({str(self._path)!r})"

    # -- connections -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                for pragma in _PRAGMAS:
                    conn.execute(pragma)
            except sqlite3.Error as error:
                raise StorageError(f"cannot open SQLite store {self._path}: {error}") from error
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is stored, or none of it."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StorageError(f"SQLite store {self._path}: {error}") from error
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as error:
            # Also after a failed COMMIT (e.g. the database stayed locked): never leave this
            # thread's connection inside a transaction.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise StorageError(f"SQLite store {self._path}: {error}") from error
            raise

    def _query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise StorageError(f"SQLite store {self._path}: {error}") from error

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- migrations ------------------------------------------------------------------------

    def migrate(self) -> list[AppliedMigration]:
        migrations = load_migrations("sqlite", "sqlite", {})
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        with self._write() as conn:
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
                log.info("applying SQLite migration %04d %s", migration.version, migration.name)
                try:
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                except sqlite3.Error as error:
                    raise MigrationError(
                        f"migration {migration.version:04d} {migration.name} failed on "
                        f"{self._path}: {error}; nothing of it was applied"
                    ) from error
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, migration.checksum, _now_iso()),
                )
            newly = {m.version for m in migrations} - set(applied)
        return [
            AppliedMigration(version, name, applied_at, version in newly)
            for version, name, applied_at in self._query(
                "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
            )
        ]

    # -- writes ----------------------------------------------------------------------------

    def insert_tick(self, tick: TradeTick) -> bool:
        return self.insert_ticks([tick]).inserted == 1

    def insert_ticks(self, ticks: Iterable[TradeTick]) -> InsertResult:
        return insert_by_instrument(self.insert_trades, ticks)

    def insert_trades(self, batch: TradeColumns) -> InsertResult:
        instrument = checked_instrument(batch.instrument)
        good, errors = batch.validated()
        inserted = self._insert_rows("tick_data", TRADE_COLUMNS, instrument, good.data)
        return InsertResult(len(batch), inserted, len(good) - inserted, tuple(errors))

    def insert_quotes(self, batch: QuoteColumns) -> InsertResult:
        instrument = checked_instrument(batch.instrument)
        good, errors = batch.validated()
        inserted = self._insert_rows("quotes", QUOTE_COLUMNS, instrument, good.data)
        return InsertResult(len(batch), inserted, len(good) - inserted, tuple(errors))

    def bulk_trades(self) -> AbstractContextManager[TradeSink]:
        """Each batch stored by ``insert_trades`` when added; what an exception inside the
        ``with`` block interrupts stays stored up to the last batch added (unlike PostgreSQL,
        which keeps back the partitions it was staging)."""
        return each_batch_sink(self.insert_trades)

    def _insert_rows(
        self, table: str, columns: tuple[str, ...], instrument: InstrumentId, data: Any
    ) -> int:
        """Store the rows of a structured array whose ``columns`` are all integers (booleans
        included), skipping keys already stored; return how many were new."""
        if len(data) == 0:
            return 0
        width = len(columns)
        values = np.empty((len(data), width), dtype=np.int64)
        for index, name in enumerate(columns):
            values[:, index] = data[name]
        # Whole statements of _ROWS_PER_INSERT rows, then the rest one row per statement.
        whole = len(values) - len(values) % _ROWS_PER_INSERT
        names = [instrument.exchange, instrument.symbol]
        try:
            with self._write() as conn:
                before = conn.total_changes
                if whole:
                    conn.executemany(
                        _values_insert(table, columns, _ROWS_PER_INSERT),
                        _parameters(names, values[:whole].reshape(-1, _ROWS_PER_INSERT * width)),
                    )
                if whole < len(values):
                    conn.executemany(
                        _values_insert(table, columns, 1), _parameters(names, values[whole:])
                    )
                return conn.total_changes - before
        except StorageError as error:
            raise StorageError(
                f"{error}: batch of {len(data)} rows for {instrument} not stored; rows stored "
                "earlier are intact"
            ) from error

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
        direction = order.value
        rows = self._query(
            "SELECT ts_event, trade_id, price, quantity, side, is_buyer_maker FROM tick_data "
            "WHERE exchange = ? AND symbol = ? AND ts_event >= ? AND ts_event < ? "
            f"ORDER BY ts_event {direction}, trade_id {direction} LIMIT ?",
            (
                instrument.exchange,
                instrument.symbol,
                start_ns,
                end_ns,
                -1 if limit is None else limit,
            ),
        )
        return trades_from_rows(instrument, rows)

    def get_quotes(
        self, instrument: InstrumentId, start_ns: int, end_ns: int, *, order: Order = Order.ASC
    ) -> list[QuoteTick]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        direction = order.value
        rows = self._query(
            "SELECT ts_event, sequence, bid_price, bid_size, ask_price, ask_size FROM quotes "
            "WHERE exchange = ? AND symbol = ? AND ts_event >= ? AND ts_event < ? "
            f"ORDER BY ts_event {direction}, sequence {direction}",
            (instrument.exchange, instrument.symbol, start_ns, end_ns),
        )
        return quotes_from_rows(instrument, rows)

    def latest_price(self, instrument: InstrumentId) -> Decimal | None:
        instrument = checked_instrument(instrument)
        row = (
            self._conn()
            .execute(
                "SELECT price FROM tick_data WHERE exchange = ? AND symbol = ? "
                "ORDER BY ts_event DESC, trade_id DESC LIMIT 1",
                (instrument.exchange, instrument.symbol),
            )
            .fetchone()
        )
        return None if row is None else price_from_raw(row[0])

    def stream_trades(
        self, instrument: InstrumentId, start_ns: int, end_ns: int, *, chunk_rows: int = 100_000
    ) -> Iterator[TradeColumns]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        # Keyset paging on the primary key: each chunk is its own short query, so memory and
        # read locks stay bounded whatever the range.
        select = (
            "SELECT ts_event, trade_id, price, quantity, side, is_buyer_maker FROM tick_data "
            "WHERE exchange = ? AND symbol = ? AND {after} AND ts_event < ? "
            "ORDER BY ts_event, trade_id LIMIT ?"
        )
        first = select.format(after="ts_event >= ?")
        later = select.format(after="(ts_event, trade_id) > (?, ?)")
        names = (instrument.exchange, instrument.symbol)
        rows = self._query(first, (*names, start_ns, end_ns, chunk_rows))
        while rows:
            yield TradeColumns(instrument, np.array(rows, dtype=TRADE_DTYPE))
            if len(rows) < chunk_rows:
                return
            last_ts, last_id = rows[-1][0], rows[-1][1]
            rows = self._query(later, (*names, last_ts, last_id, end_ns, chunk_rows))

    def ohlc(
        self, instrument: InstrumentId, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar]:
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        # Bucket arithmetic of core.bars: open = origin + floor((ts - origin) / width) * width.
        # Timestamps are after 1980, so integer division (truncating) is floor division here.
        # High, low, volume and count come from one grouped scan; open and close from one
        # primary-key seek per bar (8x faster than window functions over every row).
        rows = self._query(
            """
            WITH agg AS (
                SELECT (ts_event - :origin) / :width * :width + :origin AS bucket,
                       max(price) AS high, min(price) AS low, sum(quantity) AS volume,
                       count(*) AS tick_count
                FROM tick_data
                WHERE exchange = :exchange AND symbol = :symbol
                  AND ts_event >= :start AND ts_event < :end
                GROUP BY bucket
            )
            SELECT bucket,
                   (SELECT price FROM tick_data
                    WHERE exchange = :exchange AND symbol = :symbol
                      AND ts_event >= max(bucket, :start) AND ts_event < min(bucket + :width, :end)
                    ORDER BY ts_event, trade_id LIMIT 1),
                   high, low,
                   (SELECT price FROM tick_data
                    WHERE exchange = :exchange AND symbol = :symbol
                      AND ts_event >= max(bucket, :start) AND ts_event < min(bucket + :width, :end)
                    ORDER BY ts_event DESC, trade_id DESC LIMIT 1),
                   volume, tick_count
            FROM agg ORDER BY bucket
            """,
            ohlc_params(instrument, timeframe, start_ns, end_ns),
        )
        return bars_from_rows(instrument, timeframe, rows)

    # -- symbols ---------------------------------------------------------------------------

    def add_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        rows = symbol_rows(symbols, str)
        with self._write() as conn:
            existing = {
                (e, s) for e, s in conn.execute("SELECT exchange, symbol FROM symbols").fetchall()
            }
            conn.executemany(
                "INSERT INTO symbols (exchange, symbol, base_asset, quote_asset, tick_size, "
                "lot_size, status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (exchange, symbol) DO UPDATE SET "
                "base_asset = coalesce(excluded.base_asset, base_asset), "
                "quote_asset = coalesce(excluded.quote_asset, quote_asset), "
                "tick_size = coalesce(excluded.tick_size, tick_size), "
                "lot_size = coalesce(excluded.lot_size, lot_size), "
                "status = excluded.status, source = excluded.source",
                rows,
            )
        return len({(row[0], row[1]) for row in rows} - existing)

    def remove_symbols(self, instruments: Sequence[InstrumentId]) -> int:
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(
                "DELETE FROM symbols WHERE exchange = ? AND symbol = ?",
                [(i.exchange, i.symbol) for i in instruments],
            )
            return conn.total_changes - before

    @property
    def history(self) -> HistoryBook:
        return HistoryBook(_SqliteRunner(self))

    @property
    def bars(self) -> BarBook:
        return BarBook(_SqliteRunner(self))

    def record_gap(self, gap: Gap) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO gaps (exchange, symbol, from_ns, to_ns, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (gap.exchange, gap.symbol, gap.from_ns, gap.to_ns, gap.reason),
            )
            return int(cursor.lastrowid or 0)

    def list_gaps(self, exchange: str | None = None, *, include_filled: bool = False) -> list[Gap]:
        rows = self._query(
            "SELECT id, exchange, symbol, from_ns, to_ns, reason, filled_at IS NOT NULL FROM gaps "
            "WHERE (? IS NULL OR exchange = ?) AND (? OR filled_at IS NULL) "
            "ORDER BY from_ns, id",
            (exchange, exchange, include_filled),
        )
        return [Gap(e, s, f, t, r, id=i, filled=bool(done)) for i, e, s, f, t, r, done in rows]

    def mark_gap_filled(self, gap_id: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE gaps SET filled_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                (gap_id,),
            )

    # -- strategy log ----------------------------------------------------------------------

    def append_strategy_log(self, rows: Sequence[StrategyLogRow]) -> int:
        if not rows:
            return 0
        values = [_log_values(row) for row in rows]
        try:
            with self._write() as conn:
                before = conn.total_changes
                conn.executemany(_LOG_INSERT, values)
                return conn.total_changes - before
        except StorageError as error:
            raise StorageError(
                f"{error}: {len(rows)} strategy-log rows not stored; rows stored earlier are intact"
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
        where = ["strategy_id = ?"]
        params: list[Any] = [strategy_id]
        if account_id is not None:
            where.append("account_id = ?")
            params.append(account_id)
        if since_ns is not None:
            where.append("ts_event >= ?")
            params.append(since_ns)
        if events is not None:
            if not events:
                return []
            where.append(f"event IN ({', '.join('?' for _ in events)})")
            params.extend(events)
        params.append(-1 if limit is None else limit)
        rows = self._query(
            f"{_LOG_SELECT} WHERE {' AND '.join(where)} ORDER BY id {order.value} LIMIT ?", params
        )
        return [_log_row(row) for row in rows]

    def list_symbols(self, exchange: str | None = None) -> list[SymbolInfo]:
        rows = self._query(
            "SELECT exchange, symbol, base_asset, quote_asset, tick_size, lot_size, status, source "
            "FROM symbols WHERE ? IS NULL OR exchange = ? ORDER BY exchange, symbol",
            (exchange, exchange),
        )
        return [
            SymbolInfo(e, s, base, quote, decimal_or_none(tick), decimal_or_none(lot), status, src)
            for e, s, base, quote, tick, lot, status, src in rows
        ]

    # -- maintenance -----------------------------------------------------------------------

    def stats(self) -> StoreStats:
        table_bytes = self._table_bytes()
        series: list[SeriesStats] = []
        for table in ("tick_data", "quotes"):
            rows = self._query(
                f"SELECT exchange, symbol, count(*), min(ts_event), max(ts_event) FROM {table} "
                "GROUP BY exchange, symbol ORDER BY exchange, symbol"
            )
            total_rows = sum(row[2] for row in rows) or 1
            series.extend(
                SeriesStats(
                    table, e, s, n, first, last, table_bytes.get(table, 0) * n // total_rows
                )
                for e, s, n, first, last in rows
            )
        page_size, page_count = (
            self._query("PRAGMA page_size")[0][0],
            self._query("PRAGMA page_count")[0][0],
        )
        return StoreStats("sqlite", "sqlite", page_size * page_count, tuple(series), ())

    def _table_bytes(self) -> dict[str, int]:
        """Bytes per table from the dbstat table when SQLite was built with it."""
        try:
            rows = self._conn().execute(
                "SELECT name, sum(pgsize) FROM dbstat WHERE name IN ('tick_data', 'quotes') "
                "GROUP BY name"
            )
            return {name: int(size) for name, size in rows}
        except sqlite3.Error:
            page_size = self._query("PRAGMA page_size")[0][0]
            page_count = self._query("PRAGMA page_count")[0][0]
            return {"tick_data": page_size * page_count}

    def compress(self, older_than_ns: int) -> CompressResult:
        raise NotAvailableError(
            "SQLite has no compression: this backend stores ticks as plain rows clustered by "
            "symbol and time, and `VACUUM` only reclaims free pages. To compress old ticks, set "
            "DATABASE_URL to a PostgreSQL server with the TimescaleDB extension and run "
            "`data-manager db migrate`."
        )


class _SqliteRunner:
    """The history tables' statements on this store's connections."""

    def __init__(self, store: SqliteTickStore) -> None:
        self._store = store

    def write(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._store._write() as conn:
            return conn.execute(sql, params).fetchall()

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._store._write() as conn:
            conn.executemany(sql, rows)

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._store._query(sql, params)

    def atomic(self, work: Callable[[Execute], T]) -> T:
        with self._store._write() as conn:
            return work(lambda sql, params: conn.execute(sql, params).fetchall())


def _statements(script: str) -> Iterator[str]:
    """Split a SQL script into complete statements (``executescript`` would commit first)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement and not all(
                part.strip().startswith("--") or not part.strip() for part in statement.splitlines()
            ):
                yield statement
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise MigrationError(f"migration ends in an incomplete statement: {buffer.strip()[:80]}")


def _log_values(row: StrategyLogRow) -> tuple[Any, ...]:
    details = msgspec.json.encode(row.details).decode() if row.details else None
    return strategy_log_values(row, money=decimal_text, details=details)


def _log_row(values: Sequence[Any]) -> StrategyLogRow:
    details = values[-1]
    return strategy_log_row(values, msgspec.json.decode(details) if details else {})


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
