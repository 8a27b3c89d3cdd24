"""Kraken spot wire types: WS v1 (positional arrays), WS v2 (objects), REST (protocols.md 2).

v1 sends every decimal as a string: kept as text (the checksum needs the text as received).
v2 sends JSON numbers (or strings): decoded straight into ``Decimal`` by msgspec, which reads
the number's digits exactly (``105944.20`` -> ``Decimal("105944.20")``), never via a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from msgspec import field

# --- WS v1 -------------------------------------------------------------------------------
# A data frame is [channelID, payload..., channelName, pair]; it is decoded as a list of raw
# items first, then each payload with the type its channel name calls for.
V1Level = list[str]  # [price, volume, timestamp] plus "r" when republished
V1Trade = list[str]  # [price, volume, time, side b/s, orderType m/l, misc]


class V1BookPayload(msgspec.Struct, frozen=True, gc=False):
    """One object of a v1 book frame: a snapshot (``as``/``bs``) or an update (``a``/``b``)."""

    snapshot_asks: list[V1Level] | None = field(name="as", default=None)
    snapshot_bids: list[V1Level] | None = field(name="bs", default=None)
    asks: list[V1Level] | None = field(name="a", default=None)
    bids: list[V1Level] | None = field(name="b", default=None)
    checksum: str | None = field(name="c", default=None)


class V1Ticker(msgspec.Struct, frozen=True, gc=False):
    """v1 ticker: ``a``/``b`` are [price, whole-lot volume, lot volume]."""

    ask: tuple[str, int | str, str] = field(name="a")
    bid: tuple[str, int | str, str] = field(name="b")


class Probe(msgspec.Struct, frozen=True, gc=False):
    """Any object frame, v1 event or v2 message, decoded only far enough to route it."""

    event: str | None = None  # v1
    status: str | None = None
    error_message: str | None = field(name="errorMessage", default=None)
    channel_name: str | None = field(name="channelName", default=None)
    pair: str | None = None
    channel: str | None = None  # v2
    type: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent (Raw cannot be in a union)
    method: str | None = None
    success: bool | None = None
    error: str | None = None
    result: msgspec.Raw = msgspec.Raw()


# --- WS v2 -------------------------------------------------------------------------------


class V2Trade(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    trade_id: int
    timestamp: str


class V2Level(msgspec.Struct, frozen=True, gc=False):
    price: Decimal
    qty: Decimal


class V2Book(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    bids: list[V2Level] = field(default_factory=list)
    asks: list[V2Level] = field(default_factory=list)
    checksum: int | None = None
    timestamp: str | None = None


class V2Ticker(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    timestamp: str | None = None


class V2SubscribeResult(msgspec.Struct, frozen=True, gc=False):
    channel: str | None = None
    symbol: str | None = None
    depth: int | None = None


# --- REST ---------------------------------------------------------------------------------


class AssetPair(msgspec.Struct, frozen=True, gc=False):
    """One ``AssetPairs`` entry; only the keys the platform reads."""

    altname: str
    base: str
    quote: str
    pair_decimals: int
    lot_decimals: int
    wsname: str | None = None
    ordermin: str | None = None
    tick_size: str | None = None
    status: str | None = None


class AssetPairsReply(msgspec.Struct, frozen=True, gc=False):
    error: list[str]
    result: dict[str, AssetPair] = field(default_factory=dict)


class TradesReply(msgspec.Struct, frozen=True, gc=False):
    """``Trades``: ``result`` holds the pair key -> rows, and ``last`` (the next cursor)."""

    error: list[str]
    result: dict[str, Any] = field(default_factory=dict)


V1_FRAME = msgspec.json.Decoder(list[msgspec.Raw])
V1_TEXT = msgspec.json.Decoder(str)
V1_TRADES = msgspec.json.Decoder(list[V1Trade])
V1_BOOK = msgspec.json.Decoder(V1BookPayload)
V1_TICKER = msgspec.json.Decoder(V1Ticker)
V1_SPREAD = msgspec.json.Decoder(list[str])
PROBE = msgspec.json.Decoder(Probe)
V2_TRADES = msgspec.json.Decoder(list[V2Trade])
V2_BOOKS = msgspec.json.Decoder(list[V2Book])
V2_TICKERS = msgspec.json.Decoder(list[V2Ticker])
V2_SUBSCRIBE_RESULT = msgspec.json.Decoder(V2SubscribeResult)
ASSET_PAIRS = msgspec.json.Decoder(AssetPairsReply)
# Untyped rows: times are JSON numbers with 4+ decimals, read as exact Decimals.
TRADES = msgspec.json.Decoder(TradesReply, float_hook=Decimal)
