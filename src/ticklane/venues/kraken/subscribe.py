"""Kraken spot subscription and ping frames, WS v2 (live) and v1 (replays) (protocols.md 2.2, 2.4).

v2: ``{"method": "subscribe", "params": {"channel": ..., "symbol": [...]}, "req_id": n}``,
one ack per symbol. v1: ``{"event": "subscribe", "pair": [...], "subscription": {...}}``.
Kraken sends a heartbeat after ~1 s without traffic once anything is subscribed; the
application ping is optional (the ``websockets`` protocol pings keep the link alive too).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Final

import msgspec

from ticklane.core.errors import ConfigError
from ticklane.venues.kraken.book import check_depth
from ticklane.venues.kraken.symbols import to_v1, to_v2

DEFAULT_WS_URL: Final = "wss://ws.kraken.com/v2"
BETA_WS_URL: Final = "wss://beta-ws.kraken.com/v2"
V1_WS_URL: Final = "wss://ws.kraken.com"


class Channel(StrEnum):
    """The public channels the platform reads (v2 names; v1 calls ``book`` the same)."""

    TRADE = "trade"
    TICKER = "ticker"
    BOOK = "book"


def subscribe_message(
    channel: Channel | str,
    symbols: Sequence[str],
    req_id: int,
    *,
    depth: int | None = None,
    snapshot: bool | None = None,
    event_trigger: str | None = None,
) -> bytes:
    """A v2 subscribe frame. ``depth`` (book only): 10, 25, 100, 500 or 1000; ``snapshot``:
    send the current state first (trade default false, others true); ``event_trigger``
    (ticker only): ``trades`` or ``bbo``."""
    return _v2("subscribe", channel, symbols, req_id, depth, snapshot, event_trigger)


def unsubscribe_message(
    channel: Channel | str, symbols: Sequence[str], req_id: int, *, depth: int | None = None
) -> bytes:
    """A v2 unsubscribe frame (a book's ``depth`` must match its subscription)."""
    return _v2("unsubscribe", channel, symbols, req_id, depth, None, None)


def ping_message(req_id: int) -> bytes:
    """A v2 application ping; answered by ``{"method": "pong", "req_id": ...}``."""
    return msgspec.json.encode({"method": "ping", "req_id": req_id})


def subscribe_message_v1(
    channel: Channel | str, symbols: Sequence[str], *, depth: int | None = None, reqid: int = 0
) -> bytes:
    """A v1 subscribe frame (pairs in v1 spelling, ``XBT/USD``)."""
    return _v1("subscribe", channel, symbols, depth, reqid)


def unsubscribe_message_v1(
    channel: Channel | str, symbols: Sequence[str], *, depth: int | None = None, reqid: int = 0
) -> bytes:
    """A v1 unsubscribe frame."""
    return _v1("unsubscribe", channel, symbols, depth, reqid)


def ping_message_v1(reqid: int) -> bytes:
    """A v1 ping; answered by ``{"event": "pong", "reqid": ...}``."""
    return msgspec.json.encode({"event": "ping", "reqid": reqid})


def _v2(
    method: str,
    channel: Channel | str,
    symbols: Sequence[str],
    req_id: int,
    depth: int | None,
    snapshot: bool | None,
    event_trigger: str | None,
) -> bytes:
    name = _channel(channel)
    params: dict[str, Any] = {"channel": name, "symbol": [to_v2(s) for s in symbols]}
    if depth is not None:
        if name != Channel.BOOK:
            raise ConfigError(f"kraken: depth applies to the book channel, not {name}")
        params["depth"] = check_depth(depth)
    if snapshot is not None:
        params["snapshot"] = snapshot
    if event_trigger is not None:
        if name != Channel.TICKER or event_trigger not in ("trades", "bbo"):
            raise ConfigError("kraken: event_trigger is trades or bbo, for the ticker channel")
        params["event_trigger"] = event_trigger
    return msgspec.json.encode({"method": method, "params": params, "req_id": req_id})


def _v1(
    event: str, channel: Channel | str, symbols: Sequence[str], depth: int | None, reqid: int
) -> bytes:
    name = _channel(channel)
    subscription: dict[str, Any] = {"name": name}
    if depth is not None:
        if name != Channel.BOOK:
            raise ConfigError(f"kraken: depth applies to the book channel, not {name}")
        subscription["depth"] = check_depth(depth)
    message: dict[str, Any] = {
        "event": event,
        "pair": [to_v1(s) for s in symbols],
        "subscription": subscription,
    }
    if reqid:
        message["reqid"] = reqid
    return msgspec.json.encode(message)


def _channel(channel: Channel | str) -> str:
    try:
        return Channel(channel).value
    except ValueError:
        names = ", ".join(c.value for c in Channel)
        raise ConfigError(f"kraken: channel {channel!r} is not one of {names}") from None
