"""Kraken Futures REST: instruments, and trade history for gap recovery (protocols.md 3).

One root URL serves both APIs: ``/derivatives/api/v3/...`` (instruments, the 100 most recent
trades before a time) and ``/api/history/v3/market/{symbol}/executions`` (deeper history,
paged by ``continuation_token``). Trades get ``hashed_trade_id`` of their ``uid``, as on the
WebSocket. ``result: "error"`` answers are translated here (``apiLimitExceeded`` -> rate
limited); HTTP errors by ``venues.http``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import httpx
import msgspec

from ticklane.core.errors import BadDataError, ConfigError, PermanentError
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.http import DEFAULT_TIMEOUT_S, RestClient, VenueRateLimitedError, decode_body
from ticklane.venues.kraken_futures import schemas
from ticklane.venues.kraken_futures.symbols import instruments_from_reply, normalize
from ticklane.venues.numbers import (
    NANOS_PER_MILLI,
    decimal_price_raw,
    decimal_quantity_raw,
    hashed_trade_id,
    rfc3339_to_ns,
)

EXCHANGE: Final = "kraken_futures"
DEFAULT_REST_URL: Final = "https://futures.kraken.com"
DEMO_REST_URL: Final = "https://demo-futures.kraken.com"
DERIVATIVES_PATH: Final = "/derivatives/api/v3"
HISTORY_PATH: Final = "/api/history/v3"
_SIDES: Final = {"buy": int(Side.BUY), "sell": int(Side.SELL)}


class ExecutionsPage(msgspec.Struct, frozen=True):
    """One page of public executions and the token for the next one (``None``: no more)."""

    trades: list[TradeRecord]
    continuation_token: str | None


class KrakenFuturesRestClient(RestClient):
    """Async client for Kraken Futures' public REST endpoints under the root ``base_url``."""

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(EXCHANGE, base_url, client=client, timeout_s=timeout_s)

    async def instruments(self) -> list[InstrumentInfo]:
        """``GET /instruments``: every product with tick size, contract size, status."""
        body = await self.get(f"{DERIVATIVES_PATH}/instruments")
        reply = decode_body(EXCHANGE, body, schemas.INSTRUMENTS, "instruments")
        _raise_for_result(reply.result, reply.error)
        return instruments_from_reply(reply)

    async def history(self, symbol: str, last_time: str | None = None) -> list[TradeRecord]:
        """``GET /history``: up to 100 trades before ``last_time`` (ISO 8601), oldest first.

        ``ts_recv`` is 0: these were not received live.
        """
        params = {"symbol": normalize(symbol)}
        if last_time is not None:
            params["lastTime"] = last_time
        body = await self.get(f"{DERIVATIVES_PATH}/history", params)
        reply = decode_body(EXCHANGE, body, schemas.HISTORY, "history")
        _raise_for_result(reply.result, reply.error)
        name = normalize(symbol)
        records = [
            _record(name, row.uid, row.price, row.size, rfc3339_to_ns(row.time), row.side)
            for row in reply.history
        ]
        return sorted(records, key=lambda record: record.ts_event)

    async def executions(
        self,
        symbol: str,
        *,
        since_ms: int | None = None,
        before_ms: int | None = None,
        continuation_token: str | None = None,
        count: int | None = None,
        ascending: bool = True,
    ) -> ExecutionsPage:
        """``GET /market/{symbol}/executions``: public trades in ``[since, before)`` (ms)."""
        params: dict[str, str | int] = {"sort": "asc" if ascending else "desc"}
        for key, value in (
            ("since", since_ms),
            ("before", before_ms),
            ("continuation_token", continuation_token),
            ("count", count),
        ):
            if value is not None:
                params[key] = value
        if count is not None and count < 1:
            raise ConfigError(f"kraken_futures: count {count} must be positive")
        name = normalize(symbol)
        body = await self.get(f"{HISTORY_PATH}/market/{name}/executions", params)
        reply = decode_body(EXCHANGE, body, schemas.EXECUTIONS, "executions")
        trades = []
        for element in reply.elements:
            if element.event.execution is None:
                continue  # other event kinds share the endpoint's element shape
            fill = element.event.execution.execution
            side = fill.taker_order.direction.lower()
            ts_event = fill.timestamp * NANOS_PER_MILLI
            trades.append(_record(name, fill.uid, fill.price, fill.quantity, ts_event, side))
        return ExecutionsPage(trades, reply.continuation_token)


def _raise_for_result(result: str, error: str | None) -> None:
    if result == "success":
        return
    text = f"kraken_futures: {result}: {error}"
    if error and "apiLimitExceeded" in error:
        raise VenueRateLimitedError(text)
    raise PermanentError(text)


def _record(
    symbol: str, uid: str, price: Decimal, size: Decimal, ts_event: int, side: str
) -> TradeRecord:
    """One REST trade as a record; a bad value fails the call (``BadDataError``)."""
    price_value, size_value = decimal_price_raw(price), decimal_quantity_raw(size)
    if price_value <= 0 or size_value <= 0:
        raise BadDataError(f"kraken_futures {symbol}: trade {uid} has a non-positive value")
    taker = _SIDES.get(side)
    if taker is None:
        raise BadDataError(f"kraken_futures {symbol}: trade {uid}: side {side!r}")
    return TradeRecord(
        EXCHANGE, symbol, ts_event, 0, hashed_trade_id(uid), price_value, size_value, taker
    )
