"""Kraken Futures WebSocket v1 and public REST, replayed (protocols.md section 3).

``/ws/v1`` (and ``/demo/ws/v1``, the demo environment's path): ``subscribe`` /
``unsubscribe`` with ``feed`` and ``product_ids`` are acked one product at a time; an unknown or
refused product gets ``{"event":"error","message":"Invalid product id"}``. A ``book`` or
``trade`` subscription starts with a ``book_snapshot`` / ``trade_snapshot``: the recorded one
if the replay has not reached it yet, else one made from the venue's current book or trades.
Numbers are sent with the recorded digits. A ``ticker`` subscription on a recording that holds
only ``ticker_lite`` gets those frames relabelled ``ticker`` with a ``time``. The venue closes a
connection that sent nothing, not even a ping, for ``idle_timeout`` (60 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ticklane.venues.sim import kraken_futures_rest as rest
from ticklane.venues.sim.books import LevelBook
from ticklane.venues.sim.recordings import ReceivedFrame, RecordingEvent, RestBody
from ticklane.venues.sim.venue import (
    HttpAnswer,
    ReplayItem,
    Session,
    VenueHandler,
    json_text,
    loads,
)

FEEDS = ("book", "trade", "ticker", "ticker_lite", "heartbeat")
TRADE_SNAPSHOT = 100


class Level(msgspec.Struct):
    price: msgspec.Raw
    qty: msgspec.Raw


class BookSnapshot(msgspec.Struct):
    product_id: str
    bids: list[Level]
    asks: list[Level]
    seq: int = 0
    timestamp: int = 0


class BookDelta(msgspec.Struct):
    product_id: str
    side: str
    price: msgspec.Raw
    qty: msgspec.Raw
    seq: int = 0
    timestamp: int = 0


class Trade(msgspec.Struct):
    product_id: str
    price: msgspec.Raw
    qty: msgspec.Raw
    uid: str = ""
    side: str = ""
    type: str = "fill"
    seq: int = 0
    time: int = 0


class TradeSnapshot(msgspec.Struct):
    product_id: str
    trades: list[Trade]


def text(raw: msgspec.Raw) -> str:
    return bytes(raw).decode()


@dataclass
class FuturesBook:
    book: LevelBook = field(default_factory=LevelBook)
    seq: int = 0
    timestamp: int = 0
    ready: bool = False


@dataclass
class FuturesSub:
    feed: str
    product: str
    ready: bool = False


class KrakenFuturesVenue(VenueHandler):
    """Kraken Futures: ``/ws/v1`` feeds and ``/derivatives/api/v3`` REST."""

    name = "kraken_futures"
    heartbeats = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info: str | None = None
        self.instruments: str | None = None
        self.products: set[str] = set()
        self.books: dict[str, FuturesBook] = {}
        self.trades = rest.TradeHistory()
        self.trade_snapshot_played: set[str] = set()
        self.with_ticker: set[str] = set()

    def endpoints(self, ws: str, http: str) -> dict[str, str]:
        return {
            "ws": f"{ws}/ws/v1",
            "demo_ws": f"{ws}/demo/ws/v1",
            "rest": f"{http}/derivatives/api/v3",
            "demo_rest": f"{http}/demo/derivatives/api/v3",
            "history": f"{http}/api/history/v3",
        }

    def channel_of(self, key: str) -> str:
        return key.split(":", 1)[0]

    # timeline ----------------------------------------------------------------------------------

    def load(self, events: Iterable[RecordingEvent]) -> Iterator[ReplayItem]:
        index = 0
        for event in events:
            if isinstance(event, RestBody):
                if urlsplit(event.url).path.endswith("/instruments"):
                    self._load_instruments(event.body)
                continue
            if not isinstance(event, ReceivedFrame):
                continue
            decoded = msgspec.json.decode(event.frame)
            if not isinstance(decoded, dict):
                continue
            if decoded.get("event") == "info" and self.info is None:
                self.info = event.frame
            feed, product = decoded.get("feed"), decoded.get("product_id")
            if not isinstance(feed, str) or not isinstance(product, str) or "event" in decoded:
                continue  # acks, info, heartbeats: the venue makes its own
            product = product.upper()
            self.products.add(product)
            base = feed.removesuffix("_snapshot")
            if base == "ticker":
                self.with_ticker.add(product)
            data = _typed(feed, event.frame, decoded)
            yield ReplayItem(index, event.ts_recv, f"{base}:{product}", event.frame, data, feed)
            index += 1

    def _load_instruments(self, body: str) -> None:
        self.instruments = body
        for entry in msgspec.json.decode(body).get("instruments", ()):
            self.products.add(str(entry.get("symbol", "")).upper())

    async def play(self, item: ReplayItem) -> None:
        feed, data = item.extra, item.data
        base, product = item.key.split(":", 1)
        if feed == "book_snapshot":
            self._reset_book(product, data)
        elif feed == "book":
            self._apply_delta(product, data)
        elif feed == "trade_snapshot":
            self.trades.add(product, data.trades)
            self.trade_snapshot_played.add(product)
        elif feed == "trade":
            self.trades.add(product, [data])
        snapshot = feed.endswith("_snapshot")
        for session in self.transport.sessions:
            sub = session.subs.get(item.key)
            if isinstance(sub, FuturesSub) and (sub.ready or snapshot):
                sub.ready = True
                await self.transport.send_data(session, item.key, item.frame)
            if base == "ticker_lite" and product not in self.with_ticker:
                await self._as_ticker(session, product, item)

    async def _as_ticker(self, session: Session, product: str, item: ReplayItem) -> None:
        key = f"ticker:{product}"
        if key not in session.subs:
            return
        fields = msgspec.json.decode(item.frame, type=dict[str, msgspec.Raw])
        fields["feed"] = msgspec.Raw(b'"ticker"')
        fields.setdefault("time", msgspec.Raw(str(item.ts_recv // 1_000_000).encode()))
        await self.transport.send_data(session, key, json_text(fields))

    def _reset_book(self, product: str, data: BookSnapshot) -> None:
        state = self.books.setdefault(product, FuturesBook())
        state.book.clear()
        for bid, levels in ((True, data.bids), (False, data.asks)):
            for level in levels:
                state.book.put(bid, text(level.price), text(level.qty))
        state.seq, state.timestamp, state.ready = data.seq, data.timestamp, True

    def _apply_delta(self, product: str, data: BookDelta) -> None:
        state = self.books.setdefault(product, FuturesBook())
        state.book.put(data.side == "buy", text(data.price), text(data.qty))
        state.seq, state.timestamp = data.seq, data.timestamp

    # WebSocket ---------------------------------------------------------------------------------

    def ws_path_ok(self, path: str) -> bool:
        return path == "/ws/v1"

    async def on_open(self, session: Session) -> None:
        await self.transport.send_control(session, self.info or '{"event":"info","version":1}')

    def heartbeat(self, session: Session) -> str | None:
        if "heartbeat" not in session.subs:
            return None
        return json_text({"feed": "heartbeat", "time": time.time_ns() // 1_000_000})

    async def on_message(self, session: Session, message_text: str) -> None:
        try:
            message = loads(message_text)
        except ValueError:
            message = None
        event = message.get("event") if isinstance(message, dict) else None
        if not isinstance(message, dict) or event not in ("subscribe", "unsubscribe"):
            if event == "ping":
                return  # counted as activity (the idle timer); the venue documents no answer
            await self._error(session, "Json Error")
            return
        subscribe = message["event"] == "subscribe"
        feed, products = message.get("feed"), message.get("product_ids")
        if feed not in FEEDS:
            await self._error(session, "Invalid feed")
            return
        if feed == "heartbeat":
            self._toggle(session, "heartbeat", subscribe, None)
            await self._ack(session, subscribe, {"feed": feed})
            return
        if not isinstance(products, list) or not products:
            await self._error(session, "Json Error")
            return
        wanted = [str(product).upper() for product in products]
        unknown = [p for p in wanted if p not in self.products or self.transport.is_rejected(p)]
        if subscribe and unknown:
            await self._error(session, "Invalid product id")
            return
        for product in wanted:
            key = f"{feed}:{product}"
            await self._ack(session, subscribe, {"feed": feed, "product_ids": [product]})
            sub = FuturesSub(str(feed), product, ready=feed not in ("book", "trade"))
            self._toggle(session, key, subscribe, sub)
            if subscribe:
                await self._snapshot_now(session, key, sub)
        self.transport.subscriptions_changed()

    def _toggle(self, session: Session, key: str, subscribe: bool, sub: FuturesSub | None) -> None:
        if subscribe:
            session.subscribe(key, sub if sub is not None else True)
        else:
            session.unsubscribe(key)

    async def _snapshot_now(self, session: Session, key: str, sub: FuturesSub) -> None:
        """Past the recorded snapshot, a new subscriber gets one made from the current state."""
        frame: str | None = None
        if sub.feed == "book" and sub.product in self.books and self.books[sub.product].ready:
            state = self.books[sub.product]
            frame = rest.book_snapshot_frame(sub.product, state.book, state.seq, state.timestamp)
        elif sub.feed == "trade" and sub.product in self.trade_snapshot_played:
            latest = self.trades.latest(sub.product, TRADE_SNAPSHOT)
            frame = rest.trade_snapshot_frame(sub.product, latest)
        if frame is not None:
            sub.ready = True
            await self.transport.send_data(session, key, frame, synthesized=True)

    async def _ack(self, session: Session, subscribe: bool, fields: dict[str, Any]) -> None:
        answer = {"event": "subscribed" if subscribe else "unsubscribed", **fields}
        await self.transport.send_control(session, json_text(answer))

    async def _error(self, session: Session, message: str) -> None:
        await self.transport.send_control(
            session, json_text({"event": "error", "message": message})
        )

    # REST --------------------------------------------------------------------------------------

    def http(self, path: str, query: dict[str, str]) -> HttpAnswer:
        return rest.answer(self, path, query)


def _typed(feed: str, frame: str, decoded: dict[str, Any]) -> Any:
    """Book and trade frames decoded with their numbers' exact text; others as decoded."""
    kinds: dict[str, type[Any]] = {
        "book_snapshot": BookSnapshot,
        "book": BookDelta,
        "trade_snapshot": TradeSnapshot,
        "trade": Trade,
    }
    kind = kinds.get(feed)
    return decoded if kind is None else msgspec.json.decode(frame, type=kind)
