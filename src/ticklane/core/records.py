"""Normalized market-data records: what venue parsers produce and the live pipeline moves.

A live feed turns every venue frame into these records; the IPC ring, the batched store
writer and the trading process all take them as they are. They are the live counterpart of
the columnar arrays of ``core.columnar``: prices and quantities are the scaled integers of
``core.fixed`` (exact, no ``Decimal`` or float on the hot path), times are UTC ns. Objects with
``Decimal`` fields (``TradeTick``, ``QuoteTick``) are made from them only where user code wants
one (``to_trade_tick``, ``to_quote_tick``).

``ts_recv`` is the local receive time of the frame that carried the record (``time.time_ns()``
at the socket, or the recording's receive time on replay); ``ts_event`` is the venue's time.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

import msgspec

from ticklane.core.fixed import (
    price_from_raw,
    quantity_from_raw,
)
from ticklane.core.identifiers import Side
from ticklane.core.ticks import QuoteTick, TradeTick


class RecordKind(IntEnum):
    """Which record a fixed-size binary slot (IPC) holds."""

    TRADE = 1
    QUOTE = 2
    BOOK = 3


class BookFlags(IntFlag):
    """Flags of a ``BookRecord``."""

    NONE = 0
    SNAPSHOT = 1  # part of a full snapshot: the book was cleared before its first level
    CLEAR = 2  # the book is cleared (first record of a snapshot; price and size are 0)
    LAST = 4  # the last record of one venue message: the book is consistent after it


class TradeRecord(msgspec.Struct, frozen=True, gc=False):
    """One trade. ``side`` is the aggressor's ``Side`` value (0 when the venue does not say)."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    trade_id: int
    price: int  # scaled by PRICE_SCALE
    quantity: int  # scaled by QUANTITY_SCALE
    side: int

    def to_trade_tick(self) -> TradeTick:
        return TradeTick(
            exchange=self.exchange,
            symbol=self.symbol,
            price=price_from_raw(self.price),
            quantity=quantity_from_raw(self.quantity),
            side=Side(self.side),
            ts_event=self.ts_event,
            trade_id=self.trade_id,
        )


class QuoteRecord(msgspec.Struct, frozen=True, gc=False):
    """Best bid and ask (L1). ``sequence`` is the venue's update id where it has one, else 0."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    sequence: int
    bid_price: int
    bid_size: int
    ask_price: int
    ask_size: int

    def to_quote_tick(self) -> QuoteTick:
        return QuoteTick(
            exchange=self.exchange,
            symbol=self.symbol,
            bid_price=price_from_raw(self.bid_price),
            bid_size=quantity_from_raw(self.bid_size),
            ask_price=price_from_raw(self.ask_price),
            ask_size=quantity_from_raw(self.ask_size),
            ts_event=self.ts_event,
            sequence=self.sequence,
        )


class BookRecord(msgspec.Struct, frozen=True, gc=False):
    """One price level set (``size`` 0 removes it), or a clear (``BookFlags.CLEAR``).

    ``side`` is a ``BookSide`` value; ``sequence`` the venue's update id or sequence number.
    """

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    sequence: int
    side: int
    price: int
    size: int
    flags: int = 0


MarketRecord = TradeRecord | QuoteRecord | BookRecord
