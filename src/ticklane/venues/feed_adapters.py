"""What the feed runner needs to know of each venue: connections, parsers, and how to carry
out the actions a parser asks for (book snapshots, resubscriptions, trade backfills).

Backfill rules (protocols.md 6):

- Binance: the missing trade ids from ``GET /api/v3/historicalTrades?fromId=``, paged by 1000.
- Kraken: ``GET /0/public/Trades?since=`` from the last trade seen before the gap, paged by
  the reply's ``last`` cursor, kept when their ``trade_id`` is one of the missing ones.
- Kraken Futures: the ``trade_snapshot`` a resubscription sends carries the last 100 trades and
  closes short gaps by itself; a longer one is fetched from the public executions history
  (``/api/history/v3/market/{symbol}/executions``) between the trades around the gap.

Whatever the history cannot supply becomes a ``Gap``, and is counted and stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Final, cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ticklane.config.settings import VenueEndpoints
from ticklane.core.errors import ConfigError
from ticklane.core.records import MarketRecord, TradeRecord
from ticklane.core.time import NANOS_PER_MILLI, NANOS_PER_SECOND
from ticklane.storage.base import Gap
from ticklane.venues.binance import subscribe as binance_subscribe
from ticklane.venues.binance.parse import BinanceParser
from ticklane.venues.binance.rest import BinanceRestClient
from ticklane.venues.common import ActionKind, FeedAction, FrameParser
from ticklane.venues.feed import ActionResult, ConnectionPlan
from ticklane.venues.kraken import subscribe as kraken_subscribe
from ticklane.venues.kraken.parse import KrakenParser
from ticklane.venues.kraken.rest import KrakenRestClient
from ticklane.venues.kraken_futures import subscribe as futures_subscribe
from ticklane.venues.kraken_futures.parse import KrakenFuturesParser
from ticklane.venues.kraken_futures.rest import KrakenFuturesRestClient

log = logging.getLogger(__name__)

PROVIDERS: Final = ("binance", "kraken", "kraken_futures")
_BINANCE_CHANNELS: Final = (
    binance_subscribe.Channel.TRADE,
    binance_subscribe.Channel.BOOK_TICKER,
    binance_subscribe.Channel.DEPTH,
)
BINANCE_LIFETIME_S: Final = 23.5 * 3600  # rotate half an hour before the 24 h limit
_MAX_BACKFILL_PAGES: Final = 50  # at most 50,000 trades fetched to close one gap


def _unfilled(action: FeedAction, missing: int, why: str) -> Gap:
    return Gap(
        action.exchange,
        action.symbol,
        action.after_ts,
        time.time_ns(),
        f"{missing} trades ({action.first_missing}..{action.last_missing}) not recovered: {why}",
    )


def _backfilled(action: FeedAction, found: list[MarketRecord], missing: int) -> ActionResult:
    """The trades a backfill recovered, and a gap for those the history did not have."""
    gaps = []
    if len(found) < missing:
        gaps.append(_unfilled(action, missing - len(found), "not in the venue's history"))
    return ActionResult(records=found, gaps=gaps, recovered=len(found))


class BinanceAdapter:
    """Binance spot: combined streams in the URL, split over connections of 1024 streams."""

    exchange = "binance"
    control_rate = 4.0  # under the 5 control frames per second the venue allows

    def __init__(
        self,
        symbols: Sequence[str],
        endpoints: VenueEndpoints,
        *,
        demo: bool = False,
        max_lifetime_s: float | None = BINANCE_LIFETIME_S,
        depth_limit: int = 1000,
    ) -> None:
        ws_url, rest_url = _urls(self.exchange, endpoints, demo)
        self.symbols = list(symbols)
        self.max_lifetime_s = max_lifetime_s
        self._ws_url = ws_url
        self._rest = BinanceRestClient(rest_url)
        self._depth_limit = depth_limit

    def plans(self) -> list[ConnectionPlan]:
        streams = binance_subscribe.stream_names(self.symbols, _BINANCE_CHANNELS)
        return [
            self._plan(f"binance#{index}", group)
            for index, group in enumerate(binance_subscribe.split_streams(streams))
        ]

    def _plan(self, name: str, streams: Sequence[str]) -> ConnectionPlan:
        return ConnectionPlan(
            name,
            binance_subscribe.combined_stream_url(streams, self._ws_url),
            symbols=tuple(sorted({stream.split("@")[0].upper() for stream in streams})),
        )

    async def narrow(self, plan: ConnectionPlan, answer: str) -> ConnectionPlan | None:
        """The plan without the symbols whose streams the venue refuses in a URL (HTTP 400
        ``invalid stream``, which does not say which): found by opening connections for
        halves of the symbols, about 2 log2(n) handshakes per refused symbol."""
        query = parse_qs(urlsplit(plan.url).query).get("streams", [""])[0]
        by_symbol: dict[str, list[str]] = {}
        for stream in query.split("/"):
            by_symbol.setdefault(stream.split("@")[0], []).append(stream)
        refused = await self._refused(list(by_symbol), by_symbol)
        if not refused:
            return None  # each half is accepted: the refusal was about something else
        for symbol, why in refused.items():
            log.warning("%s: the venue refuses %s: %s", plan.name, symbol.upper(), why)
        kept = [s for symbol, streams in by_symbol.items() if symbol not in refused
                for s in streams]  # fmt: skip
        if not kept:
            names = ", ".join(symbol.upper() for symbol in refused)
            raise ConfigError(f"{plan.name}: the venue refuses every symbol ({names}): {answer}")
        return self._plan(plan.name, kept)

    async def _refused(self, symbols: list[str], streams: dict[str, list[str]]) -> dict[str, str]:
        """The symbols among ``symbols`` (known to hold a refused one) the venue refuses."""
        if len(symbols) == 1:
            return {symbols[0]: await self._refusal(streams[symbols[0]]) or "refused"}
        found: dict[str, str] = {}
        half = len(symbols) // 2
        for part in (symbols[:half], symbols[half:]):
            answer = await self._refusal([s for symbol in part for s in streams[symbol]])
            if answer is not None:
                found |= {part[0]: answer} if len(part) == 1 else await self._refused(part, streams)
        return found

    async def _refusal(self, streams: list[str]) -> str | None:
        """The venue's answer if it refuses a connection to ``streams``, else None."""
        url = binance_subscribe.combined_stream_url(streams, self._ws_url)
        try:
            async with connect(url, open_timeout=10.0, compression=None):
                return None
        except InvalidStatus as refusal:
            if not 400 <= refusal.response.status_code < 500:
                raise
            return bytes(refusal.response.body).decode("utf-8", "replace")[:300]

    def new_parser(self) -> FrameParser:
        return BinanceParser()

    def after_connect(self, parser: FrameParser) -> list[MarketRecord]:
        cast(BinanceParser, parser).reset_books()  # a new diff chain needs a new snapshot
        return []

    async def perform(self, action: FeedAction, parser: FrameParser) -> ActionResult:
        binance = cast(BinanceParser, parser)
        if action.kind is ActionKind.FETCH_BOOK_SNAPSHOT:
            snapshot = await self._rest.depth_snapshot(action.symbol, self._depth_limit)
            return ActionResult(
                records=list(binance.apply_snapshot(action.symbol, snapshot, time.time_ns()))
            )
        if action.kind is ActionKind.BACKFILL_TRADES:
            return await self._backfill(action)
        if action.kind is ActionKind.RECONNECT:
            return ActionResult(reconnect=True)
        return ActionResult()

    async def _backfill(self, action: FeedAction) -> ActionResult:
        wanted = range(action.first_missing, action.last_missing + 1)
        found: list[MarketRecord] = []
        next_id = action.first_missing
        for _ in range(_MAX_BACKFILL_PAGES):
            if next_id > action.last_missing:
                break
            page = await self._rest.historical_trades(action.symbol, from_id=next_id)
            if not page:
                break
            found.extend(trade for trade in page if trade.trade_id in wanted)
            next_id = page[-1].trade_id + 1
        return _backfilled(action, found, len(wanted))

    async def aclose(self) -> None:
        await self._rest.aclose()


class KrakenAdapter:
    """Kraken spot, WebSocket v2: trade, ticker (L1) and book at a chosen depth."""

    exchange = "kraken"
    control_rate = 4.0
    max_lifetime_s: float | None = None

    def __init__(
        self,
        symbols: Sequence[str],
        endpoints: VenueEndpoints,
        *,
        demo: bool = False,
        book_depth: int = 10,
    ) -> None:
        ws_url, rest_url = _urls(self.exchange, endpoints, demo)
        self.symbols = list(symbols)
        self._ws_url = ws_url
        self._rest = KrakenRestClient(rest_url)
        self._depth = book_depth
        self._req_id = 0

    def plans(self) -> list[ConnectionPlan]:
        channel = kraken_subscribe.Channel
        frames = (
            kraken_subscribe.subscribe_message(channel.TRADE, self.symbols, self._next_id()),
            kraken_subscribe.subscribe_message(channel.TICKER, self.symbols, self._next_id()),
            kraken_subscribe.subscribe_message(
                channel.BOOK, self.symbols, self._next_id(), depth=self._depth
            ),
        )
        return [ConnectionPlan("kraken#0", self._ws_url, frames, tuple(self.symbols))]

    def new_parser(self) -> FrameParser:
        return KrakenParser(book_depth=self._depth)

    def after_connect(self, parser: FrameParser) -> list[MarketRecord]:
        cast(KrakenParser, parser).reset_books()  # the new subscription sends new snapshots
        return []

    async def perform(self, action: FeedAction, parser: FrameParser) -> ActionResult:
        if action.kind is ActionKind.RESUBSCRIBE_BOOK:
            book = kraken_subscribe.Channel.BOOK
            return ActionResult(
                send=[
                    kraken_subscribe.unsubscribe_message(
                        book, [action.symbol], self._next_id(), depth=self._depth
                    ),
                    kraken_subscribe.subscribe_message(
                        book, [action.symbol], self._next_id(), depth=self._depth
                    ),
                ]
            )
        if action.kind is ActionKind.BACKFILL_TRADES:
            return await self._backfill(action)
        if action.kind is ActionKind.RECONNECT:
            return ActionResult(reconnect=True)
        return ActionResult()

    async def _backfill(self, action: FeedAction) -> ActionResult:
        wanted = range(action.first_missing, action.last_missing + 1)
        found: dict[int, TradeRecord] = {}
        since: str | int = action.after_ts // NANOS_PER_SECOND  # seconds: a step before the gap
        for _ in range(_MAX_BACKFILL_PAGES):
            page = await self._rest.trades(action.symbol, since=since)
            for trade in page.trades:
                if trade.trade_id in wanted:
                    found[trade.trade_id] = trade
            if len(found) == len(wanted) or not page.trades or not page.last:
                break
            if page.trades[-1].trade_id > action.last_missing:
                break
            since = page.last
        records: list[MarketRecord] = [found[key] for key in sorted(found)]
        return _backfilled(action, records, len(wanted))

    def _next_id(self) -> int:
        self._req_id += 1
        return self._req_id

    async def narrow(self, plan: ConnectionPlan, answer: str) -> ConnectionPlan | None:
        """None: subscriptions are refused per symbol in the stream, not at the handshake."""
        return None

    async def aclose(self) -> None:
        await self._rest.aclose()


class KrakenFuturesAdapter:
    """Kraken Futures, WebSocket v1: trade (after its snapshot), ticker and book."""

    exchange = "kraken_futures"
    control_rate = 4.0
    max_lifetime_s: float | None = None

    def __init__(
        self, symbols: Sequence[str], endpoints: VenueEndpoints, *, demo: bool = False
    ) -> None:
        ws_url, rest_url = _urls(self.exchange, endpoints, demo)
        self.symbols = list(symbols)
        self._ws_url = ws_url
        self._rest = KrakenFuturesRestClient(rest_url)

    def plans(self) -> list[ConnectionPlan]:
        feed = futures_subscribe.Feed
        frames = tuple(
            futures_subscribe.subscribe_message(name, self.symbols)
            for name in (feed.TRADE, feed.TICKER, feed.BOOK)
        )
        return [ConnectionPlan("kraken_futures#0", self._ws_url, frames, tuple(self.symbols))]

    def new_parser(self) -> FrameParser:
        return KrakenFuturesParser()

    def after_connect(self, parser: FrameParser) -> list[MarketRecord]:
        cast(KrakenFuturesParser, parser).reset_books()
        return []

    async def perform(self, action: FeedAction, parser: FrameParser) -> ActionResult:
        if action.kind is ActionKind.RESUBSCRIBE_BOOK:
            book = futures_subscribe.Feed.BOOK
            return ActionResult(
                send=[
                    futures_subscribe.unsubscribe_message(book, [action.symbol]),
                    futures_subscribe.subscribe_message(book, [action.symbol]),
                ]
            )
        if action.kind is ActionKind.BACKFILL_TRADES:
            return await self._backfill(action)
        if action.kind is ActionKind.RECONNECT:
            return ActionResult(reconnect=True)
        return ActionResult()

    async def _backfill(self, action: FeedAction) -> ActionResult:
        # Sequence numbers do not map to the history's trade uids: what the gap missed is
        # every execution after the last trade seen and before the one that showed the gap.
        missing = action.last_missing - action.first_missing + 1
        until = action.before_ts if action.before_ts else time.time_ns()
        found: list[MarketRecord] = []
        token: str | None = None
        for _ in range(_MAX_BACKFILL_PAGES):
            page = await self._rest.executions(
                action.symbol,
                since_ms=action.after_ts // NANOS_PER_MILLI,
                before_ms=until // NANOS_PER_MILLI + 1,
                continuation_token=token,
            )
            found.extend(t for t in page.trades if action.after_ts < t.ts_event < until)
            token = page.continuation_token
            if not token or len(found) >= missing:
                break
        return _backfilled(action, found[:missing], missing)

    async def narrow(self, plan: ConnectionPlan, answer: str) -> ConnectionPlan | None:
        """None: subscriptions are refused per symbol in the stream, not at the handshake."""
        return None

    async def aclose(self) -> None:
        await self._rest.aclose()


VenueFeed = BinanceAdapter | KrakenAdapter | KrakenFuturesAdapter


def make_adapter(
    provider: str, symbols: Sequence[str], endpoints: VenueEndpoints, *, demo: bool = False
) -> VenueFeed:
    """The adapter of ``provider`` for ``symbols``; ConfigError listing the providers."""
    if provider == "binance":
        return BinanceAdapter(symbols, endpoints, demo=demo)
    if provider == "kraken":
        return KrakenAdapter(symbols, endpoints, demo=demo)
    if provider == "kraken_futures":
        return KrakenFuturesAdapter(symbols, endpoints, demo=demo)
    raise ConfigError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")


def _urls(exchange: str, endpoints: VenueEndpoints, demo: bool) -> tuple[str, str]:
    if not demo:
        return endpoints.ws_url, endpoints.rest_url
    if endpoints.demo_ws_url is None or endpoints.demo_rest_url is None:
        raise ConfigError(
            f"{exchange}: --demo needs venues.{exchange}.demo_ws_url and demo_rest_url"
        )
    return endpoints.demo_ws_url, endpoints.demo_rest_url
