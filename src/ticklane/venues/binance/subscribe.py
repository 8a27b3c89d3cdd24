"""Binance stream names, combined-stream URLs and (un)subscribe frames (protocols.md 1.1).

Keepalive needs no message of ours: Binance sends WebSocket ping frames every 20 s and the
``websockets`` client answers them. A connection lives at most 24 h; reconnect before that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Final

import msgspec

from ticklane.core.errors import ConfigError
from ticklane.venues.binance.symbols import stream_symbol

DEFAULT_WS_URL: Final = "wss://stream.binance.com:9443"
DATA_ONLY_WS_URL: Final = "wss://data-stream.binance.vision"  # market data only
TESTNET_WS_URL: Final = "wss://stream.testnet.binance.vision"
MAX_STREAMS_PER_CONNECTION: Final = 1024
MAX_CONTROL_MESSAGES_PER_S: Final = 5  # pings, pongs and JSON frames all count
MAX_LIFETIME_S: Final = 24 * 3600


class Channel(StrEnum):
    """The streams the platform reads, as their stream-name suffix."""

    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    BOOK_TICKER = "bookTicker"
    DEPTH = "depth@100ms"  # diff depth every 100 ms; "depth" alone is every 1000 ms
    DEPTH_1S = "depth"


def stream_names(symbols: Iterable[str], channels: Iterable[Channel | str]) -> list[str]:
    """``btcusdt@trade`` ... for every symbol and channel, symbols outermost."""
    suffixes = [Channel(channel).value for channel in channels]
    return [f"{stream_symbol(symbol)}@{suffix}" for symbol in symbols for suffix in suffixes]


def combined_stream_url(
    streams: Sequence[str], base_url: str = DEFAULT_WS_URL, *, microseconds: bool = False
) -> str:
    """The ``/stream?streams=a/b/c`` URL; ``microseconds`` asks for µs event times."""
    if not streams:
        raise ConfigError("binance: a combined stream URL needs at least one stream")
    if len(streams) > MAX_STREAMS_PER_CONNECTION:
        raise ConfigError(
            f"binance: {len(streams)} streams on one connection; the limit is "
            f"{MAX_STREAMS_PER_CONNECTION} (split them with split_streams)"
        )
    url = f"{base_url.rstrip('/')}/stream?streams={'/'.join(streams)}"
    return url + "&timeUnit=MICROSECOND" if microseconds else url


def split_streams(
    streams: Sequence[str], per_connection: int = MAX_STREAMS_PER_CONNECTION
) -> list[list[str]]:
    """The streams in groups of at most ``per_connection``, one group per connection."""
    if not 1 <= per_connection <= MAX_STREAMS_PER_CONNECTION:
        raise ConfigError(
            f"binance: streams per connection must be 1..{MAX_STREAMS_PER_CONNECTION}"
        )
    return [list(streams[i : i + per_connection]) for i in range(0, len(streams), per_connection)]


def subscribe_message(streams: Sequence[str], request_id: int) -> bytes:
    """A live ``SUBSCRIBE`` frame; batch streams into one frame (5 control frames/s limit)."""
    return _request("SUBSCRIBE", streams, request_id)


def unsubscribe_message(streams: Sequence[str], request_id: int) -> bytes:
    """A live ``UNSUBSCRIBE`` frame."""
    return _request("UNSUBSCRIBE", streams, request_id)


def _request(method: str, streams: Sequence[str], request_id: int) -> bytes:
    return msgspec.json.encode({"method": method, "params": list(streams), "id": request_id})
