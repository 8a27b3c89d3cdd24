"""Binance symbol names and instrument discovery (``exchangeInfo``, protocols.md 1.4).

Our symbol is Binance's REST/payload spelling, upper case (``BTCUSDT``); stream names use it
in lower case (``btcusdt@trade``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import format_decimal
from ticklane.core.identifiers import check_symbol
from ticklane.venues.binance.schemas import EXCHANGE_INFO, SymbolEntry
from ticklane.venues.common import InstrumentInfo
from ticklane.venues.http import decode_body

EXCHANGE: Final = "binance"
_ACTIVE: Final = frozenset({"TRADING"})


def normalize(symbol: str) -> str:
    """Our symbol for any spelling the user or Binance gives: ``btcusdt`` -> ``BTCUSDT``."""
    name = symbol.strip().upper().replace("/", "").replace("-", "")
    return check_symbol(name)


def stream_symbol(symbol: str) -> str:
    """The lower-case name used inside stream names."""
    return normalize(symbol).lower()


def instruments_from_exchange_info(body: bytes) -> list[InstrumentInfo]:
    """Every symbol of an ``exchangeInfo`` body, with tick size, lot size and status."""
    info = decode_body(EXCHANGE, body, EXCHANGE_INFO, "exchangeInfo")
    return [_instrument(entry) for entry in info.symbols]


def _instrument(entry: SymbolEntry) -> InstrumentInfo:
    tick = lot = min_qty = None
    for rule in entry.filters:
        if rule.filter_type == "PRICE_FILTER":
            tick = _size(rule.tick_size, entry.symbol, "tickSize")
        elif rule.filter_type == "LOT_SIZE":
            lot = _size(rule.step_size, entry.symbol, "stepSize")
            min_qty = _size(rule.min_qty, entry.symbol, "minQty")
    return InstrumentInfo(
        exchange=EXCHANGE,
        symbol=entry.symbol,
        venue_symbol=entry.symbol,
        base_asset=entry.base_asset,
        quote_asset=entry.quote_asset,
        status="active" if entry.status in _ACTIVE else "halted",
        venue_status=entry.status,
        tick_size=tick,
        lot_size=lot,
        min_quantity=min_qty,
    )


def _size(text: str | None, symbol: str, field: str) -> Decimal | None:
    """A filter value as an exact decimal; 0 means the rule is disabled (1.4): ``None``."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise BadDataError(
            f"binance {symbol}: {field} {text!r} is not a decimal", field=field, value=text
        ) from None
    if not value.is_finite() or value < 0:
        raise BadDataError(f"binance {symbol}: {field} {text!r} is invalid", field=field)
    return Decimal(format_decimal(value)) if value else None  # 0.01000000 -> 0.01, 10 stays 10
