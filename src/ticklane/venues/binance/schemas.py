"""Binance spot wire types (protocols.md 1.2, 1.4), with Binance's own field names as wire names.

Attributes have readable names; ``msgspec.field(name=...)`` maps them to Binance's one-letter
keys. Prices and quantities stay decimal strings here: ``parse`` converts them exactly.
Fields the platform does not use (``M``, the old ``b``/``a`` order ids) are not declared, so
msgspec skips them without building objects.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from msgspec import field

T = TypeVar("T")
Level = tuple[str, str]  # [price, quantity], both decimal strings


class Trade(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@trade``: one fill."""

    symbol: str = field(name="s")
    trade_id: int = field(name="t")
    price: str = field(name="p")
    quantity: str = field(name="q")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")


class AggTrade(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@aggTrade``: the fills of one taker order at one price."""

    symbol: str = field(name="s")
    agg_id: int = field(name="a")
    price: str = field(name="p")
    quantity: str = field(name="q")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")


class BookTicker(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@bookTicker``: best bid and ask. Spot frames carry no event time."""

    update_id: int = field(name="u")
    symbol: str = field(name="s")
    bid_price: str = field(name="b")
    bid_qty: str = field(name="B")
    ask_price: str = field(name="a")
    ask_qty: str = field(name="A")
    event_time: int | None = field(name="E", default=None)


class DepthUpdate(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@depth[@100ms]``: level changes ``first_update_id..final_update_id``."""

    event_time: int = field(name="E")
    symbol: str = field(name="s")
    first_update_id: int = field(name="U")
    final_update_id: int = field(name="u")
    bids: list[Level] = field(name="b")
    asks: list[Level] = field(name="a")


class DepthSnapshot(msgspec.Struct, frozen=True, gc=False):
    """``GET /api/v3/depth`` body (and the ``depth<N>`` partial-book stream)."""

    last_update_id: int = field(name="lastUpdateId")
    bids: list[Level]
    asks: list[Level]


class Combined(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A combined-stream frame ``{"stream": ..., "data": ...}``."""

    stream: str
    data: T


class Probe(msgspec.Struct, frozen=True, gc=False):
    """Any frame, decoded only far enough to tell what it is (the slow, general path)."""

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent (Raw cannot be in a union)
    event: str | None = field(name="e", default=None)
    update_id: int | None = field(name="u", default=None)
    id: Any = None
    result: msgspec.Raw = msgspec.Raw()
    code: int | None = None
    msg: str | None = None


class RestTrade(msgspec.Struct, frozen=True, gc=False):
    """One row of ``/api/v3/trades`` and ``/api/v3/historicalTrades``."""

    id: int
    price: str
    qty: str
    time: int
    is_buyer_maker: bool = field(name="isBuyerMaker")


class RestAggTrade(msgspec.Struct, frozen=True, gc=False):
    """One row of ``/api/v3/aggTrades``."""

    agg_id: int = field(name="a")
    price: str = field(name="p")
    quantity: str = field(name="q")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")
    first_trade_id: int = field(name="f", default=-1)  # the first ``@trade`` id it aggregates


class SymbolFilter(msgspec.Struct, frozen=True, gc=False):
    """One entry of a symbol's ``filters``; only the keys the platform reads."""

    filter_type: str = field(name="filterType")
    tick_size: str | None = field(name="tickSize", default=None)
    step_size: str | None = field(name="stepSize", default=None)
    min_qty: str | None = field(name="minQty", default=None)


class SymbolEntry(msgspec.Struct, frozen=True, gc=False):
    """One entry of ``exchangeInfo.symbols``."""

    symbol: str
    status: str
    base_asset: str = field(name="baseAsset")
    quote_asset: str = field(name="quoteAsset")
    filters: list[SymbolFilter] = field(default_factory=list)


class RateLimit(msgspec.Struct, frozen=True, gc=False):
    """One entry of ``exchangeInfo.rateLimits``."""

    rate_limit_type: str = field(name="rateLimitType")
    interval: str
    interval_num: int = field(name="intervalNum")
    limit: int


class ExchangeInfo(msgspec.Struct, frozen=True, gc=False):
    """``GET /api/v3/exchangeInfo`` body."""

    symbols: list[SymbolEntry]
    rate_limits: list[RateLimit] = field(name="rateLimits", default_factory=list)


TRADE_FRAME = msgspec.json.Decoder(Combined[Trade])
AGG_TRADE_FRAME = msgspec.json.Decoder(Combined[AggTrade])
BOOK_TICKER_FRAME = msgspec.json.Decoder(Combined[BookTicker])
DEPTH_FRAME = msgspec.json.Decoder(Combined[DepthUpdate])
PROBE = msgspec.json.Decoder(Probe)
TRADE = msgspec.json.Decoder(Trade)
AGG_TRADE = msgspec.json.Decoder(AggTrade)
BOOK_TICKER = msgspec.json.Decoder(BookTicker)
DEPTH_UPDATE = msgspec.json.Decoder(DepthUpdate)
DEPTH_SNAPSHOT = msgspec.json.Decoder(DepthSnapshot)
REST_TRADES = msgspec.json.Decoder(list[RestTrade])
REST_AGG_TRADES = msgspec.json.Decoder(list[RestAggTrade])
EXCHANGE_INFO = msgspec.json.Decoder(ExchangeInfo)
