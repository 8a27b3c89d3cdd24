"""Kraken spot symbol names and instrument discovery (``AssetPairs``, protocols.md 2.1, 2.6).

Our symbol is the WS v2 spelling, ``BASE/QUOTE`` with today's asset codes (``BTC/USD``,
``DOGE/USD``). Accepted as input and mapped to it: the v1 ``wsname`` (``XBT/USD``, ``XDG/USD``),
any case, and ``-`` for ``/`` (``btc-usd``). WS v1 and REST want ``XBT``/``XDG`` back
(``to_v1``, ``to_rest``). REST result keys are legacy codes (``XXBTZUSD``): only ``wsname``
identifies a pair, so discovery reads it and skips pairs without one (dark-pool ``.d`` pairs).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import format_decimal
from ticklane.core.identifiers import check_symbol
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.http import decode_body
from ticklane.venues.kraken import schemas
from ticklane.venues.kraken.schemas import AssetPair, AssetPairsReply

EXCHANGE: Final = "kraken"
# Kraken's legacy asset codes that differ from the common ones (v1 and REST use them).
_TO_COMMON: Final = {"XBT": "BTC", "XDG": "DOGE"}
_TO_LEGACY: Final = {common: legacy for legacy, common in _TO_COMMON.items()}
_ACTIVE: Final = frozenset({"online"})
_cache: dict[str, str] = {}


def normalize(symbol: str) -> str:
    """Our symbol for ``XBT/USD``, ``BTC/USD``, ``btc-usd`` ...; raises on other shapes."""
    found = _cache.get(symbol)
    if found is not None:
        return found
    text = symbol.strip().upper().replace("-", "/")
    base, slash, quote = text.partition("/")
    if not slash or not base or not quote or "/" in quote:
        raise BadDataError(
            f"kraken: {symbol!r} is not a pair written BASE/QUOTE (e.g. BTC/USD)",
            field="symbol",
            value=symbol,
        )
    name = check_symbol(f"{_TO_COMMON.get(base, base)}/{_TO_COMMON.get(quote, quote)}")
    if len(_cache) < 100_000:
        _cache[symbol] = name
    return name


def to_v1(symbol: str) -> str:
    """The WS v1 pair name: ``BTC/USD`` -> ``XBT/USD``."""
    base, _, quote = normalize(symbol).partition("/")
    return f"{_TO_LEGACY.get(base, base)}/{_TO_LEGACY.get(quote, quote)}"


def to_v2(symbol: str) -> str:
    """The WS v2 symbol: ours."""
    return normalize(symbol)


def to_rest(symbol: str) -> str:
    """The REST ``pair`` parameter, the ``altname`` form: ``BTC/USD`` -> ``XBTUSD``."""
    return to_v1(symbol).replace("/", "")


def instruments_from_asset_pairs(body: bytes) -> list[InstrumentInfo]:
    """Every pair of an ``AssetPairs`` body that can be streamed (has a ``wsname``)."""
    reply = decode_body(EXCHANGE, body, schemas.ASSET_PAIRS, "AssetPairs")
    if reply.error:
        raise BadDataError(f"kraken: AssetPairs answered {reply.error}")
    return instruments_from_reply(reply)


def instruments_from_reply(reply: AssetPairsReply) -> list[InstrumentInfo]:
    """The streamable pairs of a decoded ``AssetPairs`` reply."""
    return [
        _instrument(key, pair)
        for key, pair in reply.result.items()
        if pair.wsname is not None and "/" in pair.wsname
    ]


def _instrument(key: str, pair: AssetPair) -> InstrumentInfo:
    symbol = normalize(pair.wsname or "")
    base, _, quote = symbol.partition("/")
    # tick_size is newer than pair_decimals; when absent one unit of the last decimal is it.
    tick = _decimal(pair.tick_size) if pair.tick_size else decimal_unit(pair.pair_decimals)
    status = pair.status or "online"  # older AssetPairs bodies have no status: listed = online
    return InstrumentInfo(
        exchange=EXCHANGE,
        symbol=symbol,
        venue_symbol=key,
        base_asset=base,
        quote_asset=quote,
        status="active" if status in _ACTIVE else "halted",
        venue_status=status,
        tick_size=tick,
        lot_size=decimal_unit(pair.lot_decimals),
        min_quantity=_decimal(pair.ordermin) if pair.ordermin else None,
    )


def decimal_unit(decimals: int) -> Decimal:
    """One unit of the last of ``decimals`` places, in plain notation: 2 -> ``0.01``."""
    if decimals <= 0:
        return Decimal(10**-decimals)
    return Decimal("0." + "0" * (decimals - 1) + "1")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise BadDataError(f"kraken: {text!r} is not a decimal", value=text) from None
    if not value.is_finite():
        raise BadDataError(f"kraken: {text!r} is not a finite decimal", value=text)
    return Decimal(format_decimal(value))
