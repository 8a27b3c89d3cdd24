"""Binance spot market streams and REST, replayed (protocols.md section 1).

WebSocket paths: ``/stream?streams=a/b/c`` (combined: frames are ``{"stream":..,"data":..}``,
sent exactly as recorded), ``/stream``, ``/ws`` and ``/ws/<stream>`` (raw: the bare payload,
cut byte-exact out of the recorded wrapper). Live ``SUBSCRIBE`` / ``UNSUBSCRIBE`` /
``LIST_SUBSCRIPTIONS`` / ``SET_PROPERTY`` / ``GET_PROPERTY`` messages are answered like the
venue; a stream naming an unknown or refused symbol gets
``{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":N}`` (in a URL: HTTP 400).
Only subscribed streams are sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from ticklane.venues.sim.binance_rest import BinanceMarket, Snapshot
from ticklane.venues.sim.recordings import ReceivedFrame, RecordingEvent, RestBody
from ticklane.venues.sim.venue import (
    HttpAnswer,
    ReplayItem,
    Session,
    VenueHandler,
    json_text,
    loads,
)

_INTERVALS = "1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"
STREAM_RE = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?P<kind>trade|aggTrade|bookTicker|ticker|miniTicker|avgPrice"
    r"|ticker_(?:1h|4h|1d)|depth(?:5|10|20)?(?:@100ms|@1000ms)?"
    rf"|kline_(?:{_INTERVALS})(?:@\+08:00)?)$"
)
ALL_MARKET_RE = re.compile(r"^!(?:ticker|miniTicker|bookTicker)(?:@arr)?(?:_\w+)?$")
METHODS = "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"
INVALID_STREAM = "Invalid request: invalid stream"


class BinanceVenue(VenueHandler):
    """Binance spot: combined and raw streams, live subscriptions, REST from the recording."""

    name = "binance"
    ping_interval_default = 20.0

    market: BinanceMarket

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = BinanceMarket()
        self.known = self.market.known

    def endpoints(self, ws: str, http: str) -> dict[str, str]:
        return {"ws": f"{ws}/ws", "stream": f"{ws}/stream", "rest": http}

    def channel_of(self, key: str) -> str:
        return key.split("@", 1)[1] if "@" in key else key

    def note_symbols(self, symbols: Iterable[str]) -> None:
        self.known.update(symbol.upper() for symbol in symbols)

    # timeline ----------------------------------------------------------------------------------

    def load(self, events: Iterable[RecordingEvent]) -> Iterator[ReplayItem]:
        index = 0
        for event in events:
            item: ReplayItem | None = None
            if isinstance(event, RestBody):
                item = self._rest_item(index, event)
            elif isinstance(event, ReceivedFrame):
                item = self._frame_item(index, event)
            if item is not None:
                index += 1
                yield item

    def _rest_item(self, index: int, event: RestBody) -> ReplayItem | None:
        parts = urlsplit(event.url)
        if parts.path.endswith("/exchangeInfo"):
            self.market.exchange_info = event.body
            return None
        if not parts.path.endswith("/depth"):
            return None
        symbol = dict(parse_qsl(parts.query)).get("symbol", "").upper()
        body = msgspec.json.decode(event.body)
        if not symbol or not isinstance(body, dict) or "lastUpdateId" not in body:
            return None
        snapshot = Snapshot(
            index, int(body["lastUpdateId"]), event.body, body["bids"], body["asks"]
        )
        self.market.depth_of(symbol).snapshots.append(snapshot)
        self.known.add(symbol)
        return ReplayItem(index, event.ts_recv, "", event.body, data=snapshot, extra=symbol)

    def _frame_item(self, index: int, event: ReceivedFrame) -> ReplayItem | None:
        decoded = msgspec.json.decode(event.frame)
        if not isinstance(decoded, dict) or "stream" not in decoded:
            return None  # an ack or error the recorder got; the server makes its own
        stream, data = str(decoded["stream"]), decoded.get("data")
        symbol = stream.split("@", 1)[0].upper()
        if isinstance(data, dict):
            self.known.add(str(data.get("s", symbol)).upper())
            if data.get("e") == "depthUpdate":
                depth = self.market.depth_of(str(data["s"]))
                if depth.first_u is None:
                    depth.first_u = int(data["U"])
        return ReplayItem(index, event.ts_recv, stream, event.frame, data, _payload(event.frame))

    async def play(self, item: ReplayItem) -> None:
        self.market.position = item.index
        if not item.key:
            self.market.depth_of(item.extra).apply_snapshot(item.data)
            return
        data = item.data
        if isinstance(data, dict):
            kind = data.get("e")
            if kind == "depthUpdate":
                self.market.depth_of(str(data["s"])).apply_diff(data)
            elif kind == "trade":
                self.market.add_trade(data)
            elif kind == "aggTrade":
                self.market.add_agg_trade(data)
        for session in self.transport.sessions:
            if item.key in session.subs:
                text = item.frame if session.props["combined"] else item.extra
                await self.transport.send_data(session, item.key, text)
        self.market.position = item.index + 1

    # WebSocket ---------------------------------------------------------------------------------

    def ws_path_ok(self, path: str) -> bool:
        return path in ("/ws", "/stream") or path.startswith("/ws/")

    def _url_streams(self, path: str, query: dict[str, str]) -> list[str]:
        if path == "/stream":
            return [s for s in query.get("streams", "").split("/") if s]
        if path.startswith("/ws/"):
            return [s for s in path[4:].split("/") if s]
        return []

    def handshake_error(self, path: str, query: dict[str, str]) -> HttpAnswer | None:
        streams = self._url_streams(path, query)
        if any(not self._stream_ok(stream) for stream in streams):
            return HttpAnswer.json({"code": 2, "msg": INVALID_STREAM}, 400)
        return None

    def _stream_ok(self, stream: str) -> bool:
        if ALL_MARKET_RE.match(stream):
            return True
        match = STREAM_RE.match(stream)
        if match is None:
            return False
        symbol = match["symbol"].upper()
        known = not self.known or symbol in self.known or symbol in self.market.listed_symbols()
        return known and not self.transport.is_rejected(symbol)

    async def on_open(self, session: Session) -> None:
        session.props["combined"] = session.path.startswith("/stream")
        streams = self._url_streams(session.path, session.query)
        for stream in streams:
            session.subscribe(stream)
        if streams:
            self.transport.subscriptions_changed()

    async def on_message(self, session: Session, text: str) -> None:
        try:
            message = loads(text)
        except ValueError as error:
            await self._error(session, 3, f"Invalid JSON: {error}", None)
            return
        if not isinstance(message, dict):
            await self._error(session, 2, "Invalid request: expected a JSON object", None)
            return
        request_id = message.get("id")
        if not _id_ok(request_id):
            await self._error(session, 2, "Invalid request: invalid request ID", None)
            return
        method = message.get("method")
        params = message.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            await self._subscription(session, method == "SUBSCRIBE", params, request_id)
        elif method == "LIST_SUBSCRIPTIONS":
            await self._result(session, sorted(session.subs), request_id)
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            await self._property(session, method == "SET_PROPERTY", params, request_id)
        else:
            detail = f"unknown variant `{method}`, expected one of {METHODS}"
            await self._error(session, 2, f"Invalid request: {detail}", request_id)

    async def _subscription(
        self, session: Session, subscribe: bool, params: Any, request_id: Any
    ) -> None:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            await self._error(session, 2, "Invalid request: params must be streams", request_id)
            return
        if subscribe and not all(self._stream_ok(stream) for stream in params):
            await self._error(session, 2, INVALID_STREAM, request_id)
            return
        for stream in params:
            if subscribe:
                session.subscribe(stream)
            else:
                session.unsubscribe(stream)
        await self._result(session, None, request_id)
        self.transport.subscriptions_changed()

    async def _property(self, session: Session, assign: bool, params: Any, request_id: Any) -> None:
        if not isinstance(params, list) or not params or params[0] != "combined":
            await self._error(session, 0, "Unknown property", request_id)
        elif not assign:
            await self._result(session, session.props["combined"], request_id)
        elif len(params) != 2 or not isinstance(params[1], bool):
            await self._error(session, 1, "Invalid value type: expected Boolean", request_id)
        else:
            session.props["combined"] = params[1]
            await self._result(session, None, request_id)

    async def _result(self, session: Session, result: Any, request_id: Any) -> None:
        await self.transport.send_control(session, json_text({"result": result, "id": request_id}))

    async def _error(self, session: Session, code: int, text: str, request_id: Any) -> None:
        answer = {"error": {"code": code, "msg": text}, "id": request_id}
        await self.transport.send_control(session, json_text(answer))

    # REST --------------------------------------------------------------------------------------

    def http(self, path: str, query: dict[str, str]) -> HttpAnswer:
        return self.market.answer(path, query)


def _id_ok(value: Any) -> bool:
    """int64, an alphanumeric string of at most 36 characters, or null (protocols.md 1.1)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= 36 and value.replace("-", "").isalnum()


def _payload(frame: str) -> str:
    """The ``data`` part of a combined-stream frame, byte-exact (it is the wrapper's last key)."""
    start = frame.find('"data":')
    if start > 0 and frame.endswith("}"):
        inner = frame[start + 7 : -1]
        if inner[:1] in ("{", "["):
            return inner
    return json_text(msgspec.json.decode(frame)["data"])
