"""Exact conversions every venue parser needs: decimal text to scaled ints, times, trade ids.

``price_raw`` and ``quantity_raw`` are the hot-path versions of ``core.fixed.price_to_raw`` and
``quantity_to_raw``: the plain shape venues send (``"28165.47000000"``: digits, one dot, no
more decimals than the scale) is turned into the scaled int with string and int operations
only; anything else (a sign, an exponent, more decimals, ``Decimal`` values, garbage) goes to the
exact ``core.fixed`` path, which gives the same value or raises ``OutOfRangeError``. Measured
here (``benchmarks/bench_venues.py``): about 0.6 µs a value against 1.6 µs for
``price_to_raw`` on Binance's 8-decimal strings; ``ScaledMemo`` makes a repeated string a dict
hit.

The trade-id helpers reproduce ``datamanager.importer_convert``'s formulas bit for bit, so a
trade streamed live and the same trade imported from a file get the same id (``venues`` may
import only ``core``, so they are restated here rather than imported).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import (
    INT64_MAX,
    PRICE_DECIMALS,
    QUANTITY_DECIMALS,
    price_to_raw,
    quantity_to_raw,
)
from ticklane.core.time import NANOS_PER_SECOND, parse_datetime

_POW10: Final[tuple[int, ...]] = tuple(10**i for i in range(20))
_MAX_DIGITS: Final = 19  # more digits than this can never fit an int64
_ASCII_SPACE: Final = " \t\r\n\f\v"
_DERIVED_KEY: Final = struct.Struct(">qqqq")
NANOS_PER_MILLI: Final = 1_000_000
NANOS_PER_MICRO: Final = 1_000


def price_raw(text: str, field: str = "price") -> int:
    """``price_to_raw(text)`` for decimal text, with a fast path for the plain shape."""
    whole, _, frac = text.partition(".")
    places = len(frac)
    digits = whole + frac
    # isdigit() is False for "", signs, spaces and "_"; isascii() rules out other scripts.
    if (
        places <= PRICE_DECIMALS
        and len(digits) <= _MAX_DIGITS
        and digits.isdigit()
        and digits.isascii()
    ):
        raw = int(digits) * _POW10[PRICE_DECIMALS - places]
        if raw <= INT64_MAX:
            return raw
    return price_to_raw(text, field=field)


def quantity_raw(text: str, field: str = "quantity") -> int:
    """``quantity_to_raw(text)`` for decimal text, with a fast path for the plain shape."""
    whole, _, frac = text.partition(".")
    places = len(frac)
    digits = whole + frac
    if (
        places <= QUANTITY_DECIMALS
        and len(digits) <= _MAX_DIGITS
        and digits.isdigit()
        and digits.isascii()
    ):
        raw = int(digits) * _POW10[QUANTITY_DECIMALS - places]
        if raw <= INT64_MAX:
            return raw
    return quantity_to_raw(text, field=field)


class ScaledMemo(dict[str, int]):
    """``memo[text]``: the scaled int of ``text`` by ``convert``, remembered.

    Venues repeat a few thousand price strings (and ``"0.00000000"``) over and over: a dict
    hit costs a fraction of a parse. A miss converts (a bad value raises and is not kept);
    past ``limit`` entries the memo starts afresh, so memory stays bounded.
    """

    def __init__(self, convert: Callable[[str], int], limit: int = 1 << 16) -> None:
        super().__init__()
        self._convert = convert
        self._limit = limit

    def __missing__(self, text: str) -> int:
        raw = self._convert(text)
        if len(self) >= self._limit:
            self.clear()
        self[text] = raw
        return raw


def decimal_price_raw(value: Decimal, field: str = "price") -> int:
    """Scaled price of a ``Decimal`` decoded exactly from a JSON number (Kraken v2, Futures)."""
    return price_to_raw(value, field=field)


def decimal_quantity_raw(value: Decimal, field: str = "quantity") -> int:
    """Scaled quantity of a ``Decimal`` decoded exactly from a JSON number."""
    return quantity_to_raw(value, field=field)


def seconds_text_to_ns(text: str, field: str = "time") -> int:
    """Exact ns of epoch seconds written as decimal text, e.g. Kraken v1 ``"1534614057.321597"``."""
    whole, _, frac = text.partition(".")
    if (
        whole.isdigit()
        and whole.isascii()
        and len(whole) <= 11
        and len(frac) <= 9
        and (not frac or (frac.isdigit() and frac.isascii()))
    ):
        return int(whole) * NANOS_PER_SECOND + (int(frac) * _POW10[9 - len(frac)] if frac else 0)
    raise BadDataError(f"{field}: {text!r} is not epoch seconds", field=field, value=text)


def rfc3339_to_ns(text: str, field: str = "timestamp") -> int:
    """Exact ns of an RFC 3339 time such as Kraken v2's ``"2023-10-06T17:35:55.440295Z"``."""
    try:
        return parse_datetime(text)
    except BadDataError:
        raise BadDataError(
            f"{field}: {text!r} is not an RFC 3339 time", field=field, value=text
        ) from None


def hashed_trade_id(text: str) -> int:
    """The stable positive 63-bit id of a non-integer trade id such as a UUID.

    Same formula as ``datamanager.importer_convert.hashed_trade_id``: ``blake2b`` (8 bytes) of
    the stripped UTF-8 text read big-endian with the top bit cleared (0 becomes 1).
    """
    value = text.strip(_ASCII_SPACE).encode("utf-8")
    if not value:
        raise BadDataError(f"trade_id: {text!r} is empty", field="trade_id", value=text)
    digest = hashlib.blake2b(value, digest_size=8).digest()
    return int.from_bytes(digest, "big") & INT64_MAX or 1


def derived_trade_id(ts_ns: int, price: int, quantity: int, repeat: int) -> int:
    """The stable positive 63-bit id of a trade the venue sends without one (Kraken v1).

    Same formula as ``datamanager.importer_convert.derived_trade_id``: ``blake2b`` (8 bytes) of
    ``struct.pack(">qqqq", ts_ns, price, quantity, repeat)``, where ``repeat`` counts the earlier
    trades with the same time, price and quantity (see ``RepeatCounter``).
    """
    key = _DERIVED_KEY.pack(ts_ns, price, quantity, repeat)
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") & INT64_MAX or 1


class RepeatCounter:
    """How many trades with the same (time, price, quantity) one symbol has had before.

    Trades arrive in time order, so only the trades at the latest timestamp are remembered.
    """

    __slots__ = ("_seen", "_ts")

    def __init__(self) -> None:
        self._ts = -1
        self._seen: dict[tuple[int, int], int] = {}

    def next(self, ts_ns: int, price: int, quantity: int) -> int:
        if ts_ns != self._ts:
            self._ts = ts_ns
            self._seen.clear()
        key = (price, quantity)
        repeat = self._seen.get(key, 0)
        self._seen[key] = repeat + 1
        return repeat
