"""Kraken spot client messages: v1 ``event`` requests and v2 ``method`` requests.

Answers follow the venue: v1 ``subscriptionStatus`` per pair (``status`` subscribed,
unsubscribed or error with ``errorMessage``), ``pong`` for ``ping``; v2 one ack per symbol
(``success`` true, or false with ``error``), ``pong`` for ``ping``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ticklane.venues.sim import kraken_v2 as v2
from ticklane.venues.sim.venue import Session, json_text

if TYPE_CHECKING:
    from ticklane.venues.sim.kraken import KrakenVenue

DEPTHS = (10, 25, 100, 500, 1000)
V1_CHANNELS = ("trade", "ticker", "book", "spread", "ohlc")
V2_CHANNELS = ("trade", "ticker", "book")
TRADE_SNAPSHOT = 50
UNSUPPORTED_PAIR = "Currency pair not supported"


@dataclass
class Sub:
    """One subscription of one session."""

    version: int
    channel: str
    pair: str
    """The v1 pair (``XBT/USD``): recordings and stream keys use it."""
    symbol: str
    """The name the client used (v2: ``BTC/USD``)."""
    depth: int = 10
    snapshot: bool = True
    ready: bool = False
    """Book: a snapshot was sent. v2 ticker: the first frame (the snapshot) was sent."""


# v1 ------------------------------------------------------------------------------------------


async def handle_v1(venue: KrakenVenue, session: Session, message: Any) -> None:
    send = venue.transport.send_control
    if not isinstance(message, dict) or "event" not in message:
        await send(session, json_text({"errorMessage": "Malformed request", "event": "error"}))
        return
    event, reqid = message["event"], message.get("reqid")
    if event == "ping":
        await send(session, json_text(_with_reqid({"event": "pong"}, reqid)))
    elif event in ("subscribe", "unsubscribe"):
        await _v1_subscription(venue, session, message, event == "subscribe")
    else:
        answer = {"errorMessage": f"Unsupported event {event}", "event": "error"}
        await send(session, json_text(_with_reqid(answer, reqid)))


async def _v1_subscription(
    venue: KrakenVenue, session: Session, message: dict[str, Any], subscribe: bool
) -> None:
    send = venue.transport.send_control
    reqid = message.get("reqid")
    subscription = message.get("subscription")
    pairs = message.get("pair")
    if not isinstance(subscription, dict) or subscription.get("name") not in V1_CHANNELS:
        answer = {"errorMessage": "Subscription name invalid", "event": "error"}
        await send(session, json_text(_with_reqid(answer, reqid)))
        return
    if not isinstance(pairs, list) or not pairs:
        answer = {"errorMessage": "Pair field must be an array", "event": "error"}
        await send(session, json_text(_with_reqid(answer, reqid)))
        return
    name = str(subscription["name"])
    for pair in map(str, pairs):
        status: dict[str, Any] = {"event": "subscriptionStatus", "pair": pair}
        problem = _v1_problem(venue, name, pair, subscription) if subscribe else None
        key = f"{name}:{pair}"
        if problem is None and not subscribe and key not in session.subs:
            problem = "Subscription Not Found"
        if problem is not None:
            status.update(errorMessage=problem, status="error", subscription=subscription)
            await send(session, json_text(_with_reqid(dict(sorted(status.items())), reqid)))
            continue
        channel_name = _v1_channel_name(venue, name, pair, subscription)
        status.update(
            channelID=venue.channel_id(channel_name, pair),
            channelName=channel_name,
            status="subscribed" if subscribe else "unsubscribed",
            subscription=subscription,
        )
        await send(session, json_text(_with_reqid(dict(sorted(status.items())), reqid)))
        if not subscribe:
            session.unsubscribe(key)
            continue
        depth = int(subscription.get("depth", 10))
        sub = Sub(1, name, pair, pair, depth=depth)
        session.subscribe(key, sub)
        if name == "book":
            await venue.send_book_snapshot(session, key, sub)
    venue.transport.subscriptions_changed()


def _v1_problem(
    venue: KrakenVenue, name: str, pair: str, subscription: dict[str, Any]
) -> str | None:
    if pair not in venue.market.pairs or venue.transport.is_rejected(pair, v2.v2_symbol(pair)):
        return UNSUPPORTED_PAIR
    if name == "book":
        depth = subscription.get("depth", 10)
        if depth not in DEPTHS:
            return "Subscription depth not supported"
        recorded = venue.market.books.get(pair)
        if recorded is not None and depth != recorded.depth:
            # v1 frames are replayed verbatim, and they are those of the recorded depth.
            return f"Subscription depth not supported (recorded at {recorded.depth})"
    return None


def _v1_channel_name(venue: KrakenVenue, name: str, pair: str, subscription: dict[str, Any]) -> str:
    if name == "book":
        return f"book-{subscription.get('depth', 10)}"
    if name == "ohlc":
        return f"ohlc-{subscription.get('interval', 1)}"
    return name


def _with_reqid(answer: dict[str, Any], reqid: Any) -> dict[str, Any]:
    if reqid is not None:
        answer["reqid"] = reqid
    return answer


# v2 ------------------------------------------------------------------------------------------


async def handle_v2(venue: KrakenVenue, session: Session, message: Any) -> None:
    time_in = venue.now_text()
    send = venue.transport.send_control
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        await send(session, v2.method_answer("unknown", req_id=None, time_in=time_in,
                                             error="Malformed request"))  # fmt: skip
        return
    method, req_id = message["method"], message.get("req_id")
    if method == "ping":
        answer = {"method": "pong", "req_id": req_id, "time_in": time_in, "time_out": time_in}
        await send(session, json_text(answer))
    elif method in ("subscribe", "unsubscribe"):
        await _v2_subscription(venue, session, message, method == "subscribe", time_in)
    else:
        await send(session, v2.method_answer(method, req_id=req_id, time_in=time_in,
                                             error=f"Method {method} not supported"))  # fmt: skip


async def _v2_subscription(
    venue: KrakenVenue, session: Session, message: dict[str, Any], subscribe: bool, time_in: str
) -> None:
    method, req_id = message["method"], message.get("req_id")
    send = venue.transport.send_control
    params = message.get("params")
    if not isinstance(params, dict):
        await send(session, v2.method_answer(method, req_id=req_id, time_in=time_in,
                                             error="params must be an object"))  # fmt: skip
        return
    channel, symbols = params.get("channel"), params.get("symbol")
    depth = params.get("depth", 10)
    problem = None
    if channel not in V2_CHANNELS:
        problem = f"Channel {channel} not supported"
    elif not isinstance(symbols, list) or not symbols:
        problem = "symbol must be a non-empty array"
    elif channel == "book" and depth not in DEPTHS:
        problem = f"Invalid depth {depth}"
    if problem is not None:
        await send(session, v2.method_answer(method, req_id=req_id, time_in=time_in,
                                             error=problem))  # fmt: skip
        return
    snapshot = bool(params.get("snapshot", channel != "trade"))
    for symbol in [str(symbol) for symbol in symbols or ()]:
        await _v2_one(venue, session, method, str(channel), symbol, depth, snapshot, req_id,
                      time_in, subscribe)  # fmt: skip
    venue.transport.subscriptions_changed()


async def _v2_one(
    venue: KrakenVenue,
    session: Session,
    method: str,
    channel: str,
    symbol: str,
    depth: int,
    snapshot: bool,
    req_id: Any,
    time_in: str,
    subscribe: bool,
) -> None:
    send = venue.transport.send_control
    pair = v2.v1_pair(symbol)
    key = f"{channel}:{pair}"
    error = None
    if subscribe and (pair not in venue.market.pairs or venue.transport.is_rejected(symbol, pair)):
        error = f"{UNSUPPORTED_PAIR} {symbol}"
    elif subscribe and key in session.subs:
        error = "Already subscribed"
    elif not subscribe and key not in session.subs:
        error = "Subscription Not Found"
    if error is not None:
        await send(session, v2.method_answer(method, req_id=req_id, time_in=time_in, error=error,
                                             symbol=symbol))  # fmt: skip
        return
    result: dict[str, Any] = {"channel": channel}
    if channel == "book":
        result["depth"] = depth
    if subscribe:
        result["snapshot"] = snapshot
    result["symbol"] = symbol
    await send(session, v2.method_answer(method, req_id=req_id, time_in=time_in, result=result))
    if not subscribe:
        session.unsubscribe(key)
        return
    sub = Sub(2, channel, pair, symbol, depth=depth, snapshot=snapshot, ready=not snapshot)
    session.subscribe(key, sub)
    if channel == "book" and snapshot:
        await venue.send_book_snapshot(session, key, sub)
    elif channel == "trade" and snapshot:
        rows = (
            venue.market.trades[pair].rows[-TRADE_SNAPSHOT:] if pair in venue.market.trades else []
        )
        text = v2.trade_frame("snapshot", symbol, rows)
        await venue.transport.send_data(session, key, text, synthesized=True)
    elif channel == "ticker" and snapshot and pair in venue.market.tickers:
        ticker, ts_recv = venue.market.tickers[pair]
        sub.ready = True
        text = v2.ticker_frame("snapshot", symbol, ticker, ts_recv)
        await venue.transport.send_data(session, key, text, synthesized=True)
