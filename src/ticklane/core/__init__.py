"""The pure domain: ticks, quotes, books, bars, timeframes, identifiers, fixed point, errors.

Nothing here does I/O or imports another part of ticklane.
"""

from ticklane.core.bars import Bar, BarType, Timeframe
from ticklane.core.book import BookLevel, OrderBookDelta, OrderBookSnapshot
from ticklane.core.columnar import (
    QUOTE_DTYPE,
    TRADE_DTYPE,
    QuoteColumns,
    RowError,
    TradeColumns,
    group_trades,
)
from ticklane.core.identifiers import BookSide, InstrumentId, Side
from ticklane.core.ticks import QuoteTick, TradeTick

__all__ = [
    "QUOTE_DTYPE",
    "TRADE_DTYPE",
    "Bar",
    "BarType",
    "BookLevel",
    "BookSide",
    "InstrumentId",
    "OrderBookDelta",
    "OrderBookSnapshot",
    "QuoteColumns",
    "QuoteTick",
    "RowError",
    "Side",
    "Timeframe",
    "TradeColumns",
    "TradeTick",
    "group_trades",
]
