"""Kraken spot frames, WS v1 and v2, -> ``core.records`` (protocols.md 2.2-2.4).

The live client speaks v2; the recordings (and the local venue replaying them) speak v1, so
one ``KrakenParser`` reads both: a frame starting with ``[`` is a v1 data frame, an object is a
v1 event or a v2 message.

Conventions:

- Symbols are ours (``BTC/USD``, see ``symbols``), whatever the wire spells.
- v1 trades carry no id: ``trade_id`` is ``derived_trade_id(ts, price, qty, repeat)``, the
  formula of the bulk-CSV importer. v2 ``trade_id`` is Kraken's per-pair sequence: a repeat or
  step back is ``out_of_order`` (dropped), a jump a ``gap`` (published, ``BACKFILL_TRADES``
  asked). Trades of a v2 ``snapshot`` already seen are dropped silently; newer ones published.
- Sides: the taker's (``b``/``s``, ``buy``/``sell``).
- v1 ``ticker`` and ``spread``, v2 ``ticker`` -> ``QuoteRecord`` (``sequence`` 0: Kraken has
  none); v1 ticker has no time, so ``ts_event`` = ``ts_recv``.
- Books: see ``kraken.book``. Each message is applied whole, truncated to the depth, then its
  checksum verified; on a mismatch (or a malformed level) its records are replaced by one
  ``CLEAR | LAST`` record, the book waits for a new snapshot and ``RESUBSCRIBE_BOOK`` is asked.
  Unrepresentable levels are left out and counted (``venues.book.book_level``).
  ``BookRecord.sequence`` is 0; levels cut by truncation are published with size 0.
"""

from __future__ import annotations

import logging
from typing import Final

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import Side
from ticklane.core.records import BookFlags, BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.venues.book import ASK, BID, book_level, clear_record, mark_last
from ticklane.venues.common import ActionKind, ActionQueue, FeedAction, ParseErrors, Reason
from ticklane.venues.kraken import schemas
from ticklane.venues.kraken.book import (
    BOOK_DEPTHS,
    KrakenBook,
    check_depth,
    decimal_text,
    level_token,
)
from ticklane.venues.kraken.schemas import V1Level, V2Book, V2Level
from ticklane.venues.kraken.symbols import normalize
from ticklane.venues.numbers import (
    RepeatCounter,
    ScaledMemo,
    decimal_price_raw,
    decimal_quantity_raw,
    derived_trade_id,
    price_raw,
    quantity_raw,
    rfc3339_to_ns,
    seconds_text_to_ns,
)

EXCHANGE: Final = "kraken"
_SIDES: Final = {"b": int(Side.BUY), "s": int(Side.SELL), "buy": int(Side.BUY)}
_SIDES_V2: Final = {"buy": int(Side.BUY), "sell": int(Side.SELL)}
_SNAPSHOT = int(BookFlags.SNAPSHOT)
_QUIET_EVENTS: Final = frozenset({"heartbeat", "pong", "systemStatus"})
_QUIET_CHANNELS: Final = frozenset({"heartbeat", "status", "instrument", "ohlc"})
Level = tuple[int, int, int, str, int]  # side, price, size, checksum token, ts_event
_logger = logging.getLogger(__name__)


class KrakenParser:
    """Normalizes the frames of one Kraken spot connection (v1 or v2).

    ``book_depth`` is the v2 book depth subscribed (v1 frames name theirs); a v2 subscribe
    ack naming a depth overrides it for its symbol. ``checksums_verified`` counts the book
    messages whose checksum matched.
    """

    def __init__(self, *, book_depth: int = 10, log_interval_s: float = 10.0) -> None:
        self.exchange = EXCHANGE
        self.errors = ParseErrors(EXCHANGE, _logger, log_interval_s=log_interval_s)
        self.books: dict[str, KrakenBook] = {}
        self.checksums_verified = 0
        self._depth = check_depth(book_depth)
        self._depths: dict[str, int] = {}
        self._actions = ActionQueue()
        self._repeats: dict[str, RepeatCounter] = {}
        self._prices = ScaledMemo(price_raw)  # v1 prices and sizes repeat: see ScaledMemo
        self._sizes = ScaledMemo(quantity_raw)
        self._last_trade: dict[str, tuple[int, int]] = {}  # symbol -> (trade_id, ts_event)

    def take_actions(self) -> list[FeedAction]:
        """Books to resubscribe, trades to backfill, oldest first."""
        return self._actions.take()

    def reset_books(self) -> None:
        """Forget every book (after a reconnect the subscription sends new snapshots)."""
        for book in self.books.values():
            book.clear()
            book.synced = False

    def parse(self, frame: bytes | str, ts_recv: int) -> list[MarketRecord]:
        """The records of one frame. Bad input is counted in ``errors``, never raised."""
        raw = frame.encode() if isinstance(frame, str) else frame
        out: list[MarketRecord] = []
        try:
            if raw[:1] == b"[":
                self._v1_data(raw, ts_recv, out)
            else:
                self._object(raw, ts_recv, out)
        except msgspec.DecodeError as error:
            self.errors.add(Reason.MALFORMED, "", str(error), raw)
        except (IndexError, ValueError) as error:  # a v1 array shorter than documented
            self.errors.add(Reason.MALFORMED, "", repr(error), raw)
        except Exception as error:  # a shape no rule foresaw must not stop the feed
            self.errors.add(Reason.MALFORMED, "", f"unexpected {error!r}", raw)
        return out

    # --- v1 ---------------------------------------------------------------------------

    def _v1_data(self, raw: bytes, ts_recv: int, out: list[MarketRecord]) -> None:
        items = schemas.V1_FRAME.decode(raw)
        if len(items) < 4:
            self.errors.add(Reason.MALFORMED, "", "v1 frame with fewer than 4 items", raw)
            return
        name = schemas.V1_TEXT.decode(items[-2])
        symbol = self._symbol(schemas.V1_TEXT.decode(items[-1]), raw)
        if symbol is None:
            return
        if name == "trade":
            self._v1_trades(schemas.V1_TRADES.decode(items[1]), symbol, raw, ts_recv, out)
        elif name.startswith("book-"):
            depth = int(name[5:])
            if depth not in BOOK_DEPTHS:
                self.errors.add(Reason.MALFORMED, symbol, f"v1 channel {name!r}", raw)
                return
            payloads = [schemas.V1_BOOK.decode(item) for item in items[1:-2]]
            self._v1_book(payloads, depth, symbol, raw, ts_recv, out)
        elif name == "ticker":
            ticker = schemas.V1_TICKER.decode(items[1])
            texts = (ticker.bid[0], ticker.bid[2], ticker.ask[0], ticker.ask[2])
            self._quote(symbol, texts, ts_recv, ts_recv, raw, out)
        elif name == "spread":
            bid, ask, time_text, bid_qty, ask_qty = schemas.V1_SPREAD.decode(items[1])[:5]
            ts_event = seconds_text_to_ns(time_text)
            self._quote(symbol, (bid, bid_qty, ask, ask_qty), ts_event, ts_recv, raw, out)
        elif not name.startswith("ohlc"):
            self.errors.add(Reason.UNKNOWN_TYPE, symbol, f"v1 channel {name!r}", raw)

    def _v1_trades(
        self,
        rows: list[list[str]],
        symbol: str,
        raw: bytes,
        ts_recv: int,
        out: list[MarketRecord],
    ) -> None:
        repeats = self._repeats.get(symbol)
        if repeats is None:
            repeats = self._repeats[symbol] = RepeatCounter()
        for row in rows:
            try:
                price, quantity = self._prices[row[0]], quantity_raw(row[1])
                ts_event = seconds_text_to_ns(row[2])
                side = _SIDES[row[3]]
            except (BadDataError, KeyError) as error:
                self.errors.add(Reason.BAD_VALUE, symbol, f"trade {row}: {error!r}", raw)
                continue
            if price <= 0 or quantity <= 0:
                self.errors.add(Reason.BAD_VALUE, symbol, f"trade {row}: not > 0", raw)
                continue
            trade_id = derived_trade_id(
                ts_event, price, quantity, repeats.next(ts_event, price, quantity)
            )
            out.append(
                TradeRecord(EXCHANGE, symbol, ts_event, ts_recv, trade_id, price, quantity, side)
            )

    def _v1_book(
        self,
        payloads: list[schemas.V1BookPayload],
        depth: int,
        symbol: str,
        raw: bytes,
        ts_recv: int,
        out: list[MarketRecord],
    ) -> None:
        book = self._book(symbol, depth)
        first = payloads[0] if payloads else None
        snapshot = first is not None and (
            first.snapshot_asks is not None or first.snapshot_bids is not None
        )
        checksum = None
        parts: list[tuple[int, list[V1Level]]] = []
        if first is not None and snapshot:
            parts = [(ASK, first.snapshot_asks or []), (BID, first.snapshot_bids or [])]
        else:
            for payload in payloads:  # in frame order: the asks object, then the bids one
                parts += [(ASK, payload.asks or []), (BID, payload.bids or [])]
                if payload.checksum is not None:
                    checksum = int(payload.checksum)
        levels: list[Level] = []
        bad = 0
        try:
            for side, items in parts:
                side_levels, side_bad = _v1_levels(side, items, ts_recv, self._prices, self._sizes)
                levels += side_levels
                bad += side_bad
        except IndexError:  # a level shorter than [price, volume, timestamp]
            self.errors.add(Reason.MALFORMED, symbol, "book level with fewer than 3 items", raw)
            if book.synced:  # the message cannot be applied: the book is behind
                self._drop(book, symbol, ts_recv, "malformed book message", out)
            return
        if bad:
            self.errors.add(Reason.BAD_VALUE, symbol, f"{bad} book level(s) left out", raw)
        self._apply(book, symbol, levels, checksum, snapshot, raw, ts_recv, out)

    # --- v1 events and v2 ---------------------------------------------------------------

    def _object(self, raw: bytes, ts_recv: int, out: list[MarketRecord]) -> None:
        probe = schemas.PROBE.decode(raw)
        if probe.channel is not None:
            self._v2_channel(probe, raw, ts_recv, out)
        elif probe.method is not None:
            self._v2_method(probe, raw)
        elif probe.event is not None:
            if probe.event == "subscriptionStatus" and probe.status == "error":
                detail = f"{probe.pair}: {probe.error_message}"
                self.errors.add(Reason.VENUE_ERROR, probe.pair or "", detail, raw)
            elif probe.event == "error":
                self.errors.add(Reason.VENUE_ERROR, "", f"{probe.error_message}", raw)
            elif probe.event not in _QUIET_EVENTS and probe.event != "subscriptionStatus":
                self.errors.add(Reason.UNKNOWN_TYPE, "", f"event {probe.event!r}", raw)
        else:
            self.errors.add(Reason.UNKNOWN_TYPE, "", "not a Kraken message", raw)

    def _v2_method(self, probe: schemas.Probe, raw: bytes) -> None:
        if probe.success is False:
            self.errors.add(Reason.VENUE_ERROR, "", f"{probe.method}: {probe.error}", raw)
        elif probe.method == "subscribe" and probe.result:
            result = schemas.V2_SUBSCRIBE_RESULT.decode(probe.result)
            if result.channel == "book" and result.symbol and result.depth:
                symbol = self._symbol(result.symbol, raw)
                if symbol is not None and result.depth in BOOK_DEPTHS:
                    self._depths[symbol] = result.depth

    def _v2_channel(
        self, probe: schemas.Probe, raw: bytes, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        channel, data = probe.channel, probe.data
        if channel in _QUIET_CHANNELS:
            return
        if not data:
            self.errors.add(Reason.MALFORMED, "", f"v2 {channel} message without data", raw)
        elif channel == "trade":
            snapshot = probe.type == "snapshot"
            for trade in schemas.V2_TRADES.decode(data):
                self._v2_trade(trade, snapshot, raw, ts_recv, out)
        elif channel == "book":
            for update in schemas.V2_BOOKS.decode(data):
                self._v2_book(update, probe.type == "snapshot", raw, ts_recv, out)
        elif channel == "ticker":
            for tick in schemas.V2_TICKERS.decode(data):
                symbol = self._symbol(tick.symbol, raw)
                if symbol is None:
                    continue
                try:
                    ts_event = ts_recv if tick.timestamp is None else rfc3339_to_ns(tick.timestamp)
                    values = (
                        decimal_price_raw(tick.bid),
                        decimal_quantity_raw(tick.bid_qty),
                        decimal_price_raw(tick.ask),
                        decimal_quantity_raw(tick.ask_qty),
                    )
                except BadDataError as error:
                    self.errors.add(Reason.BAD_VALUE, symbol, str(error), raw)
                    continue
                out.append(QuoteRecord(EXCHANGE, symbol, ts_event, ts_recv, 0, *values))
        else:
            self.errors.add(Reason.UNKNOWN_TYPE, "", f"v2 channel {channel!r}", raw)

    def _v2_trade(
        self,
        trade: schemas.V2Trade,
        snapshot: bool,
        raw: bytes,
        ts_recv: int,
        out: list[MarketRecord],
    ) -> None:
        symbol = self._symbol(trade.symbol, raw)
        if symbol is None:
            return
        try:
            price, quantity = decimal_price_raw(trade.price), decimal_quantity_raw(trade.qty)
            ts_event = rfc3339_to_ns(trade.timestamp)
            side = _SIDES_V2[trade.side]
        except (BadDataError, KeyError) as error:
            self.errors.add(Reason.BAD_VALUE, symbol, f"trade {trade.trade_id}: {error!r}", raw)
            return
        if price <= 0 or quantity <= 0:
            self.errors.add(Reason.BAD_VALUE, symbol, f"trade {trade.trade_id}: not > 0", raw)
            return
        last = self._last_trade.get(symbol)
        if last is not None:
            last_id, last_ts = last
            if trade.trade_id <= last_id:
                if not snapshot:  # a snapshot after a resubscribe repeats what we have
                    detail = f"trade id {trade.trade_id} <= {last_id}"
                    self.errors.add(Reason.OUT_OF_ORDER, symbol, detail, raw)
                return
            if trade.trade_id != last_id + 1:
                first, final = last_id + 1, trade.trade_id - 1
                self.errors.add(Reason.GAP, symbol, f"trade ids {first}..{final}", raw)
                self._actions.add(
                    FeedAction(
                        ActionKind.BACKFILL_TRADES,
                        EXCHANGE,
                        symbol,
                        "trade id gap",
                        first,
                        final,
                        last_ts,
                        ts_event,
                    )
                )
        self._last_trade[symbol] = (trade.trade_id, ts_event)
        out.append(
            TradeRecord(EXCHANGE, symbol, ts_event, ts_recv, trade.trade_id, price, quantity, side)
        )

    def _v2_book(
        self, update: V2Book, snapshot: bool, raw: bytes, ts_recv: int, out: list[MarketRecord]
    ) -> None:
        symbol = self._symbol(update.symbol, raw)
        if symbol is None:
            return
        book = self._book(symbol, self._depths.get(symbol, self._depth))
        try:
            ts_event = ts_recv if update.timestamp is None else rfc3339_to_ns(update.timestamp)
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, symbol, str(error), raw)
            ts_event = ts_recv
        bids, bad_bids = _v2_levels(BID, update.bids, ts_event)
        asks, bad_asks = _v2_levels(ASK, update.asks, ts_event)
        if bad_bids or bad_asks:
            detail = f"{bad_bids + bad_asks} book level(s) left out"
            self.errors.add(Reason.BAD_VALUE, symbol, detail, raw)
        self._apply(book, symbol, bids + asks, update.checksum, snapshot, raw, ts_recv, out)

    # --- shared -------------------------------------------------------------------------

    def _apply(
        self,
        book: KrakenBook,
        symbol: str,
        levels: list[Level],
        checksum: int | None,
        snapshot: bool,
        raw: bytes,
        ts_recv: int,
        out: list[MarketRecord],
    ) -> None:
        """Apply one book message whole, truncate, verify; publish it or drop the book."""
        if not snapshot and not book.synced:
            self.errors.add(Reason.UNSYNCED, symbol, "book update before a snapshot", raw)
            return
        records: list[BookRecord] = []
        flags = 0
        if snapshot:
            book.clear()
            records.append(clear_record(EXCHANGE, symbol, ts_recv, ts_recv, 0, snapshot=True))
            flags = _SNAPSHOT
        ts_last = ts_recv
        for side, price, size, token, ts_last in levels:
            book.set(side, price, size, token)
            records.append(
                BookRecord(EXCHANGE, symbol, ts_last, ts_recv, 0, side, price, size, flags)
            )
        for side, price in book.truncate():
            records.append(BookRecord(EXCHANGE, symbol, ts_last, ts_recv, 0, side, price, 0, flags))
        if checksum is not None:
            computed = book.checksum()
            if computed != checksum:
                detail = f"checksum {checksum} != {computed} computed"
                self.errors.add(Reason.CHECKSUM, symbol, detail, raw)
                self._drop(book, symbol, ts_recv, "checksum mismatch", out)
                return
            self.checksums_verified += 1
        book.synced = True
        mark_last(records, 0)
        out.extend(records)

    def _drop(
        self, book: KrakenBook, symbol: str, ts_recv: int, why: str, out: list[MarketRecord]
    ) -> None:
        book.clear()
        book.synced = False
        out.append(clear_record(EXCHANGE, symbol, ts_recv, ts_recv, 0, snapshot=False))
        self._actions.add(FeedAction(ActionKind.RESUBSCRIBE_BOOK, EXCHANGE, symbol, why))

    def _book(self, symbol: str, depth: int) -> KrakenBook:
        book = self.books.get(symbol)
        if book is None or book.depth != depth:
            book = self.books[symbol] = KrakenBook(depth)
        return book

    def _quote(
        self,
        symbol: str,
        texts: tuple[str, str, str, str],
        ts_event: int,
        ts_recv: int,
        raw: bytes,
        out: list[MarketRecord],
    ) -> None:
        bid, bid_qty, ask, ask_qty = texts
        try:
            values = (price_raw(bid), quantity_raw(bid_qty), price_raw(ask), quantity_raw(ask_qty))
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, symbol, str(error), raw)
            return
        out.append(QuoteRecord(EXCHANGE, symbol, ts_event, ts_recv, 0, *values))

    def _symbol(self, wire: str, raw: bytes) -> str | None:
        try:
            return normalize(wire)
        except BadDataError as error:
            self.errors.add(Reason.BAD_VALUE, wire, str(error), raw)
            return None


def _v1_levels(
    side: int, items: list[V1Level], ts_recv: int, prices: ScaledMemo, sizes: ScaledMemo
) -> tuple[list[Level], int]:
    """v1 ``[price, volume, timestamp(, "r")]`` levels in array order (2.2), and how many were
    not representable (``venues.book.book_level``). A short level raises ``IndexError``."""
    levels = []
    bad = 0
    for item in items:
        price_text, qty_text, ts_text = item[0], item[1], item[2]
        try:
            price, size = prices[price_text], sizes[qty_text]
            ok = price > 0 and size >= 0
        except BadDataError:
            ok = False
        if not ok:
            price, size, ok = book_level(price_text, qty_text)
        try:
            ts_event = seconds_text_to_ns(ts_text)
        except BadDataError:
            ts_event, ok = ts_recv, False
        if not ok:
            bad += 1
            if not price:
                continue
        levels.append((side, price, size, level_token(price_text, qty_text), ts_event))
    return levels, bad


def _v2_levels(side: int, items: list[V2Level], ts_event: int) -> tuple[list[Level], int]:
    """v2 ``{price, qty}`` levels in order (one level may change twice in a message), and how
    many were not representable."""
    levels = []
    bad = 0
    for item in items:
        price, size, ok = book_level(item.price, item.qty)
        if not ok:
            bad += 1
            if not price:
                continue
        token = level_token(decimal_text(item.price), decimal_text(item.qty))
        levels.append((side, price, size, token, ts_event))
    return levels, bad
