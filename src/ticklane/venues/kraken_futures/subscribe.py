"""Kraken Futures subscription frames and endpoints (protocols.md 3).

Keepalive: the client must ping at least every 60 s; WebSocket protocol pings do it
(``PING_INTERVAL_S`` for the ``websockets`` client's ``ping_interval``). No application ping.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final

import msgspec

from ticklane.core.errors import ConfigError
from ticklane.venues.kraken_futures.symbols import normalize

DEFAULT_WS_URL: Final = "wss://futures.kraken.com/ws/v1"
DEMO_WS_URL: Final = "wss://demo-futures.kraken.com/ws/v1"
PING_INTERVAL_S: Final = 30.0


class Feed(StrEnum):
    """The public feeds the platform reads."""

    TRADE = "trade"
    BOOK = "book"
    TICKER = "ticker"
    TICKER_LITE = "ticker_lite"
    HEARTBEAT = "heartbeat"


def subscribe_message(feed: Feed | str, symbols: Sequence[str]) -> bytes:
    """``{"event": "subscribe", "feed": ..., "product_ids": [...]}``."""
    return _message("subscribe", feed, symbols)


def unsubscribe_message(feed: Feed | str, symbols: Sequence[str]) -> bytes:
    """``{"event": "unsubscribe", ...}``; resubscribing a book brings a new snapshot."""
    return _message("unsubscribe", feed, symbols)


def _message(event: str, feed: Feed | str, symbols: Sequence[str]) -> bytes:
    try:
        name = Feed(feed).value
    except ValueError:
        names = ", ".join(f.value for f in Feed)
        raise ConfigError(f"kraken_futures: feed {feed!r} is not one of {names}") from None
    if name == Feed.HEARTBEAT:
        return msgspec.json.encode({"event": event, "feed": name})
    if not symbols:
        raise ConfigError(f"kraken_futures: the {name} feed needs at least one product id")
    ids = [normalize(symbol) for symbol in symbols]
    return msgspec.json.encode({"event": event, "feed": name, "product_ids": ids})
