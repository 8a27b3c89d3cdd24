"""Kraken Futures REST client against a local HTTP server: instruments, history, executions."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from ticklane.core.errors import PermanentError, TransientError
from ticklane.core.identifiers import Side
from ticklane.venues.http import VenueRateLimitedError
from ticklane.venues.kraken_futures import KrakenFuturesRestClient
from ticklane.venues.numbers import hashed_trade_id

from venue_http import Answer, Routes, serve
from venue_recordings import rest_body

# The documented /history shape (protocols.md 3): newest first.
HISTORY = b"""{"result":"success","serverTime":"2021-07-22T22:22:00.000Z","history":[
{"time":"2021-07-22T22:21:59.123Z","trade_id":2,"price":32170.5,"size":1500,"side":"sell","type":"fill","uid":"b-2"},
{"time":"2021-07-22T22:21:58.000Z","trade_id":1,"price":32171,"size":20,"side":"buy","type":"fill","uid":"b-1"}]}"""


def test_instruments_from_the_recorded_dump(shared_data: Path) -> None:
    body = rest_body(shared_data / "kraken_futures" / "instruments_2021.cryptofeed")
    routes = Routes({"/derivatives/api/v3/instruments": Answer(body=body)})

    async def main(url: str) -> None:
        async with KrakenFuturesRestClient(url) as client:
            instruments = await client.instruments()
        assert len(instruments) == 27  # data README
        pi = instruments[0]
        assert (pi.symbol, pi.venue_symbol, pi.base_asset, pi.quote_asset) == (
            "PI_XBTUSD",
            "pi_xbtusd",
            "BTC",
            "USD",
        )
        assert (pi.tick_size, pi.contract_size, pi.kind, pi.status) == (
            Decimal("0.5"),
            Decimal("1"),
            "futures_inverse",
            "active",
        )
        indexes = [i for i in instruments if i.kind == "spot index"]
        assert len(indexes) == 10 and all(i.status == "halted" for i in indexes)

    with serve(routes) as url:
        asyncio.run(main(url))


def test_history_and_executions_give_trades_with_websocket_ids(shared_data: Path) -> None:
    executions = shared_data / "kraken_futures" / "examples" / "http_futures_public_executions.json"
    routes = Routes(
        {
            "/derivatives/api/v3/history": Answer(body=HISTORY),
            "/api/history/v3/market/PF_XBTUSD/executions": Answer(body=executions.read_bytes()),
        }
    )

    async def main(url: str) -> None:
        async with KrakenFuturesRestClient(url) as client:
            history = await client.history("pi_xbtusd", last_time="2021-07-22T22:22:00Z")
            page = await client.executions("PF_XBTUSD", since_ms=1764206268000, count=2)
        assert [(t.trade_id, t.side, t.ts_event) for t in history] == [
            (hashed_trade_id("b-1"), Side.BUY, 1626992518_000000000),
            (hashed_trade_id("b-2"), Side.SELL, 1626992519_123000000),
        ]
        first = page.trades[0]
        assert first.trade_id == hashed_trade_id("419060e5-869d-41bf-9b6a-33dd7f365d89")
        assert (first.side, first.price, first.quantity) == (
            Side.SELL,  # the taker order's direction
            90771_000_000_000,
            1_130_000,
        )
        assert page.trades[1].side == Side.BUY

    with serve(routes) as url:
        asyncio.run(main(url))
    assert routes.requests[0][1] == {"symbol": ["PI_XBTUSD"], "lastTime": ["2021-07-22T22:22:00Z"]}
    assert routes.requests[1][1] == {"sort": ["asc"], "since": ["1764206268000"], "count": ["2"]}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(200, b'{"result":"error","error":"apiLimitExceeded"}'), VenueRateLimitedError),
        (Answer(200, b'{"result":"error","error":"invalidArgument"}'), PermanentError),
        (Answer(429, b"{}"), VenueRateLimitedError),
        (Answer(503, b"{}"), TransientError),
    ],
)
def test_futures_errors_become_ticklane_errors(answer: Answer, error: type[Exception]) -> None:
    routes = Routes({"/derivatives/api/v3/instruments": answer})

    async def main(url: str) -> None:
        async with KrakenFuturesRestClient(url) as client:
            with pytest.raises(error):
                await client.instruments()

    with serve(routes) as url:
        asyncio.run(main(url))
