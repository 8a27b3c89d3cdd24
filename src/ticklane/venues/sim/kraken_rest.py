"""Kraken spot market state as the replay advances, and its REST answers (protocols.md 2.6).

Books are kept per v1 pair at the recorded depth (levels pushed out of scope are dropped, as the
venue does), so a snapshot can be made for a client subscribing mid-replay. Trades played so far
answer ``/0/public/Trades`` (7-element rows with the venue's trade ids), so a client that missed
frames while disconnected gets them back; ``AssetPairs`` answers from the recorded dump.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import msgspec

from ticklane.venues.sim.books import LevelBook
from ticklane.venues.sim.kraken_v2 import number
from ticklane.venues.sim.recordings import seconds_text_to_ns
from ticklane.venues.sim.venue import HttpAnswer

UNKNOWN_PAIR = {"error": ["EQuery:Unknown asset pair"]}


@dataclass
class BookState:
    """One pair's book, its recorded channel and whether a snapshot was played yet."""

    depth: int
    channel_id: int
    book: LevelBook
    ready: bool = False


@dataclass
class TradeLog:
    rows: list[list[Any]] = field(default_factory=list)
    """v1 rows ``[price, volume, time, side, type, misc]`` plus the trade id."""
    ns: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PairNames:
    key: str
    altname: str
    wsname: str


class KrakenMarket:
    """Everything Kraken's REST API answers from, and the books the WebSocket serves."""

    def __init__(self) -> None:
        self.books: dict[str, BookState] = {}
        self.trades: dict[str, TradeLog] = {}
        self.tickers: dict[str, tuple[dict[str, Any], int]] = {}
        self.asset_pairs: str | None = None
        self.pairs: dict[str, PairNames] = {}
        """Every known pair by its v1 wsname."""
        self._lookup: dict[str, PairNames] = {}

    def load_asset_pairs(self, body: str) -> None:
        self.asset_pairs = body
        document = msgspec.json.decode(body)
        for key, entry in document.get("result", {}).items():
            altname = str(entry.get("altname", key))
            wsname = str(entry.get("wsname", ""))
            if wsname:
                self.add_pair(PairNames(key, altname, wsname))

    def add_pair(self, names: PairNames) -> None:
        self.pairs.setdefault(names.wsname, names)
        for alias in (names.key, names.altname, names.wsname):
            self._lookup.setdefault(alias.upper(), names)

    def note_pair(self, wsname: str) -> None:
        """A pair seen in the recording (named like the dump would, if it is missing there)."""
        if wsname not in self.pairs:
            altname = wsname.replace("/", "")
            self.add_pair(PairNames(altname, altname, wsname))

    def find(self, name: str) -> PairNames | None:
        return self._lookup.get(name.upper())

    def add_trades(self, pair: str, rows: list[list[Any]], ids: list[int]) -> None:
        log = self.trades.setdefault(pair, TradeLog())
        for row, trade_id in zip(rows, ids, strict=True):
            log.rows.append([*row[:6], trade_id])
            log.ns.append(seconds_text_to_ns(row[2]))

    # REST --------------------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, str]) -> HttpAnswer:
        if path == "/0/public/Trades":
            return self._trades(query)
        if path == "/0/public/AssetPairs":
            return self._asset_pairs(query)
        if path == "/0/public/Time":
            now = time.time()
            result = {"unixtime": int(now), "rfc1123": formatdate(now, usegmt=True)}
            return HttpAnswer.json({"error": [], "result": result})
        if path == "/0/public/SystemStatus":
            result = {"status": "online", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
            return HttpAnswer.json({"error": [], "result": result})
        return HttpAnswer.json({"error": ["EGeneral:Unknown method"]}, 404)

    def _trades(self, query: dict[str, str]) -> HttpAnswer:
        names = self.find(query.get("pair", ""))
        if names is None:
            return HttpAnswer.json(UNKNOWN_PAIR)
        since = _since_ns(query.get("since", "0"))
        try:
            count = max(1, min(int(query.get("count", 1000)), 1000))
        except ValueError:
            count = 1000
        log = self.trades.get(names.wsname, TradeLog())
        chosen = [(row, ns) for row, ns in zip(log.rows, log.ns, strict=True) if ns > since][:count]
        rows = [[*row[:2], number(row[2]), *row[3:]] for row, _ in chosen]
        last = chosen[-1][1] if chosen else since
        return HttpAnswer.json({"error": [], "result": {names.key: rows, "last": str(last)}})

    def _asset_pairs(self, query: dict[str, str]) -> HttpAnswer:
        if self.asset_pairs is None:
            result = {
                names.key: {"altname": names.altname, "wsname": names.wsname}
                for names in self.pairs.values()
            }
            return HttpAnswer.json({"error": [], "result": result})
        wanted = [name for name in query.get("pair", "").split(",") if name]
        if not wanted:
            return HttpAnswer.raw(self.asset_pairs)
        found = [self.find(name) for name in wanted]
        if any(names is None for names in found):
            return HttpAnswer.json(UNKNOWN_PAIR)
        keys = {names.key for names in found if names is not None}
        document = msgspec.json.decode(self.asset_pairs)
        result = {key: entry for key, entry in document["result"].items() if key in keys}
        return HttpAnswer.json({"error": [], "result": result})


def _since_ns(text: str) -> int:
    """``since`` is a nanosecond cursor (a previous ``last``) or Unix seconds."""
    text = text.strip() or "0"
    if "." in text:
        return seconds_text_to_ns(text)
    value = int(text)
    return value if value >= 10**12 else value * 1_000_000_000
