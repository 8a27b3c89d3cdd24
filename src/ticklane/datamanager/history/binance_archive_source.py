"""Binance spot trades from the public data archive (data.binance.vision): free, one verified
zip per UTC day, or per calendar month when a chunk covers a whole month.

Each zip is checked against its published SHA-256 and its CRCs before a row is read, so a
broken file yields nothing; it is then parsed by the file importer (pyarrow, bounded blocks),
which reads both the ``trades`` and the ``aggTrades`` layout and both timestamp units
(milliseconds, microseconds from 2025-01-01 on).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import zipfile
import zlib
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final

import httpx

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_DAY, datetime_to_ns, ns_to_datetime
from ticklane.datamanager.history.source import (
    Batch,
    Chunk,
    ChunkReport,
    Estimate,
    ProvenanceKind,
)
from ticklane.datamanager.history.source_tools import Retrying, check_range, day_start, within
from ticklane.datamanager.importer import ImportChunk, read_trade_file
from ticklane.venues.binance.archive import (
    ARCHIVE_URL,
    ArchiveClient,
    ArchiveFile,
    ArchiveKind,
    Downloaded,
    NotPublished,
    daily_file,
    monthly_file,
    not_published_error,
)
from ticklane.venues.binance.symbols import normalize

log = logging.getLogger(__name__)

EXCHANGE: Final = "binance"
NAME: Final = "binance-archive"


class BinanceArchiveSource:
    """The archive as a ``HistorySource``.

    Options:
        base_url: the archive's root (``BackfillConfig.binance_archive_url``).
        kind: ``ArchiveKind.TRADES`` (every trade, ids as the ``@trade`` stream; default) or
            ``ArchiveKind.AGG_TRADES`` (aggregated trades, ids as ``@aggTrade``).
        retries: attempts after a transient failure (network, 5xx, rate limit).
        use_monthly: a chunk covering a whole published month is one monthly zip; when the
            monthly zip answers 404 its days are fetched one by one.
        work_dir: where zips are downloaded (a temporary folder inside it, removed after).
        chunk_rows: rows per parsed block; bounds memory.
        now: the clock deciding "not published yet" versus "missing" (tests set it).
    """

    def __init__(
        self,
        base_url: str = ARCHIVE_URL,
        *,
        kind: ArchiveKind = ArchiveKind.TRADES,
        retries: int = 5,
        client: httpx.AsyncClient | None = None,
        use_monthly: bool = True,
        work_dir: Path | None = None,
        chunk_rows: int = 200_000,
        backoff_s: float = 1.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._archive = ArchiveClient(base_url, client=client)
        self._kind = kind
        self._retrying = Retrying(NAME, retries=retries, backoff_s=backoff_s)
        self._use_monthly = use_monthly
        self._work_dir = work_dir
        self._chunk_rows = chunk_rows
        self._now = now or (lambda: datetime.now(UTC))
        # The last zip read in full, kept until the next download or aclose: fill-gaps asks
        # for several stretches of one day, and a day's zip is worth one download.
        self._kept: Downloaded | None = None
        self._kept_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def name(self) -> str:
        return NAME

    @property
    def kind(self) -> ProvenanceKind:
        return ProvenanceKind.ARCHIVE

    @property
    def paid(self) -> bool:
        return False

    @property
    def whole_files(self) -> bool:
        return True

    def unsupported(self, exchange: str, symbol: str) -> str | None:
        if exchange != EXCHANGE:
            return f"{NAME} serves Binance spot only, not {exchange}"
        try:
            normalize(symbol)
        except BadDataError as error:
            return f"{NAME}: {error}"
        return None

    def chunks(self, exchange: str, symbol: str, start_ns: int, end_ns: int) -> list[Chunk]:
        """UTC days; a whole calendar month whose monthly zip is due is one chunk."""
        check_range(start_ns, end_ns)
        chunks = []
        cursor = start_ns
        while cursor < end_ns:
            month_end = self._month_end(cursor)
            if month_end is not None and month_end <= end_ns:
                chunks.append(Chunk(exchange, symbol, cursor, month_end))
                cursor = month_end
                continue
            stop = min(day_start(cursor) + NANOS_PER_DAY, end_ns)
            chunks.append(Chunk(exchange, symbol, cursor, stop))
            cursor = stop
        return chunks

    async def estimate(self, chunk: Chunk) -> Estimate:
        """The zip's size (HEAD); None when the file is not published."""
        file = self._files(chunk)[0]
        size = await self._retrying.call(f"HEAD {file.name}", lambda: self._archive.size(file))
        return Estimate(records=None, bytes=size, cost_usd=Decimal(0))

    async def fetch(self, chunk: Chunk, report: ChunkReport) -> AsyncGenerator[Batch, None]:
        instrument = InstrumentId.of(EXCHANGE, normalize(chunk.symbol))
        files = self._files(chunk)
        details: list[str] = []
        while files:
            file = files.pop(0)
            got = self._reusable(file) or await self._download(file, self._directory())
            if isinstance(got, NotPublished):
                if file.period == "monthly":
                    files = self._daily_files(chunk) + files  # not yet: its days instead
                    continue
                raise not_published_error(got, self._now())
            details.append(f"{got.file.name} sha256={got.sha256}")
            report.detail = "; ".join(details)
            async for batch in self._read(got, instrument, chunk, report):
                yield batch
            self._keep(got)

    async def aclose(self) -> None:
        self._kept = None
        if self._kept_dir is not None:
            self._kept_dir.cleanup()
            self._kept_dir = None
        await self._archive.aclose()

    def _directory(self) -> Path:
        if self._kept_dir is None:
            self._kept_dir = tempfile.TemporaryDirectory(
                prefix="ticklane-archive-", dir=self._work_dir
            )
        return Path(self._kept_dir.name)

    def _reusable(self, file: ArchiveFile) -> Downloaded | None:
        kept = self._kept
        if kept is not None and kept.file == file and kept.path.exists():
            return kept
        return None

    def _keep(self, got: Downloaded) -> None:
        if self._kept is not None and self._kept.path != got.path:
            self._kept.path.unlink(missing_ok=True)
        self._kept = got

    # --- internals -----------------------------------------------------------------------------

    def _month_end(self, cursor: int) -> int | None:
        """The next month's start when ``cursor`` starts a month whose zip should be out."""
        moment = ns_to_datetime(cursor)
        if not self._use_monthly or cursor % NANOS_PER_DAY or moment.day != 1:
            return None
        label = f"{moment.year:04d}-{moment.month:02d}"
        if ArchiveFile("-", self._kind, "monthly", label).published_at() > self._now():
            return None
        following = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
        return datetime_to_ns(following)

    def _files(self, chunk: Chunk) -> list[ArchiveFile]:
        start = ns_to_datetime(chunk.start_ns)
        if self._month_end(chunk.start_ns) == chunk.end_ns:
            return [monthly_file(chunk.symbol, self._kind, start.year, start.month)]
        return self._daily_files(chunk)

    def _daily_files(self, chunk: Chunk) -> list[ArchiveFile]:
        days = range(day_start(chunk.start_ns), chunk.end_ns, NANOS_PER_DAY)
        return [daily_file(chunk.symbol, self._kind, _day(ns)) for ns in days]

    async def _download(self, file: ArchiveFile, directory: Path) -> Downloaded | NotPublished:
        got = await self._retrying.call(
            f"download {file.name}", lambda: self._archive.download(file, directory)
        )
        if isinstance(got, Downloaded):
            await asyncio.to_thread(_check_zip, got.path, got.file.name)
        return got

    async def _read(
        self, got: Downloaded, instrument: InstrumentId, chunk: Chunk, report: ChunkReport
    ) -> AsyncGenerator[Batch, None]:
        """The zip's rows inside the chunk. Parsing runs in a thread one block ahead of the
        caller, so that storing a block overlaps parsing the next (memory: two blocks)."""
        blocks = await asyncio.to_thread(
            read_trade_file,
            got.path,
            exchange=EXCHANGE,
            symbol=instrument.symbol,
            chunk_rows=self._chunk_rows,
        )
        ahead = asyncio.ensure_future(asyncio.to_thread(_next_block, blocks))
        try:
            while (block := await ahead) is not None:
                ahead = asyncio.ensure_future(asyncio.to_thread(_next_block, blocks))
                report.records_seen += block.rows_read
                if block.errors:
                    report.reject(block.errors)
                for batch in block.batches:
                    kept = within(batch, chunk)
                    if len(kept):
                        yield kept
        finally:
            # The thread may still be reading the zip: let it finish before the file goes.
            if not ahead.done():
                await asyncio.wait([ahead])
            if not ahead.cancelled() and ahead.exception() is not None:
                # Raised by the loop already, or moot because the caller stopped reading.
                log.debug("%s: reading %s ended: %r", NAME, got.file.name, ahead.exception())


def _day(ts_ns: int) -> date:
    return ns_to_datetime(ts_ns).date()


def _next_block(blocks: Iterator[ImportChunk]) -> ImportChunk | None:
    return next(blocks, None)


def _check_zip(path: Path, name: str) -> None:
    """Every member's CRC, so that a broken zip is refused before any of its rows is used."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise BadDataError(
            f"binance archive: {name} is not a readable zip: {error}", field="path", value=name
        ) from None
    if bad is not None:
        raise BadDataError(
            f"binance archive: {name}: member {bad} fails its CRC check (corrupt zip)",
            field="path",
            value=name,
        )
