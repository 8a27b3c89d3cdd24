"""Kraken Futures WS v1 and REST wire types (protocols.md 3).

Messages are objects tagged by ``feed``; they are decoded as one tagged union in a single
pass. Subscription acks and errors have ``event`` instead and take the probe path. Numbers
arrive as JSON numbers and are decoded straight into ``Decimal`` (exact digits, no float).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from msgspec import field


class Trade(msgspec.Struct, tag_field="feed", tag="trade", frozen=True, gc=False):
    """One trade; ``side`` is the taker's, ``seq`` the per-product trade sequence."""

    product_id: str
    uid: str
    side: str
    seq: int
    time: int
    qty: Decimal
    price: Decimal
    type: str = "fill"


class TradeSnapshot(msgspec.Struct, tag_field="feed", tag="trade_snapshot", frozen=True, gc=False):
    """The recent trades sent on subscribe, newest first."""

    product_id: str
    trades: list[Trade]


class Level(msgspec.Struct, frozen=True, gc=False):
    price: Decimal
    qty: Decimal


class BookSnapshot(msgspec.Struct, tag_field="feed", tag="book_snapshot", frozen=True, gc=False):
    product_id: str
    seq: int
    timestamp: int
    bids: list[Level]
    asks: list[Level]


class BookDelta(msgspec.Struct, tag_field="feed", tag="book", frozen=True, gc=False):
    """One level change; ``side`` buy = bid, sell = ask; qty 0 removes the level."""

    product_id: str
    side: str
    seq: int
    price: Decimal
    qty: Decimal
    timestamp: int


class Ticker(msgspec.Struct, tag_field="feed", tag="ticker", frozen=True, gc=False):
    product_id: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    time: int | None = None


class TickerLite(msgspec.Struct, tag_field="feed", tag="ticker_lite", frozen=True, gc=False):
    """The lighter ticker: best prices without sizes or time."""

    product_id: str
    bid: Decimal | None = None
    ask: Decimal | None = None


class Heartbeat(msgspec.Struct, tag_field="feed", tag="heartbeat", frozen=True, gc=False):
    time: int | None = None


Message = Trade | TradeSnapshot | BookSnapshot | BookDelta | Ticker | TickerLite | Heartbeat


class Probe(msgspec.Struct, frozen=True, gc=False):
    """A frame the union refused, decoded only far enough to say why."""

    event: str | None = None
    feed: str | None = None
    message: str | None = None
    product_ids: list[str] | None = None


# --- REST ---------------------------------------------------------------------------------


class Instrument(msgspec.Struct, frozen=True, gc=False):
    """One ``/instruments`` entry; only the keys the platform reads."""

    symbol: str
    type: str
    tradeable: bool = False
    tick_size: Decimal | None = field(name="tickSize", default=None)
    contract_size: Decimal | None = field(name="contractSize", default=None)
    underlying: str | None = None
    base: str | None = None
    quote: str | None = None
    pair: str | None = None
    trade_precision: int | None = field(name="contractValueTradePrecision", default=None)


class InstrumentsReply(msgspec.Struct, frozen=True, gc=False):
    result: str
    instruments: list[Instrument] = field(default_factory=list)
    error: str | None = None


class HistoryTrade(msgspec.Struct, frozen=True, gc=False):
    """One row of ``/derivatives/api/v3/history``; ``side`` is the taker's."""

    price: Decimal
    side: str
    size: Decimal
    time: str
    uid: str
    trade_id: int | None = None
    type: str | None = None


class HistoryReply(msgspec.Struct, frozen=True, gc=False):
    result: str
    history: list[HistoryTrade] = field(default_factory=list)
    error: str | None = None


class ExecutionOrder(msgspec.Struct, frozen=True, gc=False):
    direction: str


class Execution(msgspec.Struct, frozen=True, gc=False):
    uid: str
    timestamp: int
    quantity: Decimal
    price: Decimal
    taker_order: ExecutionOrder = field(name="takerOrder")


class ExecutionEvent(msgspec.Struct, frozen=True, gc=False):
    execution: Execution


class ElementEvent(msgspec.Struct, frozen=True, gc=False):
    execution: ExecutionEvent | None = field(name="Execution", default=None)


class Element(msgspec.Struct, frozen=True, gc=False):
    uid: str
    timestamp: int
    event: ElementEvent


class ExecutionsReply(msgspec.Struct, frozen=True, gc=False):
    """``/api/history/v3/market/{symbol}/executions`` body."""

    elements: list[Element] = field(default_factory=list)
    continuation_token: str | None = field(name="continuationToken", default=None)


MESSAGE = msgspec.json.Decoder(Message)
PROBE = msgspec.json.Decoder(Probe)
INSTRUMENTS = msgspec.json.Decoder(InstrumentsReply)
HISTORY = msgspec.json.Decoder(HistoryReply)
EXECUTIONS = msgspec.json.Decoder(ExecutionsReply)
