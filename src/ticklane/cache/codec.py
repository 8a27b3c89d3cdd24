"""The JSON form of a cached trade, as stored in the Redis lists ``ticks:<exchange>:<SYMBOL>``.

One list element is one trade, a JSON object that any tool can read (``redis-cli LRANGE``,
``jq``, another language) without knowing our fixed-point scales::

    {"exchange":"binance","symbol":"BTCUSDT","ts_event":1717372800123456789,
     "ts_recv":1717372800123999000,"trade_id":3141592,"price":"42150.25",
     "quantity":"0.00123","side":"buy"}

============  ======================================================================
field         meaning
============  ======================================================================
exchange      canonical venue name (lower case)
symbol        the venue's symbol, as the venue spells it
ts_event      venue time of the trade, integer UTC nanoseconds
ts_recv       local receive time, integer UTC nanoseconds (the caches' TTL uses it)
trade_id      the venue's integer trade id
price         exact decimal string, plain notation, no trailing zeros (9 places at most)
quantity      exact decimal string, plain notation, no trailing zeros (8 places at most)
side          aggressor side: ``"buy"``, ``"sell"`` or ``"none"`` (venue did not say)
============  ======================================================================

Prices and quantities never pass through a float: the scaled integers of a ``TradeRecord`` are
written as decimal text and read back into the same integers, so a round trip is exact. Unknown
extra fields are ignored on read, so the format can grow without breaking older readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import INT64_MAX, PRICE_DECIMALS, QUANTITY_DECIMALS, to_scaled
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS

SideName = Literal["buy", "sell", "none"]

_SIDE_NAMES: Final[dict[int, SideName]] = {Side.BUY: "buy", Side.SELL: "sell", Side.NONE: "none"}
_SIDE_VALUES: Final[dict[str, int]] = {name: int(side) for side, name in _SIDE_NAMES.items()}


class TickJson(msgspec.Struct, frozen=True, gc=False):
    """One trade as written to Redis (see the module docstring for each field)."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    trade_id: int
    price: str
    quantity: str
    side: SideName


_POWERS_OF_TEN: Final[tuple[int, ...]] = tuple(
    10**n for n in range(max(PRICE_DECIMALS, QUANTITY_DECIMALS) + 1)
)

_encoder: Final = msgspec.json.Encoder()
_one: Final = msgspec.json.Decoder(TickJson)
_many: Final = msgspec.json.Decoder(list[TickJson])


def raw_to_text(raw: int, decimals: int) -> str:
    """Exact plain decimal text of a scaled integer: ``(42150250000000, 9)`` -> ``"42150.25"``."""
    if raw < 0:
        return "-" + raw_to_text(-raw, decimals)
    digits = str(raw).rjust(decimals + 1, "0")
    whole, fraction = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def text_to_raw(text: str, decimals: int, *, field: str) -> int:
    """The scaled integer of decimal text; ``OutOfRangeError`` when it is not exactly one."""
    whole, dot, fraction = text.partition(".")
    places = len(fraction)
    # What the encoder writes: ASCII digits, a point only before a fraction of at most
    # ``decimals`` digits. Anything else (a sign, exponents, spaces, extra places, not a
    # number) takes the exact Decimal route, which also names what is wrong.
    if (
        places <= decimals
        and text.isascii()
        and whole.isdigit()
        and (fraction.isdigit() if dot else True)
    ):
        raw = int(whole + fraction) * _POWERS_OF_TEN[decimals - places]
        if raw <= INT64_MAX:
            return raw
    return to_scaled(text, decimals, field=field)


def encode(record: TradeRecord) -> bytes:
    """The JSON bytes of one trade."""
    return _encoder.encode(
        TickJson(
            record.exchange,
            record.symbol,
            record.ts_event,
            record.ts_recv,
            record.trade_id,
            raw_to_text(record.price, PRICE_DECIMALS),
            raw_to_text(record.quantity, QUANTITY_DECIMALS),
            _SIDE_NAMES.get(record.side, "none"),
        )
    )


def to_record(tick: TickJson) -> TradeRecord:
    """The ``TradeRecord`` a decoded element stands for; ``BadDataError`` if a value is wrong
    (a price or quantity not positive, a time outside the years a tick may have)."""
    price = text_to_raw(tick.price, PRICE_DECIMALS, field="price")
    quantity = text_to_raw(tick.quantity, QUANTITY_DECIMALS, field="quantity")
    ts_event = tick.ts_event
    if price <= 0 or quantity <= 0 or not MIN_TS_NS <= ts_event < MAX_TS_NS:
        raise BadDataError(
            f"cached tick: price {tick.price}, quantity {tick.quantity} or ts_event {ts_event} "
            "is out of range",
            value=tick,
        )
    return TradeRecord(
        tick.exchange,
        tick.symbol,
        ts_event,
        tick.ts_recv,
        tick.trade_id,
        price,
        quantity,
        _SIDE_VALUES[tick.side],
    )


def decode(item: bytes) -> TradeRecord:
    """One element back into its record; ``BadDataError`` when it is not a valid tick."""
    try:
        return to_record(_one.decode(item))
    except msgspec.ValidationError as error:
        raise BadDataError(f"cached tick: {error}", value=item[:200]) from None
    except msgspec.DecodeError as error:
        raise BadDataError(f"cached tick is not JSON: {error}", value=item[:200]) from None


def decode_each(items: Sequence[bytes]) -> list[TradeRecord | None]:
    """Elements back into records, in the same order, None where one is not a valid tick.

    The common case, all valid, is decoded in one call; otherwise each element on its own, so
    one bad element (written by another tool) costs itself only.
    """
    try:
        return [to_record(tick) for tick in _many.decode(b"[" + b",".join(items) + b"]")]
    except (msgspec.DecodeError, BadDataError):
        pass
    records: list[TradeRecord | None] = []
    for item in items:
        try:
            records.append(decode(item))
        except BadDataError:
            records.append(None)
    return records


def decode_all(items: Sequence[bytes]) -> tuple[list[TradeRecord], int]:
    """Elements back into records, in the same order, and how many were skipped as invalid."""
    records = [record for record in decode_each(items) if record is not None]
    return records, len(items) - len(records)
