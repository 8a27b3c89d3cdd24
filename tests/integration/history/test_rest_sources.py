"""The REST history sources against local servers that page recorded trades as the venues do."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ticklane.config.settings import BackfillConfig, VenuesConfig
from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.errors import PermanentError, TransientError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.time import NANOS_PER_HOUR, NANOS_PER_MILLI, NANOS_PER_SECOND
from ticklane.datamanager.history.free_sources import (
    BinanceArchiveSource,
    BinanceRestSource,
    KrakenFuturesRestSource,
    KrakenRestSource,
    make_free_sources,
)
from ticklane.datamanager.history.source import Chunk, ChunkReport, HistorySource
from ticklane.venues.numbers import hashed_trade_id

from archive_server import (
    AggTrade,
    Answer,
    Query,
    Server,
    Trade,
    aggregate,
    recorded_binance_trades,
    serve,
)

HOUR_MS = NANOS_PER_HOUR // NANOS_PER_MILLI


def fetch_all(source: HistorySource, chunk: Chunk) -> tuple[np.ndarray[Any, Any], ChunkReport]:
    report = ChunkReport()

    async def run() -> list[TradeColumns]:
        try:
            batches = []
            async for batch in source.fetch(chunk, report):
                assert isinstance(batch, TradeColumns)
                assert batch.instrument.exchange == chunk.exchange
                batches.append(batch)
            return batches
        finally:
            await source.aclose()

    batches = asyncio.run(run())
    data = np.concatenate([b.data for b in batches]) if batches else np.zeros(0, TRADE_DTYPE)
    return data, report


def no_duplicates(data: np.ndarray[Any, Any]) -> bool:
    return len(np.unique(data["trade_id"])) == len(data)


# --- Binance historicalTrades (found by aggTrades) ---------------------------------------------


@dataclass
class BinanceTrades:
    """``GET /api/v3/aggTrades`` (with the old one-hour window rule) and
    ``GET /api/v3/historicalTrades`` over the recorded trades."""

    trades: list[Trade]
    aggregated: list[AggTrade]

    def respond(self, method: str, path: str, query: Query) -> Answer:
        limit = int(query.get("limit", ["500"])[0])
        if path == "/api/v3/historicalTrades":
            first = int(query["fromId"][0])
            body: list[dict[str, object]] = [
                {"id": r.trade_id, "price": r.price, "qty": r.qty,
                 "quoteQty": str(Decimal(r.price) * Decimal(r.qty)), "time": r.time_ms,
                 "isBuyerMaker": r.buyer_is_maker, "isBestMatch": True}
                for r in self.trades if r.trade_id >= first
            ][:limit]  # fmt: skip
        elif path == "/api/v3/aggTrades":
            start, end = int(query["startTime"][0]), int(query["endTime"][0])
            if end - start > HOUR_MS:
                return Answer(
                    400, b'{"code":-1127,"msg":"More than 1 hours between startTime and endTime."}'
                )
            body = [
                {"a": r.agg_id, "p": r.price, "q": f"{r.qty:f}", "f": r.first_id,
                 "l": r.last_id, "T": r.time_ms, "m": r.buyer_is_maker, "M": True}
                for r in self.aggregated if start <= r.time_ms <= end
            ][:limit]  # fmt: skip
        else:
            return Answer(404, b'{"code":-1,"msg":"no such path"}')
        return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def trade_array(rows: list[Trade]) -> np.ndarray[Any, Any]:
    return np.array(
        [
            (r.time_ms * NANOS_PER_MILLI, r.trade_id, price_to_raw(r.price), quantity_to_raw(r.qty),
             2 if r.buyer_is_maker else 1, r.buyer_is_maker)
            for r in rows
        ],
        dtype=TRADE_DTYPE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def trades(shared_data: Path) -> list[Trade]:
    return recorded_binance_trades(shared_data)


@pytest.fixture
def binance(trades: list[Trade]) -> Iterator[tuple[str, Server]]:
    server = Server(BinanceTrades(trades, aggregate(trades)).respond)
    with serve(server) as url:
        yield url, server


def binance_chunk(trades: list[Trade]) -> Chunk:
    """From 2.5 hours before the first recorded trade (two empty windows) to mid-capture."""
    start_ms = trades[0].time_ms - 5 * HOUR_MS // 2
    return Chunk(
        "binance", "BTCUSDT", start_ms * NANOS_PER_MILLI, trades[1500].time_ms * NANOS_PER_MILLI
    )


def test_binance_pages_cover_the_chunk_exactly_without_duplicates(
    binance: tuple[str, Server], trades: list[Trade]
) -> None:
    url, server = binance
    chunk = binance_chunk(trades)
    source = BinanceRestSource(url, page_size=200, batch_rows=500, requests_per_second=0)

    data, report = fetch_all(source, chunk)

    inside = [r for r in trades if chunk.start_ns <= r.time_ms * NANOS_PER_MILLI < chunk.end_ns]
    assert np.array_equal(data, trade_array(inside)) and no_duplicates(data)
    paths = [path for _, path, _ in server.requests]
    # Two empty hour windows, the window holding the first trade, then id pages only.
    assert paths[:4] == ["/api/v3/aggTrades"] * 3 + ["/api/v3/historicalTrades"]
    assert set(paths[4:]) == {"/api/v3/historicalTrades"}
    first_page = server.requests[3][2]
    assert first_page["fromId"] == [str(inside[0].trade_id)]
    assert report.records_seen >= len(inside)
    assert "historicalTrades symbol=BTCUSDT" in report.detail


def test_binance_429_with_retry_after_is_waited_out_then_succeeds(
    binance: tuple[str, Server], trades: list[Trade]
) -> None:
    url, server = binance
    server.faults.append(
        Answer(429, b'{"code":-1003,"msg":"Too many requests"}', {"Retry-After": "0.3"})
    )
    source = BinanceRestSource(url, page_size=500, requests_per_second=0, backoff_s=0.001)
    chunk = binance_chunk(trades)
    started = time.monotonic()

    data, _ = fetch_all(source, chunk)

    assert time.monotonic() - started >= 0.3
    inside = [r for r in trades if chunk.start_ns <= r.time_ms * NANOS_PER_MILLI < chunk.end_ns]
    assert np.array_equal(data, trade_array(inside))
    assert server.requests[0] == server.requests[1]  # the same request, asked again


def test_binance_500_is_retried_then_gives_up_with_a_transient_error(
    binance: tuple[str, Server], trades: list[Trade]
) -> None:
    url, server = binance
    server.faults.extend(Answer(500, b"internal error") for _ in range(10))
    source = BinanceRestSource(url, retries=2, requests_per_second=0, backoff_s=0.001)

    with pytest.raises(TransientError, match="failed 3 times, giving up") as caught:
        fetch_all(source, binance_chunk(trades))

    assert "/api/v3/aggTrades" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert len(server.requests) == 3


def test_binance_400_fails_at_once_naming_the_url(
    binance: tuple[str, Server], trades: list[Trade]
) -> None:
    url, server = binance
    server.faults.append(Answer(400, b'{"code":-1121,"msg":"Invalid symbol."}'))
    source = BinanceRestSource(url, retries=5, requests_per_second=0)

    with pytest.raises(PermanentError, match="HTTP 400") as caught:
        fetch_all(source, binance_chunk(trades))

    assert "/api/v3/aggTrades" in str(caught.value) and "Invalid symbol" in str(caught.value)
    assert len(server.requests) == 1


def test_requests_are_paced_by_the_configured_rate(
    binance: tuple[str, Server], trades: list[Trade]
) -> None:
    url, server = binance
    source = BinanceRestSource(url, page_size=500, requests_per_second=20)
    started = time.monotonic()

    fetch_all(source, binance_chunk(trades))

    assert time.monotonic() - started >= (len(server.requests) - 1) / 20


# --- Kraken Trades -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KrakenTrade:
    seconds: str
    price: str
    volume: str
    side: str
    trade_id: int

    @property
    def ts_ns(self) -> int:
        whole, _, fraction = self.seconds.partition(".")
        return int(whole) * NANOS_PER_SECOND + int(fraction.ljust(9, "0"))


def kraken_trades(shared_data: Path) -> list[KrakenTrade]:
    """Kraken's recorded BCHEUR bulk trades; the bulk file has no side or id, so sides
    alternate and ids count up (the REST rows carry both)."""
    rows = (shared_data / "kraken" / "trades_csv" / "BCHEUR.csv").read_text().split()
    trades = []
    for number, row in enumerate(rows, start=1):
        seconds, price, volume = row.split(",")
        trades.append(KrakenTrade(f"{seconds}.0000", price, volume, "bs"[number % 2], number))
    return trades


@dataclass
class KrakenTradesServer:
    """``GET /0/public/Trades``: ``since`` is Unix seconds or the previous ``last`` (ns);
    trades at the cursor's own time are answered again, as an inclusive cursor would."""

    trades: list[KrakenTrade]

    def respond(self, method: str, path: str, query: Query) -> Answer:
        since = int(query["since"][0])
        since_ns = since * NANOS_PER_SECOND if since < 10**12 else since
        count = int(query.get("count", ["1000"])[0])
        page = [t for t in self.trades if t.ts_ns >= since_ns][:count]
        rows = ",".join(
            f'["{t.price}","{t.volume}",{t.seconds},"{t.side}","l","",{t.trade_id}]' for t in page
        )
        last = page[-1].ts_ns if page else since_ns
        body = f'{{"error":[],"result":{{"BCHEUR":[{rows}],"last":"{last}"}}}}'
        return Answer(200, body.encode(), {"Content-Type": "application/json"})


def test_kraken_since_cursor_covers_the_chunk_exactly_without_duplicates(
    shared_data: Path,
) -> None:
    trades = kraken_trades(shared_data)
    server = Server(KrakenTradesServer(trades).respond)
    chunk = Chunk("kraken", "BCH/EUR", trades[10].ts_ns, trades[130].ts_ns)
    with serve(server) as url:
        source = KrakenRestSource(url, page_size=25, requests_per_second=0)
        data, _ = fetch_all(source, chunk)

    inside = [t for t in trades if chunk.start_ns <= t.ts_ns < chunk.end_ns]
    expected = np.array(
        [
            (t.ts_ns, t.trade_id, price_to_raw(t.price), quantity_to_raw(t.volume),
             1 if t.side == "b" else 2, t.side == "s")
            for t in inside
        ],
        dtype=TRADE_DTYPE,
    )  # fmt: skip
    assert np.array_equal(data, expected) and no_duplicates(data)
    assert server.requests[0][2]["since"] == [str(chunk.start_ns // NANOS_PER_SECOND)]
    assert server.requests[0][2]["pair"] == ["BCHEUR"]


def test_kraken_rate_limit_error_in_the_body_is_retried(shared_data: Path) -> None:
    trades = kraken_trades(shared_data)
    server = Server(KrakenTradesServer(trades).respond)
    server.faults.append(Answer(200, b'{"error":["EGeneral:Too many requests"]}'))
    chunk = Chunk("kraken", "BCH/EUR", trades[0].ts_ns, trades[-1].ts_ns + 1)
    with serve(server) as url:
        source = KrakenRestSource(url, requests_per_second=0, backoff_s=0.001)
        data, _ = fetch_all(source, chunk)

    assert len(data) == len(trades)


# --- Kraken Futures executions -----------------------------------------------------------------


def futures_trades(shared_data: Path, product: str) -> list[dict[str, Any]]:
    """The recorded ``trade``/``trade_snapshot`` fills of ``product``, oldest first."""
    found: dict[str, dict[str, Any]] = {}
    path = shared_data / "kraken_futures" / "KRAKEN_FUTURES.ws.1.0"
    for line in path.read_bytes().split(b"\n"):
        _, _, body = line.partition(b": ")
        if not body.startswith(b'{"feed":"trade'):
            continue
        message = json.loads(body)
        for trade in message.get("trades", [message]):
            if trade.get("product_id") == product and "uid" in trade:
                found[trade["uid"]] = trade
    return sorted(found.values(), key=lambda t: (t["time"], t["seq"]))


@dataclass
class ExecutionsServer:
    """``GET /api/history/v3/market/{symbol}/executions`` with ``since``/``before`` (ms) and a
    base64 ``continuation_token`` holding the offset of the next page."""

    trades: list[dict[str, Any]]

    def respond(self, method: str, path: str, query: Query) -> Answer:
        since, before = int(query["since"][0]), int(query["before"][0])
        count = int(query["count"][0])
        token = query.get("continuation_token", [""])[0]
        offset = int(base64.b64decode(token)) if token else 0
        rows = [t for t in self.trades if since <= t["time"] < before]
        page = rows[offset : offset + count]
        more = offset + count < len(rows)
        body = {
            "len": len(page),
            "continuationToken": base64.b64encode(str(offset + count).encode()).decode()
            if more
            else None,
            "elements": [
                {"uid": t["uid"], "timestamp": t["time"], "event": {"Execution": {"execution": {
                    "uid": t["uid"], "timestamp": t["time"], "quantity": str(t["qty"]),
                    "price": str(t["price"]), "takerOrder": {"direction": t["side"].title()},
                }}}}
                for t in page
            ],
        }  # fmt: skip
        return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def test_kraken_futures_continuation_tokens_cover_the_chunk_exactly(shared_data: Path) -> None:
    trades = futures_trades(shared_data, "PI_ETHUSD")
    assert len(trades) > 90
    server = Server(ExecutionsServer(trades).respond)
    chunk = Chunk(
        "kraken_futures",
        "PI_ETHUSD",
        trades[5]["time"] * NANOS_PER_MILLI,
        trades[80]["time"] * NANOS_PER_MILLI,
    )
    with serve(server) as url:
        source = KrakenFuturesRestSource(url, page_size=10, requests_per_second=0)
        data, report = fetch_all(source, chunk)

    inside = [t for t in trades if chunk.start_ns <= t["time"] * NANOS_PER_MILLI < chunk.end_ns]
    expected = np.array(
        [
            (t["time"] * NANOS_PER_MILLI, hashed_trade_id(t["uid"]),
             price_to_raw(Decimal(str(t["price"]))), quantity_to_raw(Decimal(str(t["qty"]))),
             1 if t["side"] == "buy" else 2, t["side"] == "sell")
            for t in inside
        ],
        dtype=TRADE_DTYPE,
    )  # fmt: skip
    assert np.array_equal(data, expected) and no_duplicates(data)
    assert all(
        path == "/api/history/v3/market/PI_ETHUSD/executions" for _, path, _ in server.requests
    )
    assert "executions" in report.detail


# --- the factory -------------------------------------------------------------------------------


def test_free_sources_come_cheapest_first_and_each_serves_its_own_venue() -> None:
    sources = make_free_sources(BackfillConfig(), VenuesConfig())
    try:
        assert [s.name for s in sources] == [
            "binance-archive", "binance-rest", "kraken-rest", "kraken-futures-rest",
        ]  # fmt: skip
        assert isinstance(sources[0], BinanceArchiveSource)
        served = {
            (s.name, exchange): s.unsupported(exchange, symbol) is None
            for s in sources
            for exchange, symbol in (("binance", "BTCUSDT"), ("kraken", "BTC/USD"),
                                     ("kraken_futures", "PI_XBTUSD"))
        }  # fmt: skip
        assert [key for key, ok in served.items() if ok] == [
            ("binance-archive", "binance"),
            ("binance-rest", "binance"),
            ("kraken-rest", "kraken"),
            ("kraken-futures-rest", "kraken_futures"),
        ]
        assert all(not s.paid for s in sources)
        assert "BASE/QUOTE" in (sources[2].unsupported("kraken", "BTCUSD") or "")
    finally:

        async def close() -> None:
            for source in sources:
                await source.aclose()

        asyncio.run(close())
