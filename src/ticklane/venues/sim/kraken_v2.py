"""Kraken WS v1 frames rewritten as WS v2 frames (protocols.md 2.2-2.4).

Numbers keep the exact digits of the v1 strings: v2 sends JSON numbers, and they are written
with ``msgspec.Raw`` from the v1 text (``"354.15000000"`` -> ``354.15000000``), so a client
that parses them as decimals sees the same strings the checksum was computed over.
v1 trades carry no id; the venue numbers each pair's trades from 1 in recorded order (the REST
``Trades`` rows carry the same numbers).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from ticklane.venues.sim.books import Level
from ticklane.venues.sim.recordings import seconds_text_to_ns
from ticklane.venues.sim.venue import json_text

# WS v2 names a few assets differently from v1's wsname codes.
_V2_ASSET = {"XBT": "BTC", "XDG": "DOGE"}
_V1_ASSET = {v2: v1 for v1, v2 in _V2_ASSET.items()}


def v2_symbol(pair: str) -> str:
    """``XBT/USD`` -> ``BTC/USD``."""
    return "/".join(_V2_ASSET.get(asset, asset) for asset in pair.split("/"))


def v1_pair(symbol: str) -> str:
    """``BTC/USD`` -> ``XBT/USD``."""
    return "/".join(_V1_ASSET.get(asset, asset) for asset in symbol.split("/"))


def rfc3339(ts_ns: int) -> str:
    """``2023-10-06T17:35:55.440295Z`` (microseconds, as Kraken writes them)."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos // 1000:06d}Z"


def number(text: str) -> msgspec.Raw:
    """A JSON number written with exactly the digits of a v1 decimal string."""
    return msgspec.Raw(text.encode())


def frame(channel: str, kind: str, data: list[Any]) -> str:
    return json_text({"channel": channel, "type": kind, "data": data})


def trade_frame(kind: str, symbol: str, rows: list[list[Any]]) -> str:
    """Rows are v1 trade rows with the venue's trade id appended."""
    data = [
        {
            "symbol": symbol,
            "side": "buy" if row[3] == "b" else "sell",
            "price": number(row[0]),
            "qty": number(row[1]),
            "ord_type": "market" if row[4] == "m" else "limit",
            "trade_id": row[6],
            "timestamp": rfc3339(seconds_text_to_ns(row[2])),
        }
        for row in rows
    ]
    return frame("trade", kind, data)


def ticker_frame(kind: str, symbol: str, ticker: dict[str, Any], ts_recv: int) -> str:
    """A v1 ticker object as a v2 ticker (24 h figures; the v1 ticker has no time: receive time)."""
    last, opened = ticker["c"][0], ticker["o"][1]
    change, change_pct = _change(last, opened)
    data = {
        "symbol": symbol,
        "bid": number(ticker["b"][0]),
        "bid_qty": number(ticker["b"][2]),
        "ask": number(ticker["a"][0]),
        "ask_qty": number(ticker["a"][2]),
        "last": number(last),
        "volume": number(ticker["v"][1]),
        "vwap": number(ticker["p"][1]),
        "low": number(ticker["l"][1]),
        "high": number(ticker["h"][1]),
        "change": number(change),
        "change_pct": number(change_pct),
        "timestamp": rfc3339(ts_recv),
    }
    return frame("ticker", kind, [data])


def _change(last: str, opened: str) -> tuple[str, str]:
    try:
        move = Decimal(last) - Decimal(opened)
        percent = move / Decimal(opened) * 100 if Decimal(opened) else Decimal(0)
    except InvalidOperation:
        return "0", "0"
    return format(move, "f"), format(percent.quantize(Decimal("0.01")), "f")


def levels(entries: list[Level]) -> list[dict[str, msgspec.Raw]]:
    return [{"price": number(price), "qty": number(qty)} for price, qty, _ in entries]


def book_frame(
    kind: str,
    symbol: str,
    bids: list[Level],
    asks: list[Level],
    checksum: int,
    ts_ns: int | None = None,
) -> str:
    data: dict[str, Any] = {
        "symbol": symbol,
        "bids": levels(bids),
        "asks": levels(asks),
        "checksum": checksum,
    }
    if ts_ns is not None:
        data["timestamp"] = rfc3339(ts_ns)
    return frame("book", kind, [data])


def status_frame(connection_id: int) -> str:
    data = {
        "api_version": "v2",
        "connection_id": connection_id,
        "system": "online",
        "version": "2.0.0",
    }
    return frame("status", "update", [data])


def method_answer(
    method: str,
    *,
    req_id: Any,
    time_in: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    symbol: str | None = None,
) -> str:
    """An ack (``success: true`` with ``result``) or a refusal (``error``)."""
    answer: dict[str, Any] = {"method": method}
    if error is None:
        if result is not None:
            answer["result"] = result
        answer["success"] = True
    else:
        answer["error"] = error
        answer["success"] = False
        if symbol is not None:
            answer["symbol"] = symbol
    answer["time_in"] = time_in
    answer["time_out"] = rfc3339(time.time_ns())
    if req_id is not None:
        answer["req_id"] = req_id
    return json_text(answer)
