"""Binance REST client against a local HTTP server serving recorded bodies."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from ticklane.core.errors import BadDataError, ConfigError, PermanentError, TransientError
from ticklane.core.identifiers import Side
from ticklane.core.records import BookFlags
from ticklane.venues.binance import BinanceParser, BinanceRestClient
from ticklane.venues.http import VenueRateLimitedError

from venue_http import Answer, Routes, serve
from venue_recordings import read_session, rest_body

TS = 1_700_000_000_000_000_000


def test_exchange_info_lists_every_symbol_with_exact_sizes(shared_data: Path) -> None:
    body = rest_body(shared_data / "binance" / "exchangeInfo_2021.cryptofeed")
    routes = Routes({"/api/v3/exchangeInfo": Answer(body=body)})

    async def main(url: str) -> None:
        async with BinanceRestClient(url) as client:
            instruments = await client.exchange_info()
            limits = await client.rate_limits()
        assert len(instruments) == 1695  # data README
        assert sum(i.status == "active" for i in instruments) == 1262  # TRADING; BREAK: halted
        btc = next(i for i in instruments if i.symbol == "BTCUSDT")
        assert (btc.base_asset, btc.quote_asset, btc.venue_status) == ("BTC", "USDT", "TRADING")
        assert (btc.tick_size, btc.lot_size, btc.min_quantity) == (
            Decimal("0.01"),
            Decimal("0.00001"),
            Decimal("0.00001"),
        )
        assert str(btc.tick_size) == "0.01"
        assert limits.rate_limits[0].rate_limit_type == "REQUEST_WEIGHT"

    with serve(routes) as url:
        asyncio.run(main(url))


def test_exchange_info_for_some_symbols_sends_a_json_array(shared_data: Path) -> None:
    body = rest_body(shared_data / "binance" / "exchangeInfo_2021.cryptofeed")
    routes = Routes({"/api/v3/exchangeInfo": Answer(body=body)})

    async def main(url: str) -> None:
        async with BinanceRestClient(url) as client:
            await client.exchange_info(["btcusdt", "ETHUSDT"])

    with serve(routes) as url:
        asyncio.run(main(url))
    assert routes.requests[0][1] == {"symbols": ['["BTCUSDT","ETHUSDT"]']}


def test_depth_snapshot_from_the_recording_syncs_a_parser_book(shared_data: Path) -> None:
    [first, *_] = [
        line
        for line in read_session(shared_data / "binance" / "cryptofeed_BINANCE.http.0.0")
        if line.kind == "rest"
    ]
    routes = Routes({"/api/v3/depth": Answer(body=first.body)})

    async def main(url: str) -> None:
        async with BinanceRestClient(url) as client:
            snapshot = await client.depth_snapshot("nknusdt", limit=1000)
        assert snapshot.last_update_id == 499869752
        parser = BinanceParser()
        records = parser.apply_snapshot("NKNUSDT", snapshot, TS)
        assert records[0].flags == BookFlags.CLEAR | BookFlags.SNAPSHOT
        assert records[-1].flags == BookFlags.SNAPSHOT | BookFlags.LAST
        assert len(records) == 1 + len(snapshot.bids) + len(snapshot.asks)

    with serve(routes) as url:
        asyncio.run(main(url))
    assert routes.requests == [("/api/v3/depth", {"symbol": ["NKNUSDT"], "limit": ["1000"]})]


def test_trade_history_by_id_and_agg_trades(shared_data: Path) -> None:
    examples = shared_data / "binance" / "examples"
    routes = Routes(
        {
            "/api/v3/historicalTrades": Answer(
                body=(examples / "http_spot_market_historical_trades.json").read_bytes()
            ),
            "/api/v3/aggTrades": Answer(
                body=(examples / "http_spot_market_agg_trades.json").read_bytes()
            ),
        }
    )

    async def main(url: str) -> None:
        async with BinanceRestClient(url) as client:
            trades = await client.historical_trades("BTCUSDT", from_id=1111471896, limit=500)
            aggs = await client.agg_trades("BTCUSDT", from_id=966492862)
        first = trades[0]
        assert (first.trade_id, first.price, first.quantity, first.side) == (
            1111471896,
            60814_780_000_000,
            34_000,
            Side.SELL,  # isBuyerMaker
        )
        assert first.ts_event == 1634943219887 * 10**6 and first.ts_recv == 0
        assert trades[1].side == Side.BUY
        assert aggs[0].trade_id == 966492862 and aggs[0].side == Side.BUY

    with serve(routes) as url:
        asyncio.run(main(url))
    assert routes.requests[0][1] == {
        "symbol": ["BTCUSDT"],
        "limit": ["500"],
        "fromId": ["1111471896"],
    }


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(429, b'{"code":-1003}', {"Retry-After": "7"}), VenueRateLimitedError),
        (Answer(418, b'{"code":-1003}', {"Retry-After": "120"}), VenueRateLimitedError),
        (Answer(503, b"Service Unavailable"), TransientError),
        (Answer(500, b"{}"), TransientError),
        (Answer(400, b'{"code":-1121,"msg":"Invalid symbol."}'), PermanentError),
        (Answer(200, b'{"lastUpdateId": "not a number"}'), BadDataError),
    ],
)
def test_http_failures_become_ticklane_errors(answer: Answer, error: type[Exception]) -> None:
    routes = Routes({"/api/v3/depth": answer})

    async def main(url: str) -> None:
        async with BinanceRestClient(url) as client:
            with pytest.raises(error) as raised:
                await client.depth_snapshot("BTCUSDT")
        if isinstance(raised.value, VenueRateLimitedError):
            assert raised.value.retry_after_s == float(answer.headers["Retry-After"])

    with serve(routes) as url:
        asyncio.run(main(url))


def test_unreachable_server_is_transient_and_a_bad_url_is_configuration() -> None:
    async def main() -> None:
        async with BinanceRestClient("http://127.0.0.1:9", timeout_s=2) as client:
            with pytest.raises(TransientError):
                await client.depth_snapshot("BTCUSDT")
        async with BinanceRestClient("ftp://example.invalid") as client:
            with pytest.raises(ConfigError):
                await client.depth_snapshot("BTCUSDT")
        async with BinanceRestClient("http://127.0.0.1:9") as client:
            with pytest.raises(ConfigError):
                await client.depth_snapshot("BTCUSDT", limit=7)

    asyncio.run(main())
