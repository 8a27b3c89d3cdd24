"""Binance spot REST: depth snapshots, trade history for gap recovery, instrument discovery.

Endpoints and weights are those of protocols.md 1.4. ``historicalTrades`` needs no API key
(security type NONE) but is not served by the market-data-only host ``data-api.binance.vision``;
``aggTrades`` is served by both. Errors are translated by ``venues.http``.
"""

from __future__ import annotations

from typing import Final

import httpx

from ticklane.core.errors import BadDataError, ConfigError
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.venues.binance import schemas
from ticklane.venues.binance.schemas import DepthSnapshot, ExchangeInfo
from ticklane.venues.binance.symbols import instruments_from_exchange_info, normalize
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.http import DEFAULT_TIMEOUT_S, RestClient, decode_body
from ticklane.venues.numbers import NANOS_PER_MILLI, price_raw, quantity_raw

EXCHANGE: Final = "binance"
DEFAULT_REST_URL: Final = "https://api.binance.com"
DATA_API_URL: Final = "https://data-api.binance.vision"  # public market data, no historicalTrades
TESTNET_REST_URL: Final = "https://testnet.binance.vision"
DEPTH_LIMITS: Final = (5, 10, 20, 50, 100, 500, 1000, 5000)
MAX_TRADES_PER_REQUEST: Final = 1000


class BinanceRestClient(RestClient):
    """Async client for Binance's public REST endpoints at ``base_url``."""

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(EXCHANGE, base_url, client=client, timeout_s=timeout_s)

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> DepthSnapshot:
        """``GET /api/v3/depth``: the book to start a diff-depth sync from (weight 5-250)."""
        if limit not in DEPTH_LIMITS:
            raise ConfigError(f"binance: depth limit {limit} is not one of {DEPTH_LIMITS}")
        body = await self.get("/api/v3/depth", {"symbol": normalize(symbol), "limit": limit})
        return decode_body(EXCHANGE, body, schemas.DEPTH_SNAPSHOT, "depth")

    async def historical_trades(
        self, symbol: str, from_id: int | None = None, limit: int = MAX_TRADES_PER_REQUEST
    ) -> list[TradeRecord]:
        """``GET /api/v3/historicalTrades``: trades from id ``from_id`` on, ``t`` ids as the
        ``@trade`` stream has them (weight 25). ``ts_recv`` is 0: not received live."""
        params: dict[str, int | str] = {"symbol": normalize(symbol), "limit": _limit(limit)}
        if from_id is not None:
            params["fromId"] = from_id
        body = await self.get("/api/v3/historicalTrades", params)
        rows = decode_body(EXCHANGE, body, schemas.REST_TRADES, "historicalTrades")
        name = normalize(symbol)
        return [
            _record(name, row.id, row.price, row.qty, row.time, row.is_buyer_maker) for row in rows
        ]

    async def agg_trades(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = MAX_TRADES_PER_REQUEST,
    ) -> list[TradeRecord]:
        """``GET /api/v3/aggTrades`` (weight 4): ``trade_id`` is the agg id, as on
        ``@aggTrade``. ``from_id`` is inclusive; start/end are inclusive ms."""
        params: dict[str, int | str] = {"symbol": normalize(symbol), "limit": _limit(limit)}
        for key, value in (("fromId", from_id), ("startTime", start_ms), ("endTime", end_ms)):
            if value is not None:
                params[key] = value
        body = await self.get("/api/v3/aggTrades", params)
        rows = decode_body(EXCHANGE, body, schemas.REST_AGG_TRADES, "aggTrades")
        name = normalize(symbol)
        return [
            _record(name, row.agg_id, row.price, row.quantity, row.trade_time, row.buyer_is_maker)
            for row in rows
        ]

    async def first_trade_id(self, symbol: str, start_ms: int, end_ms: int) -> int | None:
        """The ``@trade`` id of the first trade in ``[start_ms, end_ms]`` (inclusive ms), or
        None when there is none: ``/api/v3/aggTrades`` finds trades by time, and its ``f``
        field names the first trade of an aggregate (weight 4)."""
        params = {"symbol": normalize(symbol), "startTime": start_ms, "endTime": end_ms, "limit": 1}
        body = await self.get("/api/v3/aggTrades", params)
        rows = decode_body(EXCHANGE, body, schemas.REST_AGG_TRADES, "aggTrades")
        if not rows:
            return None
        if rows[0].first_trade_id < 0:
            raise BadDataError(f"binance: aggTrades row {rows[0].agg_id} has no first trade id")
        return rows[0].first_trade_id

    async def exchange_info(self, symbols: list[str] | None = None) -> list[InstrumentInfo]:
        """``GET /api/v3/exchangeInfo`` (weight 20): every symbol, or only ``symbols``."""
        return instruments_from_exchange_info(await self._exchange_info_body(symbols))

    async def rate_limits(self) -> ExchangeInfo:
        """The whole ``exchangeInfo`` (``rate_limits`` are the live values to respect)."""
        body = await self._exchange_info_body(None)
        return decode_body(EXCHANGE, body, schemas.EXCHANGE_INFO, "exchangeInfo")

    async def _exchange_info_body(self, symbols: list[str] | None) -> bytes:
        params: dict[str, str] | None = None
        if symbols:
            names = ",".join(f'"{normalize(symbol)}"' for symbol in symbols)
            params = {"symbols": f"[{names}]"}
        return await self.get("/api/v3/exchangeInfo", params)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_TRADES_PER_REQUEST:
        raise ConfigError(f"binance: limit {limit} is not within 1..{MAX_TRADES_PER_REQUEST}")
    return limit


def _record(
    symbol: str, trade_id: int, price: str, quantity: str, time_ms: int, buyer_is_maker: bool
) -> TradeRecord:
    """A REST trade row as a record; a bad value fails the call (``BadDataError``)."""
    price_value, quantity_value = price_raw(price), quantity_raw(quantity)
    if price_value <= 0 or quantity_value <= 0:
        raise BadDataError(f"binance {symbol}: trade {trade_id} has a non-positive value")
    side = int(Side.SELL if buyer_is_maker else Side.BUY)
    return TradeRecord(
        EXCHANGE, symbol, time_ms * NANOS_PER_MILLI, 0, trade_id, price_value, quantity_value, side
    )
