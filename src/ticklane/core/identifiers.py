"""Venue and instrument identifiers, and the small enums every record uses."""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Final

import msgspec

from ticklane.core.errors import BadDataError

_EXCHANGE_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Venues spell symbols as BTCUSDT, XBT/USD, PI_XBTUSD, BTC-PERP, ES.FUT: allow what they use.
_SYMBOL_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.:\-]{0,63}\Z")  # \Z: no trailing newline


def check_exchange(name: str) -> str:
    """Return the canonical exchange name (lower case), or raise naming the rule broken."""
    canonical = name.strip().lower() if isinstance(name, str) else name
    if not isinstance(canonical, str) or not _EXCHANGE_RE.match(canonical):
        raise BadDataError(
            f"exchange: {name!r} is not a valid exchange name "
            "(a letter, then up to 31 letters, digits or underscores)",
            field="exchange",
            value=name,
        )
    return canonical


def check_symbol(name: str) -> str:
    """Return the symbol as given (venues are case sensitive), or raise naming the rule broken."""
    if not isinstance(name, str) or not _SYMBOL_RE.match(name):
        raise BadDataError(
            f"symbol: {name!r} is not a valid symbol "
            "(1-64 characters: letters, digits and / _ . : -, starting with a letter or digit)",
            field="symbol",
            value=name,
        )
    return name


class InstrumentId(msgspec.Struct, frozen=True, order=True):
    """An instrument on one venue, e.g. ``InstrumentId("binance", "BTCUSDT")``."""

    exchange: str
    symbol: str

    @classmethod
    def of(cls, exchange: str, symbol: str) -> InstrumentId:
        """Validated constructor: canonical exchange name, checked symbol."""
        return cls(check_exchange(exchange), check_symbol(symbol))

    def __str__(self) -> str:
        return f"{self.symbol}.{self.exchange}"


class Side(IntEnum):
    """The aggressor (taker) side of a trade."""

    NONE = 0  # the venue did not say (Databento side "N")
    BUY = 1
    SELL = 2

    @classmethod
    def parse(cls, value: object, *, field: str = "side") -> Side:
        """Accept buy/sell, b/s (any case), 1/2 or a ``Side``; refuse anything else by name."""
        if isinstance(value, Side):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2):
            return cls(value)
        if isinstance(value, str):
            found = _SIDE_NAMES.get(value.strip().lower())
            if found is not None:
                return found
        raise BadDataError(
            f"{field}: {value!r} is not a side (expected buy or sell)", field=field, value=value
        )


_SIDE_NAMES: Final = {
    "buy": Side.BUY,
    "b": Side.BUY,
    "sell": Side.SELL,
    "s": Side.SELL,
    "none": Side.NONE,
    "n": Side.NONE,
}


class BookSide(IntEnum):
    """Which side of an order book a level or delta belongs to."""

    BID = 1
    ASK = 2
