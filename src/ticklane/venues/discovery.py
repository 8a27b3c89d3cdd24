"""``data-manager symbol discover``: a venue's instrument list over its REST API."""

from __future__ import annotations

from typing import Final

from ticklane.core.errors import ConfigError
from ticklane.venues.binance.rest import BinanceRestClient
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.kraken.rest import KrakenRestClient
from ticklane.venues.kraken_futures.rest import KrakenFuturesRestClient

PROVIDERS: Final = ("binance", "kraken", "kraken_futures")


async def discover_instruments(provider: str, rest_url: str) -> list[InstrumentInfo]:
    """Every instrument ``provider`` lists (exchangeInfo, AssetPairs, instruments)."""
    if provider == "binance":
        binance = BinanceRestClient(rest_url)
        try:
            return await binance.exchange_info()
        finally:
            await binance.aclose()
    if provider == "kraken":
        kraken = KrakenRestClient(rest_url)
        try:
            return await kraken.asset_pairs()
        finally:
            await kraken.aclose()
    if provider == "kraken_futures":
        futures = KrakenFuturesRestClient(rest_url)
        try:
            return await futures.instruments()
        finally:
            await futures.aclose()
    raise ConfigError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")


def normalize_symbol(provider: str, symbol: str) -> str:
    """``symbol`` as ``provider``'s records and registry name it (Kraken ``XBT/USD`` ->
    ``BTC/USD``); the venue's error when it is not a name that venue could have."""
    from ticklane.venues.binance.symbols import normalize as binance_name
    from ticklane.venues.kraken.symbols import normalize as kraken_name
    from ticklane.venues.kraken_futures.symbols import normalize as futures_name

    if provider == "binance":
        return binance_name(symbol)
    if provider == "kraken":
        return kraken_name(symbol)
    if provider == "kraken_futures":
        return futures_name(symbol)
    raise ConfigError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")
