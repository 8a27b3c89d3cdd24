"""Binance market state as the replay advances, and the REST answers made from it.

Depth: ``/api/v3/depth`` answers at the replay position so that the documented sync procedure
(protocols.md 1.3) works against it. While a symbol's book is not yet backed by a recorded
snapshot, the answer is the next recorded snapshot (taken, as live, ahead of the stream: the
client drops the diffs it already covers). Once the replay has played a snapshot, the book is
that snapshot plus every later diff, and ``lastUpdateId`` is the last diff's ``u``. A recording
with no snapshot at all serves the levels its diffs have shown, from the first diff's ``U - 1``:
incomplete, but exactly what a client applying the same diffs holds.

Trades: ``/api/v3/trades``, ``historicalTrades`` and ``aggTrades`` answer from the trades the
replay has played (the recorded ``@trade`` / ``@aggTrade`` frames), so a client that missed
frames while disconnected recovers them by id.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from ticklane.venues.sim.books import LevelBook
from ticklane.venues.sim.venue import HttpAnswer

log = logging.getLogger(__name__)

MISSING_SYMBOL = {
    "code": -1102,
    "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
}
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


@dataclass
class Snapshot:
    """A recorded REST depth snapshot and where it sits on the timeline."""

    index: int
    last_update_id: int
    body: str
    bids: list[list[str]]
    asks: list[list[str]]


@dataclass
class DepthState:
    """One symbol's venue-side book."""

    book: LevelBook = field(default_factory=LevelBook)
    last_u: int | None = None
    first_u: int | None = None
    synced: bool = False
    snapshots: list[Snapshot] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    """Diffs played while no snapshot backs the book, to re-apply over one that arrives."""

    def apply_diff(self, data: dict[str, Any]) -> None:
        first, last = int(data["U"]), int(data["u"])
        if self.synced and self.last_u is not None and first > self.last_u + 1:
            log.warning("binance %s: the recording skips depth ids %d..%d", data.get("s"),
                        self.last_u + 1, first - 1)  # fmt: skip
            self.synced = False
            self.log.clear()
        self._levels(data)
        self.last_u = last
        if not self.synced:
            self.log.append(data)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        if self.synced:
            return  # the book already follows the diffs exactly
        self.book.clear()
        for bid, levels in ((True, snapshot.bids), (False, snapshot.asks)):
            for price, qty in levels:
                self.book.put(bid, price, qty)
        for data in self.log:
            if int(data["u"]) > snapshot.last_update_id:
                self._levels(data)
        self.log.clear()
        self.synced = True
        self.last_u = max(self.last_u or 0, snapshot.last_update_id)

    def _levels(self, data: dict[str, Any]) -> None:
        for price, qty in data.get("b", ()):
            self.book.put(True, price, qty)
        for price, qty in data.get("a", ()):
            self.book.put(False, price, qty)

    def answer(self, position: int, limit: int) -> dict[str, Any] | str:
        if not self.synced:
            ahead = next((s for s in self.snapshots if s.index >= position), None)
            if ahead is not None:
                if limit >= max(len(ahead.bids), len(ahead.asks)):
                    return ahead.body
                return {
                    "lastUpdateId": ahead.last_update_id,
                    "bids": ahead.bids[:limit],
                    "asks": ahead.asks[:limit],
                }
        if self.last_u is not None:
            last = self.last_u
        else:
            last = (self.first_u - 1) if self.first_u is not None else 0
        return {
            "lastUpdateId": last,
            "bids": [[p, q] for p, q, _ in self.book.top(True, limit)],
            "asks": [[p, q] for p, q, _ in self.book.top(False, limit)],
        }


@dataclass
class TradeStore:
    """Played trades of one symbol, in id order."""

    ids: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


class BinanceMarket:
    """Everything the Binance REST API answers from."""

    def __init__(self) -> None:
        self.depth: dict[str, DepthState] = {}
        self.trades: dict[str, TradeStore] = {}
        self.agg_trades: dict[str, TradeStore] = {}
        self.exchange_info: str | None = None
        self.known: set[str] = set()
        """Symbols of the recordings (and of a synthetic market)."""
        self._listed: set[str] | None = None
        self.position = 0

    def depth_of(self, symbol: str) -> DepthState:
        return self.depth.setdefault(symbol, DepthState())

    def add_trade(self, data: dict[str, Any]) -> None:
        store = self.trades.setdefault(str(data["s"]), TradeStore())
        price, qty = str(data["p"]), str(data["q"])
        store.ids.append(int(data["t"]))
        store.rows.append(
            {
                "id": int(data["t"]),
                "price": price,
                "qty": qty,
                "quoteQty": _plain(Decimal(price) * Decimal(qty)),
                "time": int(data["T"]),
                "isBuyerMaker": bool(data["m"]),
                "isBestMatch": bool(data.get("M", True)),
            }
        )

    def add_agg_trade(self, data: dict[str, Any]) -> None:
        store = self.agg_trades.setdefault(str(data["s"]), TradeStore())
        store.ids.append(int(data["a"]))
        keys = ("a", "p", "q", "f", "l", "T", "m", "M")
        store.rows.append({key: data[key] for key in keys if key in data})

    # REST ----------------------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, str]) -> HttpAnswer:
        routes: dict[str, Callable[[dict[str, str]], HttpAnswer]] = {
            "/api/v3/depth": self._depth,
            "/api/v3/trades": self._recent_trades,
            "/api/v3/historicalTrades": self._historical_trades,
            "/api/v3/aggTrades": self._agg_trades,
            "/api/v3/exchangeInfo": self._exchange_info_answer,
            "/api/v3/ping": lambda _: HttpAnswer.json({}),
            "/api/v3/time": lambda _: HttpAnswer.json({"serverTime": time.time_ns() // 10**6}),
        }
        route = routes.get(path)
        if route is None:
            return HttpAnswer.json({"code": -1, "msg": f"Unknown path {path}"}, 404)
        return route(query)

    def _symbol(self, query: dict[str, str]) -> tuple[str | None, HttpAnswer | None]:
        symbol = query.get("symbol", "").upper()
        if not symbol:
            return None, HttpAnswer.json(MISSING_SYMBOL, 400)
        known = symbol in self.known or symbol in self.listed_symbols()
        if not known:
            return None, HttpAnswer.json(INVALID_SYMBOL, 400)
        return symbol, None

    def _depth(self, query: dict[str, str]) -> HttpAnswer:
        symbol, error = self._symbol(query)
        if symbol is None:
            return error or HttpAnswer.json(INVALID_SYMBOL, 400)
        limit = _limit(query, default=100, most=5000)
        answer = self.depth_of(symbol).answer(self.position, limit)
        return HttpAnswer.raw(answer) if isinstance(answer, str) else HttpAnswer.json(answer)

    def _recent_trades(self, query: dict[str, str]) -> HttpAnswer:
        symbol, error = self._symbol(query)
        if symbol is None:
            return error or HttpAnswer.json(INVALID_SYMBOL, 400)
        store = self.trades.get(symbol, TradeStore())
        limit = _limit(query, default=500, most=1000)
        return HttpAnswer.json(store.rows[-limit:])

    def _historical_trades(self, query: dict[str, str]) -> HttpAnswer:
        symbol, error = self._symbol(query)
        if symbol is None:
            return error or HttpAnswer.json(INVALID_SYMBOL, 400)
        store = self.trades.get(symbol, TradeStore())
        limit = _limit(query, default=500, most=1000)
        if "fromId" not in query:
            return HttpAnswer.json(store.rows[-limit:])
        start = bisect.bisect_left(store.ids, int(query["fromId"]))
        return HttpAnswer.json(store.rows[start : start + limit])

    def _agg_trades(self, query: dict[str, str]) -> HttpAnswer:
        symbol, error = self._symbol(query)
        if symbol is None:
            return error or HttpAnswer.json(INVALID_SYMBOL, 400)
        store = self.agg_trades.get(symbol) or self._agg_from_trades(symbol)
        limit = _limit(query, default=500, most=1000)
        rows = store.rows
        if "fromId" in query:
            rows = rows[bisect.bisect_left(store.ids, int(query["fromId"])) :]
        elif "startTime" in query or "endTime" in query:
            start = _ms(query.get("startTime", "0"))
            end = _ms(query.get("endTime", str(2**62)))
            rows = [row for row in rows if start <= int(row["T"]) <= end]
        else:
            rows = rows[-limit:]
        return HttpAnswer.json(rows[:limit])

    def _agg_from_trades(self, symbol: str) -> TradeStore:
        # No @aggTrade in the recording: one aggregate per trade (a = f = l = trade id).
        store = TradeStore()
        for row in self.trades.get(symbol, TradeStore()).rows:
            store.ids.append(row["id"])
            store.rows.append(
                {
                    "a": row["id"],
                    "p": row["price"],
                    "q": row["qty"],
                    "f": row["id"],
                    "l": row["id"],
                    "T": row["time"],
                    "m": row["isBuyerMaker"],
                    "M": row["isBestMatch"],
                }
            )
        return store

    def _exchange_info_answer(self, query: dict[str, str]) -> HttpAnswer:
        if self.exchange_info is None:
            return HttpAnswer.json({"code": -1, "msg": "no exchangeInfo in the recordings"}, 404)
        wanted: set[str] = set()
        if query.get("symbol"):
            wanted = {query["symbol"].upper()}
        elif query.get("symbols"):
            wanted = {str(s).upper() for s in msgspec.json.decode(query["symbols"])}
        if not wanted:
            return HttpAnswer.raw(self.exchange_info)
        document = msgspec.json.decode(self.exchange_info)
        symbols = [entry for entry in document["symbols"] if entry["symbol"] in wanted]
        if len(symbols) < len(wanted):
            return HttpAnswer.json(INVALID_SYMBOL, 400)
        document["symbols"] = symbols
        return HttpAnswer.json(document)

    def listed_symbols(self) -> set[str]:
        """Symbols of the exchangeInfo dump (empty without one)."""
        if self._listed is None:
            if self.exchange_info is None:
                return set()
            document = msgspec.json.decode(self.exchange_info)
            self._listed = {str(entry["symbol"]) for entry in document.get("symbols", ())}
        return self._listed


def _limit(query: dict[str, str], *, default: int, most: int) -> int:
    try:
        value = int(query.get("limit", default))
    except ValueError:
        return default
    return max(1, min(value, most))


def _ms(text: str) -> int:
    value = int(text)
    return value // 1000 if value >= 10**14 else value  # microseconds given: compare in ms


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
