"""Kraken Futures frames -> ``core.records`` (protocols.md 3).

Conventions:

- ``trade_id`` = ``hashed_trade_id(uid)`` (the bulk importer's formula for non-integer ids),
  so the same trade from the WebSocket, ``/history`` or ``executions`` gets the same id.
  ``side`` is the taker's. Every trade ``type`` (fill, liquidation, termination, block) is
  published.
- Trades are published only after the product's ``trade_snapshot`` and checked by ``seq``:
  a repeat or step back is ``out_of_order`` (dropped), a jump a ``gap`` (published, with a
  ``BACKFILL_TRADES`` action). The snapshot (the last 100 trades, newest first) is history,
  not news: the first one of a product only sets the sequence baseline (publish it with
  ``publish_first_trade_snapshot``); a later one (after a resubscribe or reconnect) publishes,
  oldest first, the trades newer than the last one seen, which closes the gap it covers.
- Books: ``kraken_futures.book``; a gap asks for ``RESUBSCRIBE_BOOK``.
- ``ticker`` -> ``QuoteRecord`` (``ts_event`` = ``time``); ``ticker_lite`` has neither sizes
  nor time: sizes 0, ``ts_event`` = ``ts_recv``. No quote when a side is missing.
  ``sequence`` is 0 (tickers have none).
"""

from __future__ import annotations

import logging
from typing import Final

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import Side
from ticklane.core.records import BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.venues.common import ActionKind, ActionQueue, FeedAction, ParseErrors, Reason
from ticklane.venues.kraken_futures import schemas
from ticklane.venues.kraken_futures.book import DeltaOutcome, FuturesBookSync
from ticklane.venues.kraken_futures.schemas import (
    BookDelta,
    BookSnapshot,
    Ticker,
    TickerLite,
    Trade,
    TradeSnapshot,
)
from ticklane.venues.kraken_futures.symbols import normalize
from ticklane.venues.numbers import (
    NANOS_PER_MILLI,
    decimal_price_raw,
    decimal_quantity_raw,
    hashed_trade_id,
)

EXCHANGE: Final = "kraken_futures"
_SIDES: Final = {"buy": int(Side.BUY), "sell": int(Side.SELL)}
_QUIET_EVENTS: Final = frozenset({"info", "subscribed", "unsubscribed", "alert"})
_FAILED_EVENTS: Final = frozenset({"error", "subscribed_failed", "unsubscribed_failed"})
_logger = logging.getLogger(__name__)


class KrakenFuturesParser:
    """Normalizes the frames of one Kraken Futures connection.

    ``publish_first_trade_snapshot``: publish the trades of a product's first
    ``trade_snapshot`` too (they are older than the subscription).
    """

    def __init__(
        self, *, publish_first_trade_snapshot: bool = False, log_interval_s: float = 10.0
    ) -> None:
        self.exchange = EXCHANGE
        self.errors = ParseErrors(EXCHANGE, _logger, log_interval_s=log_interval_s)
        self.books: dict[str, FuturesBookSync] = {}
        self._publish_first = publish_first_trade_snapshot
        self._actions = ActionQueue()
        self._trade_seq: dict[str, tuple[int, int]] = {}  # symbol -> (seq, ts_event)

    def take_actions(self) -> list[FeedAction]:
        """Books to resubscribe, trades to backfill, oldest first."""
        return self._actions.take()

    def reset_books(self) -> None:
        """Forget every book (after a reconnect new snapshots come with the subscription)."""
        for sync in self.books.values():
            sync.reset()

    def parse(self, frame: bytes | str, ts_recv: int) -> list[MarketRecord]:
        """The records of one frame. Bad input is counted in ``errors``, never raised."""
        out: list[MarketRecord] = []
        try:
            message = schemas.MESSAGE.decode(frame)
        except msgspec.DecodeError as error:
            self._not_a_message(frame, error)
            return out
        try:
            if isinstance(message, BookDelta):
                self._delta(message, frame, ts_recv, out)
            elif isinstance(message, Trade):
                self._trade(message, frame, ts_recv, out)
            elif isinstance(message, (TickerLite, Ticker)):
                self._ticker(message, frame, ts_recv, out)
            elif isinstance(message, BookSnapshot):
                self._snapshot(message, frame, ts_recv, out)
            elif isinstance(message, TradeSnapshot):
                self._trade_snapshot(message, frame, ts_recv, out)
            # else: a heartbeat
        except Exception as error:  # a shape no rule foresaw must not stop the feed
            self.errors.add(Reason.MALFORMED, "", f"unexpected {error!r}", frame)
        return out

    def _not_a_message(self, frame: bytes | str, error: msgspec.DecodeError) -> None:
        """Route what the union refused: events, unknown feeds, malformed frames."""
        try:
            probe = schemas.PROBE.decode(frame)
        except msgspec.DecodeError:
            self.errors.add(Reason.MALFORMED, "", str(error), frame)
            return
        if probe.event in _FAILED_EVENTS:
            detail = f"{probe.event}: {probe.message or ''} {probe.product_ids or ''}"
            self.errors.add(Reason.VENUE_ERROR, "", detail, frame)
        elif probe.event is not None:
            if probe.event not in _QUIET_EVENTS:
                self.errors.add(Reason.UNKNOWN_TYPE, "", f"event {probe.event!r}", frame)
        elif probe.feed is not None and probe.feed not in _KNOWN_FEEDS:
            self.errors.add(Reason.UNKNOWN_TYPE, "", f"feed {probe.feed!r}", frame)
        else:
            self.errors.add(Reason.MALFORMED, "", str(error), frame)

    def _symbol(self, product_id: str, frame: bytes | str) -> str | None:
        try:
            return normalize(product_id)
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, product_id, str(error), frame)
            return None

    def _snapshot(
        self, snapshot: BookSnapshot, frame: bytes | str, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(snapshot.product_id, frame)
        if symbol is None:
            return
        sync = self._book(symbol)
        bad = sync.bad_levels
        records: list[BookRecord] = []
        sync.on_snapshot(snapshot, ts_recv, records)
        out.extend(records)
        if sync.bad_levels != bad:
            detail = f"{sync.bad_levels - bad} snapshot level(s) not representable"
            self.errors.add(Reason.BAD_VALUE, symbol, detail, frame)

    def _delta(
        self, delta: BookDelta, frame: bytes | str, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(delta.product_id, frame)
        if symbol is None:
            return
        sync = self._book(symbol)
        records: list[BookRecord] = []
        last_seq = sync.seq
        outcome = sync.on_delta(delta, ts_recv, records)
        out.extend(records)
        if outcome is DeltaOutcome.APPLIED:
            return
        if outcome is DeltaOutcome.GAP:
            self.errors.add(Reason.GAP, symbol, f"book seq {last_seq} -> {delta.seq}", frame)
            self._actions.add(
                FeedAction(ActionKind.RESUBSCRIBE_BOOK, EXCHANGE, symbol, "book seq gap")
            )
        elif outcome is DeltaOutcome.STALE:
            self.errors.add(
                Reason.OUT_OF_ORDER, symbol, f"book seq {delta.seq} <= {last_seq}", frame
            )
        elif outcome is DeltaOutcome.UNSYNCED:
            self.errors.add(Reason.UNSYNCED, symbol, "book delta before a snapshot", frame)
        else:
            self.errors.add(Reason.BAD_VALUE, symbol, "book delta not representable", frame)

    def _trade(
        self, trade: Trade, frame: bytes | str, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(trade.product_id, frame)
        if symbol is None:
            return
        last = self._trade_seq.get(symbol)
        if last is None:
            self.errors.add(Reason.UNSYNCED, symbol, "trade before the trade_snapshot", frame)
            return
        last_seq, last_ts = last
        if trade.seq <= last_seq:
            self.errors.add(
                Reason.OUT_OF_ORDER, symbol, f"trade seq {trade.seq} <= {last_seq}", frame
            )
            return
        if trade.seq != last_seq + 1:
            first, final = last_seq + 1, trade.seq - 1
            self.errors.add(Reason.GAP, symbol, f"trade seqs {first}..{final}", frame)
            self._actions.add(
                FeedAction(
                    ActionKind.BACKFILL_TRADES,
                    EXCHANGE,
                    symbol,
                    "trade seq gap",
                    first,
                    final,
                    last_ts,
                    trade.time * NANOS_PER_MILLI,
                )
            )
        self._publish(symbol, trade, frame, ts_recv, out)

    def _trade_snapshot(
        self, snapshot: TradeSnapshot, frame: bytes | str, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(snapshot.product_id, frame)
        if symbol is None:
            return
        trades = sorted(snapshot.trades, key=lambda trade: trade.seq)  # sent newest first
        last = self._trade_seq.get(symbol)
        if last is None and not self._publish_first:
            if trades:
                newest = trades[-1]
                self._trade_seq[symbol] = (newest.seq, newest.time * NANOS_PER_MILLI)
            else:
                self._trade_seq[symbol] = (0, 0)
            return
        last_seq = -1 if last is None else last[0]
        for trade in trades:
            if trade.seq > last_seq:
                self._publish(symbol, trade, frame, ts_recv, out)
        self._trade_seq.setdefault(symbol, (0, 0))

    def _publish(
        self, symbol: str, trade: Trade, frame: bytes | str, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        ts_event = trade.time * NANOS_PER_MILLI
        self._trade_seq[symbol] = (trade.seq, ts_event)
        try:
            price, quantity = decimal_price_raw(trade.price), decimal_quantity_raw(trade.qty)
            side = _SIDES[trade.side]
            trade_id = hashed_trade_id(trade.uid)
        except (BadDataError, KeyError) as error:
            self.errors.add(Reason.BAD_VALUE, symbol, f"trade {trade.uid}: {error!r}", frame)
            return
        if price <= 0 or quantity <= 0:
            self.errors.add(Reason.BAD_VALUE, symbol, f"trade {trade.uid}: not > 0", frame)
            return
        out.append(
            TradeRecord(EXCHANGE, symbol, ts_event, ts_recv, trade_id, price, quantity, side)
        )

    def _ticker(
        self, tick: Ticker | TickerLite, frame: bytes | str, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(tick.product_id, frame)
        if symbol is None or tick.bid is None or tick.ask is None:
            return
        try:
            bid, ask = decimal_price_raw(tick.bid), decimal_price_raw(tick.ask)
            bid_size = ask_size = 0
            ts_event = ts_recv
            if isinstance(tick, Ticker):
                if tick.bid_size is not None:
                    bid_size = decimal_quantity_raw(tick.bid_size)
                if tick.ask_size is not None:
                    ask_size = decimal_quantity_raw(tick.ask_size)
                if tick.time is not None:
                    ts_event = tick.time * NANOS_PER_MILLI
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, symbol, str(error), frame)
            return
        out.append(
            QuoteRecord(EXCHANGE, symbol, ts_event, ts_recv, 0, bid, bid_size, ask, ask_size)
        )

    def _book(self, symbol: str) -> FuturesBookSync:
        sync = self.books.get(symbol)
        if sync is None:
            sync = self.books[symbol] = FuturesBookSync(symbol)
        return sync


_KNOWN_FEEDS: Final = frozenset(
    {"trade", "trade_snapshot", "book", "book_snapshot", "ticker", "ticker_lite", "heartbeat"}
)
