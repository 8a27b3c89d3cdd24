"""Kraken spot REST: ``AssetPairs`` discovery and ``Trades`` history (protocols.md 2.6).

Kraken answers most failures with HTTP 200 and an ``error`` list; those are translated here
(``EGeneral:Too many requests`` / ``EAPI:Rate limit exceeded`` -> rate limited,
``EService:*`` -> transient, anything else -> permanent). HTTP-level errors are translated by
``venues.http``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import httpx
import msgspec

from ticklane.core.errors import BadDataError, ConfigError, PermanentError, TransientError
from ticklane.core.records import TradeRecord
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.http import (
    DEFAULT_TIMEOUT_S,
    RestClient,
    VenueRateLimitedError,
    decode_body,
)
from ticklane.venues.kraken import schemas
from ticklane.venues.kraken.symbols import instruments_from_reply, normalize, to_rest
from ticklane.venues.numbers import (
    RepeatCounter,
    derived_trade_id,
    price_raw,
    quantity_raw,
)

EXCHANGE: Final = "kraken"
DEFAULT_REST_URL: Final = "https://api.kraken.com"
MAX_TRADES_PER_REQUEST: Final = 1000
_RATE_LIMITED: Final = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
_SIDES: Final = {"b": 1, "s": 2}


class TradesPage(msgspec.Struct, frozen=True):
    """One page of ``Trades``: the records and ``last``, the cursor for the next ``since``."""

    trades: list[TradeRecord]
    last: str


class KrakenRestClient(RestClient):
    """Async client for Kraken's public REST endpoints under ``base_url``/0/public."""

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(EXCHANGE, base_url, client=client, timeout_s=timeout_s)

    async def asset_pairs(self, symbols: list[str] | None = None) -> list[InstrumentInfo]:
        """Every streamable pair (or only ``symbols``), with tick size, lot size, status."""
        params = {"pair": ",".join(to_rest(s) for s in symbols)} if symbols else None
        body = await self.get("/0/public/AssetPairs", params)
        reply = decode_body(EXCHANGE, body, schemas.ASSET_PAIRS, "AssetPairs")
        _raise_for_errors(reply.error)
        return instruments_from_reply(reply)

    async def trades(
        self, symbol: str, since: str | int | None = None, count: int | None = None
    ) -> TradesPage:
        """``Trades`` from cursor ``since`` (a previous ``last``, or Unix seconds) on.

        Rows with a ``trade_id`` (newer API) keep it; older 6-column rows get the derived id
        of the bulk importer. ``ts_recv`` is 0: these were not received live.
        """
        params: dict[str, str | int] = {"pair": to_rest(symbol)}
        if since is not None:
            params["since"] = since
        if count is not None:
            if not 1 <= count <= MAX_TRADES_PER_REQUEST:
                raise ConfigError(f"kraken: count {count} is not within 1..1000")
            params["count"] = count
        body = await self.get("/0/public/Trades", params)
        reply = decode_body(EXCHANGE, body, schemas.TRADES, "Trades")
        _raise_for_errors(reply.error)
        last = reply.result.get("last")
        rows = [value for key, value in reply.result.items() if key != "last"]
        if len(rows) != 1 or not isinstance(rows[0], list):
            raise BadDataError(f"kraken: Trades result has no single pair: {list(reply.result)}")
        name = normalize(symbol)
        repeats = RepeatCounter()
        return TradesPage([_record(name, row, repeats) for row in rows[0]], str(last or ""))


def _raise_for_errors(errors: list[str]) -> None:
    if not errors:
        return
    text = "; ".join(errors)
    if any(error.startswith(_RATE_LIMITED) for error in errors):
        raise VenueRateLimitedError(f"kraken: {text}")
    if all(error.startswith("EService:") for error in errors):
        raise TransientError(f"kraken: {text}")
    raise PermanentError(f"kraken: {text}")


def _record(symbol: str, row: list[Any], repeats: RepeatCounter) -> TradeRecord:
    """``[price, volume, time, side, type, misc(, trade_id)]`` as a record."""
    try:
        price, quantity = price_raw(row[0]), quantity_raw(row[1])
        seconds = row[2] if isinstance(row[2], Decimal) else Decimal(row[2])
        ts_event = int(seconds.scaleb(9))
        side = _SIDES[row[3]]
    except (AttributeError, IndexError, KeyError, TypeError, ArithmeticError) as error:
        raise BadDataError(f"kraken {symbol}: bad Trades row {row!r}: {error!r}") from None
    if price <= 0 or quantity <= 0:
        raise BadDataError(f"kraken {symbol}: Trades row {row!r} has a non-positive value")
    if len(row) > 6 and isinstance(row[6], int):
        trade_id = row[6]
    else:
        repeat = repeats.next(ts_event, price, quantity)
        trade_id = derived_trade_id(ts_event, price, quantity, repeat)
    return TradeRecord(EXCHANGE, symbol, ts_event, 0, trade_id, price, quantity, side)
