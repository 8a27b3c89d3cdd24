"""Kraken spot WebSocket v2 (``/v2``) and v1 (``/``), replayed from v1 recordings.

v1 subscribers get the recorded frames verbatim (a book subscription must ask for the recorded
depth). v2 subscribers get each frame rewritten as v2 (``kraken_v2``): trades with the venue's
trade ids, tickers, and books at any depth up to the recorded one; for a smaller depth the venue
sends what changed inside that depth plus the levels that come into it (as Kraken republishes
them), and the checksum, over the top ten, stays the recorded one. Heartbeats are made by the
venue (after ``heartbeat_interval`` idle seconds on a subscribed connection), not replayed.
A book subscription made mid-replay gets a snapshot of the venue's current book.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ticklane.venues.sim import kraken_v2 as v2
from ticklane.venues.sim.books import Level, LevelBook, book_checksum, kraken_checksum
from ticklane.venues.sim.kraken_rest import BookState, KrakenMarket
from ticklane.venues.sim.kraken_ws import Sub, handle_v1, handle_v2
from ticklane.venues.sim.recordings import (
    ReceivedFrame,
    RecordingEvent,
    RestBody,
    seconds_text_to_ns,
)
from ticklane.venues.sim.venue import (
    HttpAnswer,
    ReplayItem,
    Session,
    VenueHandler,
    json_text,
    loads,
)

Change = tuple[bool, Decimal, Level]  # (is bid, price key, level) in the order of the frame


class KrakenVenue(VenueHandler):
    """Kraken spot: WS v2 and v1, REST ``Trades`` / ``AssetPairs``."""

    name = "kraken"
    heartbeats = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = KrakenMarket()
        self.system_status: str | None = None
        self.channels: dict[tuple[str, str], int] = {}
        self._connection_ids = count(13_935_949_241_502_919_679)
        self._channel_ids = count(9000)

    def endpoints(self, ws: str, http: str) -> dict[str, str]:
        return {"ws": f"{ws}/v2", "ws_v1": f"{ws}/", "rest": http}

    def channel_of(self, key: str) -> str:
        return key.split(":", 1)[0]

    # timeline ----------------------------------------------------------------------------------

    def load(self, events: Iterable[RecordingEvent]) -> Iterator[ReplayItem]:
        index = 0
        trade_ids: dict[str, int] = {}
        for event in events:
            if isinstance(event, RestBody):
                if urlsplit(event.url).path.endswith("/AssetPairs"):
                    self.market.load_asset_pairs(event.body)
                continue
            if not isinstance(event, ReceivedFrame):
                continue
            decoded = msgspec.json.decode(event.frame)
            if isinstance(decoded, dict):
                self._note_event(event.frame, decoded)
                continue
            if not isinstance(decoded, list) or len(decoded) < 4:
                continue
            name, pair = str(decoded[-2]), str(decoded[-1])
            channel = name.split("-", 1)[0]
            self.market.note_pair(pair)
            self.channels.setdefault((name, pair), int(decoded[0]))
            extra: Any = None
            if channel == "book":
                if pair not in self.market.books:
                    depth = int(name.split("-", 1)[1]) if "-" in name else 10
                    book = BookState(depth, int(decoded[0]), LevelBook(depth))
                    self.market.books[pair] = book
                first = decoded[1]
                extra = "snapshot" if "as" in first or "bs" in first else "update"
            elif channel == "trade":
                start = trade_ids.get(pair, 0)
                extra = list(range(start + 1, start + 1 + len(decoded[1])))
                trade_ids[pair] = start + len(decoded[1])
            yield ReplayItem(index, event.ts_recv, f"{channel}:{pair}", event.frame, decoded, extra)
            index += 1

    def _note_event(self, frame: str, decoded: dict[str, Any]) -> None:
        """Keep the recorded greeting and channel ids (acks are made, not replayed)."""
        if decoded.get("event") == "systemStatus" and self.system_status is None:
            self.system_status = frame
        elif decoded.get("event") == "subscriptionStatus" and "channelID" in decoded:
            name, pair = str(decoded.get("channelName")), str(decoded.get("pair"))
            self.channels.setdefault((name, pair), int(decoded["channelID"]))

    async def play(self, item: ReplayItem) -> None:
        channel, pair = item.key.split(":", 1)
        if channel == "book":
            await self._play_book(item, pair)
            return
        data = item.data
        if channel == "trade":
            self.market.add_trades(pair, data[1], item.extra)
        elif channel == "ticker":
            self.market.tickers[pair] = (data[1], item.ts_recv)
        for session, sub in self._subscribed(item.key):
            text: str | None = item.frame
            if sub.version == 2:
                text = self._v2_frame(item, sub)
            if text is not None:
                await self.transport.send_data(session, item.key, text)

    def _v2_frame(self, item: ReplayItem, sub: Sub) -> str | None:
        data = item.data
        if sub.channel == "trade":
            rows = [[*row[:6], trade_id] for row, trade_id in zip(data[1], item.extra, strict=True)]
            return v2.trade_frame("update", sub.symbol, rows)
        if sub.channel == "ticker":
            kind = "snapshot" if sub.snapshot and not sub.ready else "update"
            sub.ready = True
            return v2.ticker_frame(kind, sub.symbol, data[1], item.ts_recv)
        return None  # spread and ohlc are not converted

    async def _play_book(self, item: ReplayItem, pair: str) -> None:
        state = self.market.books[pair]
        if item.extra == "snapshot":
            await self._play_book_snapshot(item, state)
        else:
            await self._play_book_update(item, state)

    async def _play_book_snapshot(self, item: ReplayItem, state: BookState) -> None:
        book = state.book
        book.clear()
        asks = [_level(entry) for entry in item.data[1].get("as", ())]
        bids = [_level(entry) for entry in item.data[1].get("bs", ())]
        for bid, entries in ((False, asks), (True, bids)):
            for price, qty, level_ts in entries:
                book.put(bid, price, qty, level_ts)
        book.truncate()
        state.ready = True
        checksum = kraken_checksum(asks, bids)
        for session, sub in self._subscribed(item.key):
            sub.ready = True
            text = item.frame
            if sub.version == 2:
                top_bids, top_asks = bids[: sub.depth], asks[: sub.depth]
                text = v2.book_frame("snapshot", sub.symbol, top_bids, top_asks, checksum)
            await self.transport.send_data(session, item.key, text)

    async def _play_book_update(self, item: ReplayItem, state: BookState) -> None:
        book, data = state.book, item.data
        receivers = [(s, sub) for s, sub in self._subscribed(item.key) if sub.ready]
        narrow = {sub.depth for _, sub in receivers if sub.version == 2 and sub.depth < state.depth}
        before = {depth: _view(book, depth) for depth in narrow}
        changes = _apply_update(book, data)
        after = {depth: _view(book, depth) for depth in narrow}
        recorded = data[-3].get("c") if isinstance(data[-3], dict) else None
        checksum = int(recorded) if recorded is not None else book_checksum(book)
        stamp = max((_level_ns(level) for _, _, level in changes), default=item.ts_recv)
        for session, sub in receivers:
            text: str | None = item.frame
            if sub.version == 2:
                shown = changes
                if sub.depth in narrow:
                    shown = _in_view(changes, book, before[sub.depth], after[sub.depth])
                text = _v2_update(sub.symbol, shown, checksum, stamp)
            if text is not None:
                await self.transport.send_data(session, item.key, text)

    def _subscribed(self, key: str) -> list[tuple[Session, Sub]]:
        return [(s, s.subs[key]) for s in self.transport.sessions if key in s.subs]

    # WebSocket ---------------------------------------------------------------------------------

    def ws_path_ok(self, path: str) -> bool:
        return path in ("/", "/v2")

    async def on_open(self, session: Session) -> None:
        session.props["version"] = 2 if session.path == "/v2" else 1
        if session.props["version"] == 2:
            await self.transport.send_control(session, v2.status_frame(next(self._connection_ids)))
            return
        status = self.system_status or json_text(
            {
                "connectionID": next(self._connection_ids),
                "event": "systemStatus",
                "status": "online",
                "version": "1.9.0",
            }
        )
        await self.transport.send_control(session, status)

    def heartbeat(self, session: Session) -> str | None:
        if session.props["version"] == 2:
            return '{"channel":"heartbeat"}'
        return '{"event":"heartbeat"}'

    async def on_message(self, session: Session, text: str) -> None:
        try:
            message = loads(text)
        except ValueError:
            message = None
        if session.props["version"] == 2:
            await handle_v2(self, session, message)
        else:
            await handle_v1(self, session, message)

    async def send_book_snapshot(self, session: Session, key: str, sub: Sub) -> None:
        """A subscription made after the book's snapshot was played gets the current book."""
        state = self.market.books.get(sub.pair)
        if state is None or not state.ready:
            return
        sub.ready = True
        book = state.book
        if sub.version == 1:
            name = f"book-{state.depth}"
            body = {
                "as": [list(level) for level in book.top(False, state.depth)],
                "bs": [list(level) for level in book.top(True, state.depth)],
            }
            text = json_text([state.channel_id, body, name, sub.pair])
        else:
            bids, asks = book.top(True, sub.depth), book.top(False, sub.depth)
            text = v2.book_frame("snapshot", sub.symbol, bids, asks, book_checksum(book))
        await self.transport.send_data(session, key, text, synthesized=True)

    def channel_id(self, name: str, pair: str) -> int:
        if (name, pair) not in self.channels:
            self.channels[(name, pair)] = next(self._channel_ids)
        return self.channels[(name, pair)]

    def now_text(self) -> str:
        return v2.rfc3339(time.time_ns())

    # REST --------------------------------------------------------------------------------------

    def http(self, path: str, query: dict[str, str]) -> HttpAnswer:
        return self.market.answer(path, query)


def _level(entry: list[str]) -> Level:
    return (entry[0], entry[1], entry[2] if len(entry) > 2 else "")


def _level_ns(level: Level) -> int:
    return seconds_text_to_ns(level[2]) if level[2] else 0


def _apply_update(book: LevelBook, data: list[Any]) -> list[Change]:
    """Apply the levels of a v1 book update in frame order; returns them."""
    changes: list[Change] = []
    for part in data[1:-2]:
        for side_key in ("a", "b"):
            for entry in part.get(side_key, ()):
                level = _level(entry)
                key = book.put(side_key == "b", *level)
                changes.append((side_key == "b", key, level))
    book.truncate()  # levels pushed out of the subscribed depth are dropped, not deleted
    return changes


def _view(book: LevelBook, depth: int) -> tuple[set[Decimal], set[Decimal]]:
    return book.top_keys(True, depth), book.top_keys(False, depth)


def _in_view(
    changes: list[Change],
    book: LevelBook,
    before: tuple[set[Decimal], set[Decimal]],
    after: tuple[set[Decimal], set[Decimal]],
) -> list[Change]:
    """The changes a subscriber to a smaller depth sees, plus levels entering its depth."""
    shown: list[Change] = []
    touched: set[tuple[bool, Decimal]] = set()
    for bid, key, level in changes:
        side = 0 if bid else 1
        if key in before[side] or key in after[side]:
            shown.append((bid, key, level))
            touched.add((bid, key))
    for bid in (True, False):
        side = 0 if bid else 1
        for key in sorted(after[side] - before[side], reverse=bid):
            if (bid, key) not in touched:
                shown.append((bid, key, book.side(bid)[key]))  # republished into the depth
    return shown


def _v2_update(symbol: str, shown: list[Change], checksum: int, stamp: int) -> str | None:
    if not shown:
        return None
    bids = [level for bid, _, level in shown if bid]
    asks = [level for bid, _, level in shown if not bid]
    return v2.book_frame("update", symbol, bids, asks, checksum, stamp)
