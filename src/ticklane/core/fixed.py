"""Exact fixed-point conversion between ``Decimal`` and scaled 64-bit integers.

Columnar arrays, SQL columns and IPC records carry prices and quantities as signed 64-bit
integers scaled by a fixed power of ten. Object APIs carry ``Decimal``. Conversion is exact in
both directions: a value with more decimal places than the scale, or too large for 64 bits, is
an :class:`OutOfRangeError`, never rounded or wrapped.

================  ==========  ==========================================
column            scale       range
================  ==========  ==========================================
price             10**9       ±9,223,372,036.854775807 (9 decimal places)
quantity / size   10**8       ±92,233,720,368.54775807 (8 decimal places)
================  ==========  ==========================================

Prices get 9 places because Databento publishes prices at 1e-9; quantities get 8 because no
venue we read quotes finer lots, and the extra factor of ten of range keeps large meme-coin
trades (tens of billions of units) representable.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation
from typing import Final

from ticklane.core.errors import OutOfRangeError

PRICE_DECIMALS: Final = 9
QUANTITY_DECIMALS: Final = 8
PRICE_SCALE: Final = 10**PRICE_DECIMALS
QUANTITY_SCALE: Final = 10**QUANTITY_DECIMALS
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


# Wide enough that scaling any int64-sized value never rounds.
_EXACT = Context(prec=60, traps=[InvalidOperation])


def to_scaled(value: Decimal | str | int, decimals: int, *, field: str = "value") -> int:
    """Return ``value * 10**decimals`` as an int, or raise if that is not exact or not int64."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise OutOfRangeError(
            f"{field}: {value!r} is not a decimal number", field=field, value=value
        ) from None
    if not number.is_finite():
        raise OutOfRangeError(
            f"{field}: {value!r} is not a finite number", field=field, value=value
        )
    scaled = number.scaleb(decimals, context=_EXACT)
    if scaled != scaled.to_integral_value(context=_EXACT):
        raise OutOfRangeError(
            f"{field}: {value} has more than {decimals} decimal places", field=field, value=value
        )
    raw = int(scaled)
    if not INT64_MIN <= raw <= INT64_MAX:
        limit = Decimal(INT64_MAX).scaleb(-decimals)
        raise OutOfRangeError(
            f"{field}: {value} is outside the representable range ±{limit}",
            field=field,
            value=value,
        )
    return raw


def from_scaled(raw: int, decimals: int) -> Decimal:
    """Return the exact ``Decimal`` for a scaled integer."""
    return Decimal(int(raw)).scaleb(-decimals)


def price_to_raw(value: Decimal | str | int, *, field: str = "price") -> int:
    return to_scaled(value, PRICE_DECIMALS, field=field)


def quantity_to_raw(value: Decimal | str | int, *, field: str = "quantity") -> int:
    return to_scaled(value, QUANTITY_DECIMALS, field=field)


def price_from_raw(raw: int) -> Decimal:
    return from_scaled(raw, PRICE_DECIMALS)


def quantity_from_raw(raw: int) -> Decimal:
    return from_scaled(raw, QUANTITY_DECIMALS)


def format_decimal(value: Decimal) -> str:
    """Plain notation without needless trailing zeros: ``42150.25``, ``-1``, ``0.00000001``."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
