"""Kraken Futures trade history and REST answers, from what the replay has played.

``/derivatives/api/v3/instruments`` answers from the recorded dump;
``/derivatives/api/v3/history?symbol=&lastTime=`` (the 100 most recent trades before
``lastTime``) and ``/api/history/v3/market/<symbol>/executions?since=&before=&sort=&count=``
answer from the trades played so far, so a client can recover what it missed while away;
``/derivatives/api/v3/orderbook?symbol=`` answers from the venue's current book.
Executions carry only what a recorded trade knows (uid, time, price, quantity, taker side).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.time import parse_datetime
from ticklane.venues.sim.books import LevelBook
from ticklane.venues.sim.venue import HttpAnswer, json_text

if TYPE_CHECKING:
    from ticklane.venues.sim.kraken_futures import KrakenFuturesVenue, Trade


@dataclass
class TradeHistory:
    """Played trades per product, oldest first, each once (by uid)."""

    by_product: dict[str, list[Trade]] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, product: str, trades: list[Trade]) -> None:
        rows = self.by_product.setdefault(product, [])
        for trade in trades:
            if (product, trade.uid) in self._seen:
                continue
            self._seen.add((product, trade.uid))
            rows.append(trade)
        rows.sort(key=lambda trade: (trade.time, trade.seq))

    def latest(self, product: str, number: int) -> list[Trade]:
        """The ``number`` most recent trades, newest first (as a trade snapshot lists them)."""
        return list(reversed(self.by_product.get(product, [])[-number:]))


def _iso_ms(millis: int) -> str:
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{millis % 1000:03d}Z"


def _now_iso() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _trade_message(product: str, trade: Trade) -> dict[str, Any]:
    return {
        "feed": "trade",
        "product_id": product,
        "uid": trade.uid,
        "side": trade.side,
        "type": trade.type,
        "seq": trade.seq,
        "time": trade.time,
        "qty": trade.qty,
        "price": trade.price,
    }


def trade_snapshot_frame(product: str, trades: list[Trade]) -> str:
    rows = [_trade_message(product, trade) for trade in trades]
    return json_text({"feed": "trade_snapshot", "product_id": product, "trades": rows})


def book_snapshot_frame(product: str, book: LevelBook, seq: int, timestamp: int) -> str:
    def side(bid: bool) -> list[dict[str, msgspec.Raw]]:
        return [
            {"price": msgspec.Raw(price.encode()), "qty": msgspec.Raw(qty.encode())}
            for price, qty, _ in book.top(bid)
        ]

    snapshot = {
        "feed": "book_snapshot",
        "product_id": product,
        "timestamp": timestamp,
        "seq": seq,
        "tickSize": None,
        "bids": side(True),
        "asks": side(False),
    }
    return json_text(snapshot)


def answer(venue: KrakenFuturesVenue, path: str, query: dict[str, str]) -> HttpAnswer:
    if path == "/derivatives/api/v3/instruments":
        if venue.instruments is None:
            return HttpAnswer.json({"result": "error", "error": "no instruments recorded"}, 404)
        return HttpAnswer.raw(venue.instruments)
    if path == "/derivatives/api/v3/history":
        return _history(venue, query)
    if path == "/derivatives/api/v3/orderbook":
        return _orderbook(venue, query)
    prefix, suffix = "/api/history/v3/market/", "/executions"
    if path.startswith(prefix) and path.endswith(suffix):
        return _executions(venue, path[len(prefix) : -len(suffix)].upper(), query)
    return HttpAnswer.json({"result": "error", "error": "Not found"}, 404)


def _product(venue: KrakenFuturesVenue, query: dict[str, str]) -> str | None:
    product = query.get("symbol", "").upper()
    return product if product in venue.products else None


def _history(venue: KrakenFuturesVenue, query: dict[str, str]) -> HttpAnswer:
    product = _product(venue, query)
    if product is None:
        return HttpAnswer.json({"result": "error", "error": "Invalid symbol"}, 400)
    trades = venue.trades.by_product.get(product, [])
    if query.get("lastTime"):
        try:
            before = parse_datetime(query["lastTime"]) // 1_000_000
        except BadDataError:
            return HttpAnswer.json({"result": "error", "error": "Invalid lastTime"}, 400)
        trades = [trade for trade in trades if trade.time < before]
    history = [
        {
            "time": _iso_ms(trade.time),
            "trade_id": trade.seq,
            "price": trade.price,
            "size": trade.qty,
            "side": trade.side,
            "type": trade.type,
            "uid": trade.uid,
        }
        for trade in reversed(trades[-100:])
    ]
    return HttpAnswer.json({"result": "success", "history": history, "serverTime": _now_iso()})


def _orderbook(venue: KrakenFuturesVenue, query: dict[str, str]) -> HttpAnswer:
    product = _product(venue, query)
    if product is None:
        return HttpAnswer.json({"result": "error", "error": "Invalid symbol"}, 400)
    state = venue.books.get(product)
    book = state.book if state is not None else LevelBook()

    def side(bid: bool) -> list[list[msgspec.Raw]]:
        return [[msgspec.Raw(p.encode()), msgspec.Raw(q.encode())] for p, q, _ in book.top(bid)]

    order_book = {"bids": side(True), "asks": side(False)}
    return HttpAnswer.json({"result": "success", "orderBook": order_book, "serverTime": _now_iso()})


def _executions(venue: KrakenFuturesVenue, product: str, query: dict[str, str]) -> HttpAnswer:
    if product not in venue.products:
        return HttpAnswer.json({"result": "error", "error": "Invalid tradeable"}, 400)
    trades = venue.trades.by_product.get(product, [])
    since = int(query.get("since", 0) or 0)
    before = int(query.get("before", 2**62) or 2**62)
    chosen = [trade for trade in trades if since <= trade.time < before]
    if query.get("sort", "desc") != "asc":
        chosen.reverse()
    chosen = chosen[: max(1, min(int(query.get("count", 1000) or 1000), 1000))]
    elements = [
        {
            "uid": trade.uid,
            "timestamp": trade.time,
            "event": {
                "Execution": {
                    "execution": {
                        "uid": trade.uid,
                        "timestamp": trade.time,
                        "quantity": _plain(trade.qty),
                        "price": _plain(trade.price),
                        "takerOrder": {
                            "tradeable": product,
                            "direction": "Buy" if trade.side == "buy" else "Sell",
                        },
                    }
                }
            },
        }
        for trade in chosen
    ]
    return HttpAnswer.json({"len": len(elements), "elements": elements, "continuationToken": None})


def _plain(raw: msgspec.Raw) -> str:
    return bytes(raw).decode()
