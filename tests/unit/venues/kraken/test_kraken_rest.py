"""Kraken REST client against a local HTTP server: AssetPairs (recorded) and Trades."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from ticklane.core.errors import PermanentError, TransientError
from ticklane.core.identifiers import Side
from ticklane.venues.http import VenueRateLimitedError
from ticklane.venues.kraken import KrakenRestClient
from ticklane.venues.numbers import derived_trade_id

from venue_http import Answer, Routes, serve
from venue_recordings import rest_body

# The documented Trades shape (protocols.md 2.6): 7-column rows with trade_id, and the older
# 6-column rows without one. Times are JSON numbers with 4 decimals.
TRADES = msgspec.json.encode(
    {
        "error": [],
        "result": {
            "XXBTZUSD": [
                [
                    "30243.40000",
                    "0.34507674",
                    msgspec.Raw(b"1688669448.2217"),
                    "b",
                    "m",
                    "",
                    59861542,
                ],
                ["30243.30000", "0.00020000", msgspec.Raw(b"1688669448.3341"), "s", "l", ""],
            ],
            "last": "1688671969993150842",
        },
    }
)


def test_asset_pairs_lists_every_streamable_pair(shared_data: Path) -> None:
    body = rest_body(shared_data / "kraken" / "AssetPairs_2021.cryptofeed")
    routes = Routes({"/0/public/AssetPairs": Answer(body=body)})

    async def main(url: str) -> None:
        async with KrakenRestClient(url) as client:
            pairs = await client.asset_pairs()
            await client.asset_pairs(["BTC/USD", "doge-usd"])
        # 304 pairs (data README), of which 11 dark-pool ".d" pairs have no wsname.
        assert len(pairs) == 293
        btc = next(p for p in pairs if p.symbol == "BTC/USD")
        assert (btc.venue_symbol, btc.base_asset, btc.quote_asset) == ("XXBTZUSD", "BTC", "USD")
        assert (btc.tick_size, btc.lot_size, btc.min_quantity) == (
            Decimal("0.1"),
            Decimal("0.00000001"),
            Decimal("0.0002"),
        )
        assert btc.status == "active"
        assert any(p.symbol == "DOGE/USD" for p in pairs)  # XDG/USD on the wire

    with serve(routes) as url:
        asyncio.run(main(url))
    assert routes.requests[1][1] == {"pair": ["XBTUSD,XDGUSD"]}


def test_trades_page_keeps_ids_and_derives_missing_ones() -> None:
    routes = Routes({"/0/public/Trades": Answer(body=TRADES)})

    async def main(url: str) -> None:
        async with KrakenRestClient(url) as client:
            page = await client.trades("XBT/USD", since="1688669448000000000", count=1000)
        assert page.last == "1688671969993150842"
        first, second = page.trades
        assert (first.symbol, first.trade_id, first.side) == ("BTC/USD", 59861542, Side.BUY)
        assert first.ts_event == 1688669448_221700000  # exact: the number is read as a decimal
        assert second.trade_id == derived_trade_id(
            1688669448_334100000, 30243_300_000_000, 20_000, 0
        )
        assert second.side == Side.SELL

    with serve(routes) as url:
        asyncio.run(main(url))
    assert routes.requests[0][1] == {
        "pair": ["XBTUSD"],
        "since": ["1688669448000000000"],
        "count": ["1000"],
    }


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(200, b'{"error":["EGeneral:Too many requests"]}'), VenueRateLimitedError),
        (Answer(200, b'{"error":["EService:Unavailable"]}'), TransientError),
        (Answer(200, b'{"error":["EQuery:Unknown asset pair"]}'), PermanentError),
        (Answer(429, b"slow down", {"Retry-After": "3"}), VenueRateLimitedError),
        (Answer(502, b"bad gateway"), TransientError),
        (Answer(404, b"no"), PermanentError),
    ],
)
def test_kraken_errors_become_ticklane_errors(answer: Answer, error: type[Exception]) -> None:
    routes = Routes({"/0/public/Trades": answer, "/0/public/AssetPairs": answer})

    async def main(url: str) -> None:
        async with KrakenRestClient(url) as client:
            with pytest.raises(error):
                await client.trades("BTC/USD")
            with pytest.raises(error):
                await client.asset_pairs()

    with serve(routes) as url:
        asyncio.run(main(url))
