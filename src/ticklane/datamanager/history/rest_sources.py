"""Trade history from the venues' public REST APIs: Binance ``aggTrades``, Kraken ``Trades``
and Kraken Futures ``executions``. Free but slow (1,000 trades a request at a few requests a
second), so they come after the archive; they reach back to data the archive lacks (Kraken)
and cover today, which the archive publishes only tomorrow.

A chunk is a UTC day (or the part of one the range covers). Requests are paced by the
venue's configured ``requests_per_second`` and retried as ``source_tools`` says; rows are
collected into batches of ``batch_rows`` and only rows inside the chunk are kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from functools import partial
from typing import Final, Generic, TypeVar

import httpx

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId
from ticklane.core.records import TradeRecord
from ticklane.core.time import NANOS_PER_HOUR, NANOS_PER_MILLI
from ticklane.datamanager.history.source import (
    Batch,
    Chunk,
    ChunkReport,
    Estimate,
    ProvenanceKind,
)
from ticklane.datamanager.history.source_tools import (
    Pacer,
    Retrying,
    day_chunks,
    records_to_columns,
)
from ticklane.venues.binance import rest as binance_rest
from ticklane.venues.binance import symbols as binance_symbols
from ticklane.venues.http import RestClient
from ticklane.venues.kraken import rest as kraken_rest
from ticklane.venues.kraken import symbols as kraken_symbols
from ticklane.venues.kraken_futures import rest as futures_rest
from ticklane.venues.kraken_futures import symbols as futures_symbols

R = TypeVar("R", bound=RestClient)

PAGE_SIZE: Final = 1000
WINDOW_MS: Final = NANOS_PER_HOUR // NANOS_PER_MILLI  # one hour: Binance's old window rule


class _RestSource(ABC, Generic[R]):
    """The shared part: identity, chunks, batching, filtering and the venue client (closed
    with the source); subclasses make the client and page a chunk.

    Options:
        base_url: the venue's ``rest_url`` (default: its public one).
        requests_per_second: pace (``BackfillConfig.requests_per_second`` of the venue;
            default ``default_requests_per_second``).
        retries: attempts after a transient failure or a rate limit.
        client: an ``httpx.AsyncClient`` to share (not closed here).
        batch_rows: trades per yielded batch.
        backoff_s: the first backoff when the venue gave no ``Retry-After``.
        page_size: trades asked per request (the venue's maximum, 1,000, by default).
    """

    name = ""
    exchange = ""
    default_url = ""
    default_requests_per_second = 1.0

    def __init__(
        self,
        base_url: str | None = None,
        *,
        requests_per_second: float | None = None,
        retries: int = 5,
        client: httpx.AsyncClient | None = None,
        batch_rows: int = 10_000,
        backoff_s: float = 0.5,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if requests_per_second is None:
            requests_per_second = self.default_requests_per_second
        self._retrying = Retrying(
            self.name, retries=retries, pacer=Pacer(requests_per_second), backoff_s=backoff_s
        )
        self._batch_rows = batch_rows
        self._page_size = page_size
        self._rest = self._client(base_url or self.default_url, client)

    @abstractmethod
    def _client(self, base_url: str, client: httpx.AsyncClient | None) -> R:
        """The venue's REST client."""

    async def aclose(self) -> None:
        """Close the venue client (and its HTTP client if it opened one)."""
        await self._rest.aclose()

    @property
    def kind(self) -> ProvenanceKind:
        return ProvenanceKind.REST

    @property
    def paid(self) -> bool:
        return False

    @property
    def whole_files(self) -> bool:
        return False

    def unsupported(self, exchange: str, symbol: str) -> str | None:
        if exchange != self.exchange:
            return f"{self.name} serves {self.exchange} only, not {exchange}"
        try:
            self._normalize(symbol)
        except BadDataError as error:
            return f"{self.name}: {error}"
        return None

    def chunks(self, exchange: str, symbol: str, start_ns: int, end_ns: int) -> list[Chunk]:
        return day_chunks(exchange, symbol, start_ns, end_ns)

    async def estimate(self, chunk: Chunk) -> Estimate:
        """Unknown before fetching: a REST history does not say how many trades a day has."""
        return Estimate(records=None, bytes=None, cost_usd=Decimal(0))

    async def fetch(self, chunk: Chunk, report: ChunkReport) -> AsyncGenerator[Batch, None]:
        instrument = InstrumentId.of(self.exchange, self._normalize(chunk.symbol))
        report.detail = self._detail(instrument)
        pending: list[TradeRecord] = []
        async for page in self._pages(instrument.symbol, chunk):
            report.records_seen += len(page)
            pending.extend(r for r in page if chunk.start_ns <= r.ts_event < chunk.end_ns)
            if len(pending) >= self._batch_rows:
                yield records_to_columns(instrument, pending)
                pending = []
        if pending:
            yield records_to_columns(instrument, pending)

    @abstractmethod
    def _normalize(self, symbol: str) -> str:
        """Our symbol for the venue's spelling; ``BadDataError`` if it is not one."""

    @abstractmethod
    def _detail(self, instrument: InstrumentId) -> str:
        """The provenance detail: the endpoint read."""

    @abstractmethod
    def _pages(self, symbol: str, chunk: Chunk) -> AsyncIterator[list[TradeRecord]]:
        """The chunk's trades page by page, in time order, until one reaches the chunk end."""


def _past_end(page: list[TradeRecord], chunk: Chunk) -> bool:
    return any(record.ts_event >= chunk.end_ns for record in page)


def _ceil_div(value: int, divisor: int) -> int:
    return -(-value // divisor)


class BinanceRestSource(_RestSource[binance_rest.BinanceRestClient]):
    """Binance spot trades from ``/api/v3/historicalTrades``, with the ids of the ``@trade``
    stream and the archive's ``trades`` files, so the same trade fetched from any of them is
    stored once. ``historicalTrades`` pages by id only: the chunk's first trade id is found
    with ``/api/v3/aggTrades`` by ``startTime``/``endTime`` windows of at most ``window_ms``
    (its ``f`` field), then ``fromId`` pages follow (weight 25 each: the default pace keeps
    under Binance's 6,000 a minute). Options as ``_RestSource``."""

    name = "binance-rest"
    exchange = binance_rest.EXCHANGE

    default_url = binance_rest.DEFAULT_REST_URL
    default_requests_per_second = 3.0
    _window_ms = WINDOW_MS  # aggTrades windows searched for the first trade id

    def _client(
        self, base_url: str, client: httpx.AsyncClient | None
    ) -> binance_rest.BinanceRestClient:
        return binance_rest.BinanceRestClient(base_url, client=client)

    def _normalize(self, symbol: str) -> str:
        return binance_symbols.normalize(symbol)

    def _detail(self, instrument: InstrumentId) -> str:
        return f"{self._rest.base_url}/api/v3/historicalTrades symbol={instrument.symbol}"

    async def _pages(self, symbol: str, chunk: Chunk) -> AsyncIterator[list[TradeRecord]]:
        from_id = await self._first_trade_id(symbol, chunk)
        while from_id is not None:
            page = await self._retrying.call(
                f"historicalTrades {symbol} fromId={from_id}",
                partial(
                    self._rest.historical_trades, symbol, from_id=from_id, limit=self._page_size
                ),
            )
            if not page:
                return
            yield page
            if _past_end(page, chunk) or len(page) < self._page_size:
                return  # past the chunk, or the newest trade reached
            from_id = page[-1].trade_id + 1

    async def _first_trade_id(self, symbol: str, chunk: Chunk) -> int | None:
        """The id of the chunk's first trade, window by window; None when it has none."""
        first_ms = _ceil_div(chunk.start_ns, NANOS_PER_MILLI)
        last_ms = (chunk.end_ns - 1) // NANOS_PER_MILLI  # endTime is inclusive
        window_start = first_ms
        while window_start <= last_ms:
            window_end = min(window_start + self._window_ms - 1, last_ms)
            found = await self._retrying.call(
                f"aggTrades {symbol} startTime={window_start} endTime={window_end}",
                partial(self._rest.first_trade_id, symbol, window_start, window_end),
            )
            if found is not None:
                return found
            window_start = window_end + 1
        return None


class KrakenRestSource(_RestSource[kraken_rest.KrakenRestClient]):
    """Kraken spot ``/0/public/Trades``, paged by the ``since`` cursor from the chunk start.
    Options as ``_RestSource``."""

    name = "kraken-rest"
    exchange = kraken_rest.EXCHANGE

    default_url = kraken_rest.DEFAULT_REST_URL
    default_requests_per_second = 1.0

    def _client(
        self, base_url: str, client: httpx.AsyncClient | None
    ) -> kraken_rest.KrakenRestClient:
        return kraken_rest.KrakenRestClient(base_url, client=client)

    def _normalize(self, symbol: str) -> str:
        return kraken_symbols.normalize(symbol)

    def _detail(self, instrument: InstrumentId) -> str:
        return f"{self._rest.base_url}/0/public/Trades pair={instrument.symbol}"

    async def _pages(self, symbol: str, chunk: Chunk) -> AsyncIterator[list[TradeRecord]]:
        cursor: str | int = chunk.start_ns // 1_000_000_000  # Unix seconds start the cursor
        previous: set[int] = set()
        while True:
            since = cursor
            page = await self._retrying.call(
                f"Trades {symbol} since={since}",
                partial(self._rest.trades, symbol, since=since, count=self._page_size),
            )
            # A trade at the cursor's exact time may come again on the next page.
            fresh = [record for record in page.trades if record.trade_id not in previous]
            previous = {record.trade_id for record in page.trades}
            yield fresh
            if (
                _past_end(page.trades, chunk)
                or len(page.trades) < self._page_size
                or not page.last
                or page.last == str(cursor)
            ):
                return
            cursor = page.last


class KrakenFuturesRestSource(_RestSource[futures_rest.KrakenFuturesRestClient]):
    """Kraken Futures public ``executions`` history in ``[since, before)``, ascending, paged
    by ``continuation_token``. Options as ``_RestSource``."""

    name = "kraken-futures-rest"
    exchange = futures_rest.EXCHANGE

    default_url = futures_rest.DEFAULT_REST_URL
    default_requests_per_second = 2.0

    def _client(
        self, base_url: str, client: httpx.AsyncClient | None
    ) -> futures_rest.KrakenFuturesRestClient:
        return futures_rest.KrakenFuturesRestClient(base_url, client=client)

    def _normalize(self, symbol: str) -> str:
        return futures_symbols.normalize(symbol)

    def _detail(self, instrument: InstrumentId) -> str:
        return (
            f"{self._rest.base_url}{futures_rest.HISTORY_PATH}/market/{instrument.symbol}"
            "/executions"
        )

    async def _pages(self, symbol: str, chunk: Chunk) -> AsyncIterator[list[TradeRecord]]:
        since_ms = chunk.start_ns // NANOS_PER_MILLI
        before_ms = _ceil_div(chunk.end_ns, NANOS_PER_MILLI)
        token: str | None = None
        while True:
            current = token
            page = await self._retrying.call(
                f"executions {symbol} since={since_ms} before={before_ms} token={current}",
                partial(
                    self._rest.executions,
                    symbol,
                    since_ms=since_ms,
                    before_ms=before_ms,
                    continuation_token=current,
                    count=self._page_size,
                ),
            )
            yield page.trades
            if page.continuation_token in (None, current) or _past_end(page.trades, chunk):
                return
            token = page.continuation_token
