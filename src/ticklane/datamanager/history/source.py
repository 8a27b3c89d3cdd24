"""What every history source offers the backfill jobs: split a range into chunks, estimate a
chunk's size and cost, and fetch it as columnar batches.

A *chunk* is the unit of work a job records as done: once its batches are all stored it is
never fetched again, so a job killed mid-way resumes at the first chunk not done. Sources
choose chunks that match how the data is served (a day file of the Binance archive, a day of
Databento records, a day of REST pages), so a chunk is also the unit of cost.

Provenance: every source says which kind of origin it is (``ProvenanceKind``); the job
records, for each chunk stored, the source, the kind and a ``detail`` the source fills in
(e.g. the archive file's name and SHA-256, or the Databento dataset and schema).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

import msgspec

from ticklane.core.bars import Bar
from ticklane.core.columnar import QuoteColumns, RowError, TradeColumns
from ticklane.core.errors import NoDataError, PermanentError


class ProvenanceKind(StrEnum):
    """Where stored ticks came from."""

    LIVE = "live"  # data-manager serve
    ARCHIVE = "archive"  # a venue's public data archive (data.binance.vision)
    REST = "rest"  # a venue's REST trade history
    DATABENTO = "databento"  # Databento's historical API
    IMPORT = "import"  # data-manager import of a user's file


class SourceHasNoDataError(PermanentError, NoDataError):
    """This source does not have the chunk (an archive file not published, a range before
    the source's history begins); another source may have it."""


class Chunk(msgspec.Struct, frozen=True):
    """One unit of work: the trades (or quotes) of one instrument in ``[start_ns, end_ns)``."""

    exchange: str
    symbol: str
    start_ns: int
    end_ns: int


class Estimate(msgspec.Struct, frozen=True):
    """What fetching a chunk would bring and cost; None where the source cannot say before
    fetching (a REST history does not know how many trades a day holds)."""

    records: int | None
    bytes: int | None
    cost_usd: Decimal  # Decimal("0") for a free source


class ChunkReport:
    """Filled in by ``HistorySource.fetch`` while it runs; read by the job when the chunk is
    stored. Mutable on purpose: the source learns these as it goes."""

    def __init__(self) -> None:
        self.records_seen = 0  # records the source read (stored or not)
        self.rejected: list[RowError] = []  # rows the source could not convert (first 1,000)
        self.rejected_count = 0
        self.detail = ""  # provenance detail, e.g. "BTCUSDT-trades-2024-01-01.zip sha256=..."
        self.cost_usd = Decimal(0)  # what the request costs (paid sources)
        self.paid = False  # a paid download completed: its cost is spent, whatever follows
        # Set by a source that delegates to another (the cheapest-first chain): who served it.
        self.served_by: str | None = None
        self.served_kind: ProvenanceKind | None = None

    def clear(self) -> None:
        """Forget what a source that handed the chunk over had noted."""
        self.__init__()  # type: ignore[misc]

    def reject(self, errors: list[RowError]) -> None:
        self.rejected_count += len(errors)
        room = 1_000 - len(self.rejected)
        if room > 0:
            self.rejected.extend(errors[:room])


class BarBatch(msgspec.Struct, frozen=True):
    """Bars a source published (Databento's ohlcv schemas), stored in the ``bars`` table."""

    bars: list[Bar]


Batch = TradeColumns | QuoteColumns | BarBatch


class HistorySource(Protocol):
    """A source of historical ticks. Errors follow ``core.errors``: ``ConfigError`` (fix the
    setup), ``PermanentError`` (the request is wrong, e.g. an unknown symbol or dataset),
    ``TransientError``/``RateLimitedError`` (retry later), ``BadDataError`` (the data is
    corrupt: a checksum mismatch, a broken zip or DBN file), each naming what and where."""

    @property
    def name(self) -> str:
        """Short name used on the command line and in the job table, e.g. ``binance-archive``."""
        ...

    @property
    def kind(self) -> ProvenanceKind: ...

    @property
    def paid(self) -> bool:
        """True when requests cost money (estimate before fetching, check the budget)."""
        ...

    @property
    def whole_files(self) -> bool:
        """True when a chunk's rows come from a file already downloaded, in quick succession:
        the store may then hold them back and load the chunk in bulk (``bulk_trades``). A
        source paced request by request keeps its rows stored as they come."""
        ...

    def unsupported(self, exchange: str, symbol: str) -> str | None:
        """None when this source can serve the instrument, else why not (shown to the user)."""
        ...

    def chunks(self, exchange: str, symbol: str, start_ns: int, end_ns: int) -> list[Chunk]:
        """``[start_ns, end_ns)`` split into the chunks this source fetches, in time order,
        covering the range exactly."""
        ...

    async def estimate(self, chunk: Chunk) -> Estimate: ...

    def fetch(self, chunk: Chunk, report: ChunkReport) -> AsyncGenerator[Batch, None]:
        """The chunk's ticks as batches (each of one instrument, rows within the chunk's
        range), in time order, filling ``report`` as it goes. Memory stays bounded: batches
        are produced while reading, never after loading the whole chunk."""
        ...

    async def aclose(self) -> None: ...
