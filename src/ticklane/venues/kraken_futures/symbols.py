"""Kraken Futures product ids and instrument discovery (``/instruments``, protocols.md 3).

Our symbol is the product id in upper case (``PI_XBTUSD``, ``PF_XBTUSD``,
``FI_XBTUSD_220930``); the WebSocket accepts either case and answers in upper case, the 2021
``/instruments`` listed lower case. Index products (``in_``, ``rr_``, type ``spot index``) are
not tradeable and are listed as halted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import format_decimal
from ticklane.core.identifiers import check_symbol
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.http import decode_body
from ticklane.venues.kraken_futures import schemas
from ticklane.venues.kraken_futures.schemas import Instrument, InstrumentsReply

EXCHANGE: Final = "kraken_futures"
_LEGACY_ASSETS: Final = {"XBT": "BTC"}
_cache: dict[str, str] = {}


def normalize(symbol: str) -> str:
    """Our symbol for a product id in any case: ``pi_xbtusd`` -> ``PI_XBTUSD``."""
    found = _cache.get(symbol)
    if found is None:
        found = check_symbol(symbol.strip().upper())
        if len(_cache) < 100_000:
            _cache[symbol] = found
    return found


def instruments_from_body(body: bytes) -> list[InstrumentInfo]:
    """Every instrument of an ``/instruments`` body."""
    return instruments_from_reply(decode_body(EXCHANGE, body, schemas.INSTRUMENTS, "instruments"))


def instruments_from_reply(reply: InstrumentsReply) -> list[InstrumentInfo]:
    if reply.result != "success":
        raise BadDataError(f"kraken_futures: instruments answered {reply.result}: {reply.error}")
    return [_instrument(item) for item in reply.instruments]


def _instrument(item: Instrument) -> InstrumentInfo:
    base, quote = _assets(item)
    lot = None
    if item.trade_precision is not None:
        places = item.trade_precision
        lot = Decimal(10**-places) if places <= 0 else Decimal("0." + "0" * (places - 1) + "1")
    elif item.type == "futures_inverse":
        lot = Decimal(1)  # inverse contracts trade in whole contracts
    return InstrumentInfo(
        exchange=EXCHANGE,
        symbol=normalize(item.symbol),
        venue_symbol=item.symbol,
        base_asset=base,
        quote_asset=quote,
        status="active" if item.tradeable else "halted",
        venue_status="tradeable" if item.tradeable else "not tradeable",
        tick_size=_plain(item.tick_size),
        lot_size=lot,
        contract_size=_plain(item.contract_size),
        kind=item.type,
    )


def _assets(item: Instrument) -> tuple[str, str]:
    """Base and quote: from ``base``/``quote``, else ``pair`` ``XBT:USD``, else the id."""
    if item.base and item.quote:
        base, quote = item.base.upper(), item.quote.upper()
    elif item.pair and ":" in item.pair:
        base, _, quote = item.pair.upper().partition(":")
    else:
        # pi_xbtusd / fi_xbtusd_210924 / in_xbtusd: the middle part, 3 + 3 letters.
        parts = item.symbol.upper().split("_")
        middle = parts[1] if len(parts) > 1 else parts[0]
        base, quote = middle[:-3], middle[-3:]
    return _LEGACY_ASSETS.get(base, base), _LEGACY_ASSETS.get(quote, quote)


def _plain(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(format_decimal(value))
