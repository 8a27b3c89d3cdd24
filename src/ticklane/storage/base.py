"""The ``TickStore`` protocol every storage backend implements, and the records it returns.

Ranges are half-open, ``[start_ns, end_ns)``, in UTC nanoseconds. A trade is identified by
``(exchange, symbol, ts_event, trade_id)``: a venue's trade keeps its id and its timestamp, so
storing the same trade twice adds nothing (PostgreSQL requires the partitioning column in every
unique key, hence ``ts_event`` in it; SQLite uses the same key so both backends behave alike).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import msgspec

from ticklane.core.bars import Bar, Timeframe
from ticklane.core.columnar import QuoteColumns, RowError, TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId
from ticklane.core.ticks import QuoteTick, TradeTick

if TYPE_CHECKING:  # history.py reads rows with storage.rows, which imports this module
    from ticklane.storage.bars import BarBook
    from ticklane.storage.history import HistoryBook


class Order(Enum):
    """Row order of a query: ascending for backtests, descending for live look-ups."""

    ASC = "ASC"
    DESC = "DESC"


class InsertResult(msgspec.Struct, frozen=True):
    """What a batch insert did: rows received, newly stored, already present, and rejected."""

    received: int
    inserted: int
    duplicates: int
    rejected: tuple[RowError, ...] = ()

    def __add__(self, other: InsertResult) -> InsertResult:
        return InsertResult(
            self.received + other.received,
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
        )


EMPTY_RESULT = InsertResult(0, 0, 0)


class TradeSink(Protocol):
    """Where a bulk load puts its trade batches (``TickStore.bulk_trades``).

    ``add`` takes batches of any instruments in any order; ``result`` is what
    ``insert_trades`` would have reported for them, summed over the batches (rejected rows by
    position in their own batch), known once the ``with`` block has ended normally.
    """

    def add(self, batch: TradeColumns) -> None: ...

    @property
    def result(self) -> InsertResult: ...


class EachBatchSink:
    """A ``TradeSink`` that stores every batch at once with ``insert_trades``: what it stored
    stays stored whatever happens later in the ``with`` block."""

    def __init__(self, insert_trades: Callable[[TradeColumns], InsertResult]) -> None:
        self._insert_trades = insert_trades
        self._result = EMPTY_RESULT

    def add(self, batch: TradeColumns) -> None:
        self._result = self._result + self._insert_trades(batch)

    @property
    def result(self) -> InsertResult:
        return self._result


@contextmanager
def each_batch_sink(
    insert_trades: Callable[[TradeColumns], InsertResult],
) -> Iterator[EachBatchSink]:
    yield EachBatchSink(insert_trades)


class AppliedMigration(msgspec.Struct, frozen=True):
    version: int
    name: str
    applied_at: str
    newly_applied: bool


class SymbolInfo(msgspec.Struct, frozen=True):
    """A registered instrument; tick and lot sizes are exact decimals when the venue told us."""

    exchange: str
    symbol: str
    base_asset: str | None = None
    quote_asset: str | None = None
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    status: str = "active"
    source: str = "manual"

    @property
    def instrument_id(self) -> InstrumentId:
        return InstrumentId(self.exchange, self.symbol)


class SeriesStats(msgspec.Struct, frozen=True):
    """Stored rows of one table for one instrument."""

    table: str
    exchange: str
    symbol: str
    rows: int
    first_ts: int
    last_ts: int
    bytes_estimate: int


class PartitionInfo(msgspec.Struct, frozen=True):
    """One partition (native PostgreSQL) or chunk (TimescaleDB) of a tick table."""

    table: str
    name: str
    range_start: int
    range_end: int
    bytes: int
    rows_estimate: int
    compressed: bool | None  # None: the backend has no compression


class StoreStats(msgspec.Struct, frozen=True):
    backend: str
    layout: str
    total_bytes: int
    series: tuple[SeriesStats, ...]
    partitions: tuple[PartitionInfo, ...]


class CompressResult(msgspec.Struct, frozen=True):
    chunks_compressed: int
    bytes_before: int
    bytes_after: int


class Gap(msgspec.Struct, frozen=True):
    """A stretch of a live feed whose trades are missing: none arrived between ``from_ns`` and
    ``to_ns`` (UTC ns, both exclusive) and the venue's history could not supply them."""

    exchange: str
    symbol: str
    from_ns: int
    to_ns: int
    reason: str
    id: int | None = None  # set once stored
    filled: bool = False

    def __post_init__(self) -> None:
        if self.to_ns < self.from_ns:
            raise BadDataError(
                f"gap of {self.exchange} {self.symbol}: to_ns {self.to_ns} is before from_ns "
                f"{self.from_ns}",
                field="to_ns",
            )


StrategyLogEvent = Literal["signal", "order", "fill", "reject", "state"]
STRATEGY_LOG_EVENTS: Final[tuple[StrategyLogEvent, ...]] = (
    "signal",
    "order",
    "fill",
    "reject",
    "state",
)


# The columns both backends write and read, in this order (``id`` is read only, first).
STRATEGY_LOG_COLUMNS: Final = (
    "ts_event",
    "strategy_id",
    "strategy_hash",
    "account_id",
    "exchange",
    "symbol",
    "event",
    "run_id",
    "seq",
    "side",
    "price",
    "quantity",
    "client_order_id",
    "fee",
    "cash",
    "position",
    "equity",
    "realized_pnl",
    "details",
)


class StrategyLogRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``live_strategy_log``: a paper-trading decision, order, fill or account state.

    ``price`` is scaled by ``PRICE_SCALE`` and ``quantity`` by ``QUANTITY_SCALE`` (the table
    stores the scaled integers); money (``fee``, ``cash``, ``position``, ``equity``,
    ``realized_pnl``) is exact ``Decimal``. ``details`` is a JSON object (decimals in it as
    strings). ``run_id`` and ``seq`` name the writing session and the row's number in it:
    ``(run_id, seq)`` is unique, so writing a row twice stores it once. ``id`` is set once
    stored and orders the rows as they were written.
    """

    ts_event: int
    strategy_id: str
    strategy_hash: str
    account_id: str
    exchange: str
    symbol: str
    event: StrategyLogEvent
    run_id: str | None = None
    seq: int | None = None
    side: int | None = None
    price: int | None = None
    quantity: int | None = None
    client_order_id: str | None = None
    fee: Decimal | None = None
    cash: Decimal | None = None
    position: Decimal | None = None
    equity: Decimal | None = None
    realized_pnl: Decimal | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        if self.event not in STRATEGY_LOG_EVENTS:
            raise BadDataError(
                f"strategy log: event {self.event!r} is not one of "
                f"{', '.join(STRATEGY_LOG_EVENTS)}",
                field="event",
                value=self.event,
            )


class TickStore(Protocol):
    """Tick storage: trades, quotes, the symbol registry and the strategy log.

    Every method is synchronous and thread-safe; async callers run it with
    ``asyncio.to_thread``. A failed call leaves what was stored before intact.
    """

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        ...

    @property
    def layout(self) -> str:
        """How tick tables are laid out: ``"sqlite"``, ``"partitioned"`` or ``"timescaledb"``."""
        ...

    def migrate(self) -> list[AppliedMigration]:
        """Apply pending migrations (idempotent); return every applied migration."""
        ...

    def insert_tick(self, tick: TradeTick) -> bool:
        """Store one trade; True if it was new."""
        ...

    def insert_ticks(self, ticks: Iterable[TradeTick]) -> InsertResult:
        """Store trade objects of any instruments (grouped internally)."""
        ...

    def insert_trades(self, batch: TradeColumns) -> InsertResult:
        """Store a columnar batch duplicate-safe; bad rows are skipped and reported."""
        ...

    def insert_quotes(self, batch: QuoteColumns) -> InsertResult:
        """Store best bid/ask quotes duplicate-safe, keyed by (ts_event, sequence)."""
        ...

    def bulk_trades(self) -> AbstractContextManager[TradeSink]:
        """A sink for a large load of trades (a backfill), used as ``with store.bulk_trades()
        as sink: sink.add(batch)``; ``sink.result`` after the block sums what was stored.

        Stored rows and counts are those of ``insert_trades`` on the same batches. How an
        exception inside the block ends differs by backend:

        - PostgreSQL, native partitions: trades of a time partition that did not exist when
          its first rows came are staged out of sight and stored, each partition in one step,
          only when the block ends normally; an exception stores none of them (and leaves no
          partition and no staging table). Trades of existing partitions are stored batch by
          batch, as ``insert_trades`` does, and stay stored.
        - SQLite and TimescaleDB: every batch is stored by ``insert_trades`` when added and
          stays stored whatever happens later.
        """
        ...

    def get_ticks(
        self,
        instrument: InstrumentId,
        start_ns: int,
        end_ns: int,
        *,
        order: Order = Order.ASC,
        limit: int | None = None,
    ) -> list[TradeTick]:
        """Trades in ``[start_ns, end_ns)`` as objects, ordered by (ts_event, trade_id)."""
        ...

    def get_quotes(
        self, instrument: InstrumentId, start_ns: int, end_ns: int, *, order: Order = Order.ASC
    ) -> list[QuoteTick]: ...

    def latest_price(self, instrument: InstrumentId) -> Decimal | None:
        """Price of the most recent stored trade, or None when there is none."""
        ...

    def stream_trades(
        self, instrument: InstrumentId, start_ns: int, end_ns: int, *, chunk_rows: int = 100_000
    ) -> Iterator[TradeColumns]:
        """Trades of ``[start_ns, end_ns)`` in ascending chunks of at most ``chunk_rows``."""
        ...

    def ohlc(
        self, instrument: InstrumentId, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar]:
        """Bars computed in SQL from the stored trades; intervals without trades are absent."""
        ...

    def add_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        """Register or update symbols; return how many were new."""
        ...

    def remove_symbols(self, instruments: Sequence[InstrumentId]) -> int:
        """Unregister symbols (their stored ticks stay); return how many were removed."""
        ...

    def list_symbols(self, exchange: str | None = None) -> list[SymbolInfo]: ...

    def record_gap(self, gap: Gap) -> int:
        """Store a gap the live feed could not fill; return its id."""
        ...

    def list_gaps(self, exchange: str | None = None, *, include_filled: bool = False) -> list[Gap]:
        """Recorded gaps in time order (open ones only unless ``include_filled``)."""
        ...

    def mark_gap_filled(self, gap_id: int) -> None:
        """Record that a gap's trades were fetched since."""
        ...

    def append_strategy_log(self, rows: Sequence[StrategyLogRow]) -> int:
        """Store strategy-log rows in one transaction (all or none); return how many were new
        (a row whose ``(run_id, seq)`` is already stored is skipped)."""
        ...

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
        """Rows of ``strategy_id`` (and ``account_id``, ``ts_event >= since_ns``, ``events``
        when given) in the order they were written (``Order.DESC``: newest first), at most
        ``limit`` of them."""
        ...

    def stats(self) -> StoreStats: ...

    @property
    def history(self) -> HistoryBook:
        """Backfill jobs, the cost ledger and provenance, in this store's database."""
        ...

    @property
    def bars(self) -> BarBook:
        """Bars as a vendor published them (Databento's ohlcv schemas)."""
        ...

    def compress(self, older_than_ns: int) -> CompressResult:
        """Compress chunks wholly older than the cut-off.

        Raises ``NotAvailableError``, saying what the backend offers, where it cannot.
        """
        ...

    def close(self) -> None: ...
