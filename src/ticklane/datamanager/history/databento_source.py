"""Databento's historical API as a ``HistorySource`` (paid: estimate before fetching), and
local DBN files converted the same way (``dbn_file_batches``).

Our instruments are found through the config's ``databento.symbols``: ``cme:ESH1`` is, say,
raw symbol ``ESH1`` in ``GLBX.MDP3``. A chunk is one UTC day of one instrument, downloaded with
``timeseries.get_range`` into a temporary file and decoded from it block by block, so memory
stays bounded whatever the day's size.

Databento filters a range on ``ts_recv`` (when the schema has one): a trade stamped a few
microseconds before midnight and received after it comes with the next day's chunk. Those
rows are kept (dropping them would lose them for good), so a chunk's rows may start a little
before its ``start_ns``.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncGenerator, Iterator, Mapping
from pathlib import Path
from typing import Final

import msgspec

from ticklane.config.settings import DatabentoConfig, DatabentoSymbol
from ticklane.core.errors import BadDataError, PermanentError
from ticklane.core.identifiers import check_exchange
from ticklane.core.time import format_ns
from ticklane.datamanager.history.source import (
    BarBatch,
    Batch,
    Chunk,
    ChunkReport,
    Estimate,
    ProvenanceKind,
)
from ticklane.datamanager.history.source_tools import Retrying, day_chunks
from ticklane.venues.databento.client import DatabentoClient, Request
from ticklane.venues.databento.dbnfile import DbnFile
from ticklane.venues.databento.parse import (
    Converted,
    DbnConverter,
    InstrumentMap,
    bars_from_records,
)
from ticklane.venues.databento.schemas import SCHEMAS, Output

log = logging.getLogger(__name__)

NAME: Final = "databento"
BATCH_ROWS: Final = 200_000


class DatabentoSource:
    """Databento as a history source.

    Options:
        config: the ``[databento]`` section (key, gateway, our instruments).
        schema: what to fetch: ``trades`` (default), ``tbbo`` (trades and the quotes before
            them), ``mbp-1``, ``mbp-10`` (level 0), ``bbo-1s``, ``bbo-1m`` (quotes), ``mbo``
            (its trades), ``ohlcv-1s``, ``ohlcv-1m``, ``ohlcv-1h``, ``ohlcv-1d`` (bars, stored
            in the ``bars`` table).
        dataset: use this dataset for every instrument instead of the configured one.
        retries: attempts after a transient failure (network, 5xx, rate limit).
        work_dir: where downloads are written (a temporary folder inside it, removed after).
        batch_rows: records decoded per block; bounds memory and batch size.
        client: a ready ``DatabentoClient`` (default: one built from ``config`` on first use).
    """

    def __init__(
        self,
        config: DatabentoConfig,
        *,
        schema: str = "trades",
        dataset: str | None = None,
        retries: int = 3,
        backoff_s: float = 1.0,
        work_dir: Path | None = None,
        batch_rows: int = BATCH_ROWS,
        client: DatabentoClient | None = None,
    ) -> None:
        if schema not in SCHEMAS:
            raise PermanentError(
                f"unknown databento schema {schema!r}; ticklane stores {', '.join(SCHEMAS)}"
            )
        self._config = config
        self._schema = schema
        self._dataset = dataset
        self._retrying = Retrying(NAME, retries=retries, backoff_s=backoff_s)
        self._work_dir = work_dir
        self._batch_rows = batch_rows
        self._client = client
        self._estimates: dict[Chunk, Estimate] = {}

    @property
    def name(self) -> str:
        return NAME

    @property
    def kind(self) -> ProvenanceKind:
        return ProvenanceKind.DATABENTO

    @property
    def paid(self) -> bool:
        return True

    @property
    def whole_files(self) -> bool:
        return True

    @property
    def schema(self) -> str:
        return self._schema

    def unsupported(self, exchange: str, symbol: str) -> str | None:
        entry = self._entry(exchange, symbol)
        if entry is not None and entry.stype_in == "parent":
            # A parent (ES.FUT) resolves to every contract and spread: one symbol of ours
            # would hold the prices of many instruments.
            return (
                f"databento: {exchange}:{symbol} uses stype_in = parent, which mixes many "
                "contracts; configure a contract (raw_symbol) or a continuous symbol (ES.c.0)"
            )
        if entry is not None:
            return None
        configured = ", ".join(
            f"{s.exchange}:{s.symbol} ({s.dataset} {s.raw_symbol or s.symbol})"
            for s in self._config.symbols
        )
        if not configured:
            return (
                f"databento: {exchange}:{symbol} is not configured, and no instrument is; "
                "add it to databento.symbols in the config (exchange, symbol, dataset, raw_symbol)"
            )
        return (
            f"databento: {exchange}:{symbol} is not configured; configured: {configured}. "
            "Add it to databento.symbols in the config"
        )

    def chunks(self, exchange: str, symbol: str, start_ns: int, end_ns: int) -> list[Chunk]:
        """UTC days: the unit Databento's costs and our resumable jobs are counted in."""
        return day_chunks(exchange, symbol, start_ns, end_ns)

    async def estimate(self, chunk: Chunk) -> Estimate:
        request = self.request(chunk)
        client = self._get_client()
        estimate = await self._retrying.call(
            f"estimate {request}", lambda: asyncio.to_thread(client.estimate, request)
        )
        self._estimates[chunk] = estimate
        return estimate

    async def fetch(self, chunk: Chunk, report: ChunkReport) -> AsyncGenerator[Batch, None]:
        request = self.request(chunk)
        report.detail = str(request)
        estimate = self._estimates.pop(chunk, None)  # the job estimated it just before
        if estimate is None:
            estimate = await self.estimate(chunk)
            self._estimates.pop(chunk, None)
        report.cost_usd = estimate.cost_usd
        client = self._get_client()
        with tempfile.TemporaryDirectory(prefix="ticklane-databento-", dir=self._work_dir) as tmp:
            path = Path(tmp) / f"{_file_stem(request, chunk)}.dbn.zst"
            try:
                await self._retrying.call(
                    f"download {request} {format_ns(chunk.start_ns)}",
                    lambda: asyncio.to_thread(client.download, request, path),
                )
            except BadDataError:
                # The body arrived but is not valid DBN: it was billed all the same.
                report.paid = path.exists() and path.stat().st_size > 0
                raise
            report.paid = True  # Databento bills the download, whatever happens next
            symbols = {request.symbols[0]: chunk.symbol}
            blocks = dbn_file_batches(
                path, exchange=chunk.exchange, symbols=symbols, batch_rows=self._batch_rows
            )
            while (converted := await asyncio.to_thread(next, blocks, None)) is not None:
                report.records_seen += converted.records
                if converted.rejected:
                    report.reject(converted.errors)
                    report.rejected_count += converted.rejected - len(converted.errors)
                for trades in converted.trades:
                    yield trades
                for quotes in converted.quotes:
                    yield quotes
                if converted.bars:
                    yield BarBatch(converted.bars)

    async def aclose(self) -> None:
        self._estimates.clear()

    def request(self, chunk: Chunk) -> Request:
        """The Databento request for ``chunk``; PermanentError when it is not configured."""
        entry = self._entry(chunk.exchange, chunk.symbol)
        problem = self.unsupported(chunk.exchange, chunk.symbol)
        if entry is None or problem is not None:
            raise PermanentError(problem)
        return Request(
            dataset=self._dataset or entry.dataset,
            schema=self._schema,
            symbols=[entry.raw_symbol or entry.symbol],
            stype_in=entry.stype_in,
            start_ns=chunk.start_ns,
            end_ns=chunk.end_ns,
        )

    def _entry(self, exchange: str, symbol: str) -> DatabentoSymbol | None:
        wanted = exchange.strip().lower()
        for entry in self._config.symbols:
            if check_exchange(entry.exchange) == wanted and entry.symbol == symbol:
                return entry
        return None

    def _get_client(self) -> DatabentoClient:
        if self._client is None:
            self._client = DatabentoClient(self._config)
        return self._client


class FileBlock(Converted):
    """One block of a DBN file converted: batches, rejects, and how many records it held."""

    def __init__(self, converted: Converted, records: int) -> None:
        super().__init__()
        self.trades, self.quotes, self.bars = converted.trades, converted.quotes, converted.bars
        self.errors, self.rejected = converted.errors, converted.rejected
        self.records = records


def dbn_file_batches(
    path: Path,
    *,
    exchange: str,
    symbols: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[FileBlock]:
    """A local DBN file (``.dbn`` or ``.dbn.zst``, as downloaded from Databento) converted to
    our columns, one block of at most ``batch_rows`` records at a time.

    ``exchange`` is where the instruments are stored; ``symbols`` maps the file's raw symbols
    to ours (None: keep them). Every schema of ``SCHEMAS``: the ohlcv ones give bars. A file
    that is not DBN, is corrupt or truncated raises ``BadDataError`` naming it (after the
    blocks before the fault).
    """
    with DbnFile(path) as dbn:
        spec = dbn.spec
        instruments = InstrumentMap.from_metadata(dbn.metadata, exchange, symbols)
        if spec.output is not Output.BARS:
            converter = DbnConverter(spec, instruments)  # names rows by their place in the file
            for block in dbn.blocks(batch_rows):
                yield FileBlock(converter.convert(block), len(block))
            return
        first = 0  # the file's record number of the block's first record
        for block in dbn.blocks(batch_rows):
            converted = Converted()
            converted.bars = bars_from_records(spec, block, instruments, converted)
            # A rejected bar is named by its record number in the file, not in the block.
            converted.errors = [
                msgspec.structs.replace(error, position=first + error.position)
                for error in converted.errors
            ]
            first += len(block)
            yield FileBlock(converted, len(block))


def _file_stem(request: Request, chunk: Chunk) -> str:
    day = format_ns(chunk.start_ns)[:10]
    return f"{request.dataset}-{request.schema}-{day}".replace("/", "_")
