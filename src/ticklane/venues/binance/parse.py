"""Binance spot frames -> ``TradeRecord`` / ``QuoteRecord`` / ``BookRecord`` (protocols.md 1.2).

``BinanceParser.parse`` takes combined-stream frames (``{"stream": ..., "data": ...}``) and
raw-stream payloads alike. The combined fast path reads the stream name from the frame's first
bytes and decodes the whole frame with the typed decoder for that stream in one pass; any other
shape goes through a probe decode first.

Conventions:

- ``@trade``: ``trade_id`` = ``t``; the aggressor is SELL when ``m`` (buyer is maker) is true;
  ``ts_event`` = trade time ``T``. ``@aggTrade`` the same with ``trade_id`` = the agg id ``a``
  (a separate id space: do not mix the two streams for one symbol).
- Trade ids are per symbol increasing (1.7): a repeat or a step back is ``out_of_order`` and
  dropped; a jump is a ``gap``, published, with a ``BACKFILL_TRADES`` action for the ids missed.
- ``@bookTicker`` -> ``QuoteRecord`` with ``sequence`` = ``u``; spot frames have no event time,
  so ``ts_event`` = ``ts_recv`` unless the frame carries ``E``.
- ``@depth``: fed to the symbol's ``BinanceBookSync``; a ``FETCH_BOOK_SNAPSHOT`` action asks
  the runner for ``GET /api/v3/depth``, whose body goes to ``apply_snapshot``.
- Kline, ticker and partial-depth streams are not ours to normalize: ignored, not errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import Side, check_symbol
from ticklane.core.records import BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.venues.binance import schemas
from ticklane.venues.binance.book import BinanceBookSync, DiffOutcome, SnapshotOutcome
from ticklane.venues.binance.schemas import AggTrade, BookTicker, DepthSnapshot, DepthUpdate, Trade
from ticklane.venues.binance.symbols import normalize
from ticklane.venues.common import ActionKind, ActionQueue, FeedAction, ParseErrors, Reason
from ticklane.venues.numbers import NANOS_PER_MILLI, ScaledMemo, price_raw, quantity_raw

EXCHANGE: Final = "binance"
_PREFIX: Final = b'{"stream":"'
_SELL: Final = int(Side.SELL)
_BUY: Final = int(Side.BUY)
_IGNORED_STREAMS: Final = ("kline", "ticker", "miniTicker", "avgPrice", "rollingWindow")
Handler = Callable[[Any, bytes, int, list[MarketRecord]], None]
_logger = logging.getLogger(__name__)


class BinanceParser:
    """Normalizes the frames of one Binance connection; keeps the books and trade-id state.

    ``time_unit_ns``: 1,000,000 for millisecond stream times (the default), 1,000 when the URL
    asked for ``timeUnit=MICROSECOND``. ``log_interval_s``: at most one log line per reason in
    that many seconds.
    """

    def __init__(
        self,
        *,
        time_unit_ns: int = NANOS_PER_MILLI,
        log_interval_s: float = 10.0,
        max_book_buffer: int = 10_000,
    ) -> None:
        self.exchange = EXCHANGE
        self.errors = ParseErrors(EXCHANGE, _logger, log_interval_s=log_interval_s)
        self.books: dict[str, BinanceBookSync] = {}
        self._unit = time_unit_ns
        self._max_buffer = max_book_buffer
        self._actions = ActionQueue()
        self._last_trade: dict[str, int] = {}
        self._last_agg: dict[str, int] = {}
        self._last_trade_ts: dict[str, int] = {}
        self._last_agg_ts: dict[str, int] = {}
        self._symbols: dict[str, str] = {}
        self._prices = ScaledMemo(price_raw)  # trade and quote prices repeat: see ScaledMemo
        self._sizes = ScaledMemo(quantity_raw)
        # Stream-name suffix -> typed whole-frame decoder and handler: one decode per frame.
        self._fast: dict[bytes, tuple[msgspec.json.Decoder[Any], Handler]] = {
            b"trade": (schemas.TRADE_FRAME, self._trade),
            b"bookTicker": (schemas.BOOK_TICKER_FRAME, self._quote),
            b"depth@100ms": (schemas.DEPTH_FRAME, self._depth),
            b"depth": (schemas.DEPTH_FRAME, self._depth),
            b"aggTrade": (schemas.AGG_TRADE_FRAME, self._agg_trade),
        }

    def take_actions(self) -> list[FeedAction]:
        """Snapshots to fetch, trades to backfill, reconnects, oldest first."""
        return self._actions.take()

    def reset_books(self) -> None:
        """After a reconnect every book must be re-synced from a new snapshot (1.3)."""
        for sync in self.books.values():
            sync.reset()

    def parse(self, frame: bytes | str, ts_recv: int) -> list[MarketRecord]:
        """The records of one frame. Bad input is counted in ``errors``, never raised."""
        raw = frame.encode() if isinstance(frame, str) else frame
        out: list[MarketRecord] = []
        try:
            if raw.startswith(_PREFIX):
                end = raw.find(b'"', 11)
                at = raw.find(b"@", 11, end)
                fast = self._fast.get(raw[at + 1 : end]) if at > 0 else None
                if fast is not None:
                    decoder, handler = fast
                    handler(decoder.decode(raw).data, raw, ts_recv, out)
                    return out
            self._parse_slow(raw, ts_recv, out)
        except msgspec.DecodeError as error:
            self.errors.add(Reason.MALFORMED, "", str(error), raw)
        except Exception as error:  # a shape no rule foresaw must not stop the feed
            self.errors.add(Reason.MALFORMED, "", f"unexpected {error!r}", raw)
        return out

    def apply_snapshot(
        self, symbol: str, snapshot: DepthSnapshot | bytes, ts_recv: int
    ) -> list[BookRecord]:
        """Start ``symbol``'s book from a REST depth snapshot (a body or a decoded one)."""
        out: list[BookRecord] = []
        sync = self._book(normalize(symbol))
        bad_before = sync.bad_levels
        try:
            if isinstance(snapshot, bytes):
                snapshot = schemas.DEPTH_SNAPSHOT.decode(snapshot)
            outcome = sync.on_snapshot(snapshot, ts_recv, out)
        except msgspec.DecodeError as error:
            self.errors.add(Reason.MALFORMED, symbol, f"depth snapshot: {error}")
            outcome = SnapshotOutcome.TOO_OLD
        if sync.bad_levels != bad_before:
            detail = f"{sync.bad_levels - bad_before} level(s) not representable"
            self.errors.add(Reason.BAD_VALUE, symbol, f"depth snapshot: {detail}")
        if outcome is SnapshotOutcome.TOO_OLD or sync.needs_snapshot:
            self._request_snapshot(sync, "snapshot older than the buffered diffs")
        return out

    def _parse_slow(self, raw: bytes, ts_recv: int, out: list[MarketRecord]) -> None:
        probe = schemas.PROBE.decode(raw)
        if probe.stream is not None and probe.data:
            self._stream(probe.stream, probe.data, raw, ts_recv, out)
        elif probe.event is not None:
            self._event(probe.event, raw, raw, ts_recv, out)
        elif probe.update_id is not None:
            self._quote(schemas.BOOK_TICKER.decode(raw), raw, ts_recv, out)
        elif probe.code is not None:
            self.errors.add(Reason.VENUE_ERROR, "", f"code {probe.code}: {probe.msg}", raw)
        elif probe.id is None and not probe.result:
            self.errors.add(Reason.UNKNOWN_TYPE, "", "not a Binance stream frame", raw)
        # else: {"result": ..., "id": ...} acknowledges a request: nothing to record.

    def _stream(
        self, stream: str, data: msgspec.Raw, raw: bytes, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        _, _, kind = stream.partition("@")
        if stream == "!serverShutdown":
            self._event("serverShutdown", data, raw, ts_recv, out)
        elif kind == "trade":
            self._trade(schemas.TRADE.decode(data), raw, ts_recv, out)
        elif kind == "bookTicker":
            self._quote(schemas.BOOK_TICKER.decode(data), raw, ts_recv, out)
        elif kind in ("depth", "depth@100ms", "depth@1000ms"):
            self._depth(schemas.DEPTH_UPDATE.decode(data), raw, ts_recv, out)
        elif kind == "aggTrade":
            self._agg_trade(schemas.AGG_TRADE.decode(data), raw, ts_recv, out)
        elif not kind.startswith(_IGNORED_STREAMS) and not kind.startswith("depth"):
            self.errors.add(Reason.UNKNOWN_TYPE, "", f"stream {stream!r}", raw)

    def _event(
        self,
        event: str,
        payload: bytes | msgspec.Raw,
        raw: bytes,
        ts_recv: int,
        out: list[MarketRecord],
    ) -> None:
        if event == "trade":
            self._trade(schemas.TRADE.decode(payload), raw, ts_recv, out)
        elif event == "depthUpdate":
            self._depth(schemas.DEPTH_UPDATE.decode(payload), raw, ts_recv, out)
        elif event == "aggTrade":
            self._agg_trade(schemas.AGG_TRADE.decode(payload), raw, ts_recv, out)
        elif event == "serverShutdown":
            self._actions.add(FeedAction(ActionKind.RECONNECT, EXCHANGE, "", "serverShutdown"))
        elif not event.startswith(("kline", "24hr", "1h", "4h", "1d", "avgPrice")):
            self.errors.add(Reason.UNKNOWN_TYPE, "", f"event {event!r}", raw)

    def _symbol(self, wire: str, raw: bytes) -> str | None:
        symbol = self._symbols.get(wire)
        if symbol is None:
            try:
                symbol = self._symbols[wire] = check_symbol(wire)
            except BadDataError as error:
                self.errors.add(Reason.BAD_VALUE, "", str(error), raw)
                return None
        return symbol

    def _trade(self, trade: Trade, raw: bytes, ts_recv: int, out: list[MarketRecord]) -> None:
        symbol = self._symbols.get(trade.symbol) or self._symbol(trade.symbol, raw)
        if symbol is None:
            return
        trade_id = trade.trade_id
        ts_event = trade.trade_time * self._unit
        last_ids = self._last_trade
        if last_ids.get(symbol, trade_id - 1) == trade_id - 1:  # the usual case: the next id
            last_ids[symbol] = trade_id
            self._last_trade_ts[symbol] = ts_event
        elif not self._in_order(last_ids, self._last_trade_ts, symbol, trade_id, ts_event, raw):
            return
        try:
            price = self._prices[trade.price]
            quantity = quantity_raw(trade.quantity)
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, symbol, str(error), raw)
            return
        if price <= 0 or quantity <= 0:
            self.errors.add(Reason.BAD_VALUE, symbol, "price and quantity must be > 0", raw)
            return
        out.append(
            TradeRecord(
                EXCHANGE,
                symbol,
                ts_event,
                ts_recv,
                trade_id,
                price,
                quantity,
                _SELL if trade.buyer_is_maker else _BUY,
            )
        )

    def _agg_trade(
        self, trade: AggTrade, raw: bytes, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(trade.symbol, raw)
        if symbol is None:
            return
        ts_event = trade.trade_time * self._unit
        if not self._in_order(
            self._last_agg, self._last_agg_ts, symbol, trade.agg_id, ts_event, raw
        ):
            return
        try:
            price = self._prices[trade.price]
            quantity = quantity_raw(trade.quantity)
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, symbol, str(error), raw)
            return
        if price <= 0 or quantity <= 0:
            self.errors.add(Reason.BAD_VALUE, symbol, "price and quantity must be > 0", raw)
            return
        side = _SELL if trade.buyer_is_maker else _BUY
        out.append(
            TradeRecord(EXCHANGE, symbol, ts_event, ts_recv, trade.agg_id, price, quantity, side)
        )

    def _in_order(
        self,
        last_ids: dict[str, int],
        last_times: dict[str, int],
        symbol: str,
        trade_id: int,
        ts_event: int,
        raw: bytes,
    ) -> bool:
        """Id checks of 1.7: a repeat/step back is dropped, a jump asks for a backfill."""
        last = last_ids.get(symbol)
        if last is not None:
            if trade_id <= last:
                self.errors.add(Reason.OUT_OF_ORDER, symbol, f"trade id {trade_id} <= {last}", raw)
                return False
            if trade_id != last + 1:
                self.errors.add(Reason.GAP, symbol, f"trade ids {last + 1}..{trade_id - 1}", raw)
                self._actions.add(
                    FeedAction(
                        ActionKind.BACKFILL_TRADES,
                        EXCHANGE,
                        symbol,
                        "trade id gap",
                        last + 1,
                        trade_id - 1,
                        last_times.get(symbol, 0),
                        ts_event,
                    )
                )
        last_ids[symbol] = trade_id
        last_times[symbol] = ts_event
        return True

    def _quote(self, tick: BookTicker, raw: bytes, ts_recv: int, out: list[MarketRecord]) -> None:
        symbol = self._symbol(tick.symbol, raw)
        if symbol is None:
            return
        try:
            prices, sizes = self._prices, self._sizes
            bid, bid_size = prices[tick.bid_price], sizes[tick.bid_qty]
            ask, ask_size = prices[tick.ask_price], sizes[tick.ask_qty]
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, symbol, str(error), raw)
            return
        ts_event = ts_recv if tick.event_time is None else tick.event_time * self._unit
        out.append(
            QuoteRecord(
                EXCHANGE, symbol, ts_event, ts_recv, tick.update_id, bid, bid_size, ask, ask_size
            )
        )

    def _depth(self, diff: DepthUpdate, raw: bytes, ts_recv: int, out: list[MarketRecord]) -> None:
        symbol = self._symbol(diff.symbol, raw)
        if symbol is None:
            return
        sync = self._book(symbol)
        books: list[BookRecord] = []
        bad_before = sync.bad_levels
        outcome = sync.on_diff(diff, ts_recv, books)
        out.extend(books)
        if outcome is DiffOutcome.GAP:
            detail = f"diff U={diff.first_update_id} after book id {sync.book_id}"
            self.errors.add(Reason.GAP, symbol, detail, raw)
        if sync.bad_levels != bad_before:
            detail = f"{sync.bad_levels - bad_before} depth level(s) not representable"
            self.errors.add(Reason.BAD_VALUE, symbol, detail, raw)
        if sync.needs_snapshot:
            self._request_snapshot(sync, outcome.value)

    def _book(self, symbol: str) -> BinanceBookSync:
        sync = self.books.get(symbol)
        if sync is None:
            sync = self.books[symbol] = BinanceBookSync(
                symbol, max_buffer=self._max_buffer, time_unit_ns=self._unit
            )
        return sync

    def _request_snapshot(self, sync: BinanceBookSync, why: str) -> None:
        sync.snapshot_requested = True
        self._actions.add(FeedAction(ActionKind.FETCH_BOOK_SNAPSHOT, EXCHANGE, sync.symbol, why))
