"""Trade and quote ticks as objects: exact ``Decimal`` values, validated when made."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import InstrumentId, Side, check_exchange, check_symbol
from ticklane.core.time import check_ts


def _check_positive(value: Decimal, field: str) -> None:
    if not isinstance(value, Decimal):
        raise BadDataError(f"{field}: {value!r} is not a Decimal", field=field, value=value)
    if not value > 0:
        raise BadDataError(f"{field}: {value} is not positive", field=field, value=value)


def _check_not_negative(value: Decimal, field: str) -> None:
    if not isinstance(value, Decimal):
        raise BadDataError(f"{field}: {value!r} is not a Decimal", field=field, value=value)
    if value < 0:
        raise BadDataError(f"{field}: {value} is negative", field=field, value=value)


class TradeTick(msgspec.Struct, frozen=True):
    """One executed trade.

    ``side`` is the aggressor's side; ``is_buyer_maker`` is Binance's flag for the same fact
    (True when the seller took liquidity) and defaults to ``side == SELL``. ``trade_id`` is the
    venue's integer trade id; venues without one get a stable id derived by their parser.
    Prices and quantities must fit their fixed-point columns (see ``core.fixed``).
    """

    exchange: str
    symbol: str
    price: Decimal
    quantity: Decimal
    side: Side
    ts_event: int
    trade_id: int
    is_buyer_maker: bool | None = None

    def __post_init__(self) -> None:
        # Store the canonical (lower-case) name so a tick is found by its own instrument.
        msgspec.structs.force_setattr(self, "exchange", check_exchange(self.exchange))
        check_symbol(self.symbol)
        _check_positive(self.price, "price")
        _check_positive(self.quantity, "quantity")
        price_to_raw(self.price)
        quantity_to_raw(self.quantity)
        if not isinstance(self.side, Side):
            raise BadDataError(f"side: {self.side!r} is not a Side", field="side", value=self.side)
        check_ts(self.ts_event)
        if isinstance(self.trade_id, bool) or not isinstance(self.trade_id, int):
            raise BadDataError(
                f"trade_id: {self.trade_id!r} is not an integer",
                field="trade_id",
                value=self.trade_id,
            )
        if self.is_buyer_maker is None:
            # Frozen struct: set the derived default once, at construction.
            msgspec.structs.force_setattr(self, "is_buyer_maker", self.side is Side.SELL)

    @property
    def instrument_id(self) -> InstrumentId:
        return InstrumentId(self.exchange, self.symbol)


class QuoteTick(msgspec.Struct, frozen=True):
    """The best bid and ask at one moment (L1)."""

    exchange: str
    symbol: str
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    ts_event: int
    sequence: int = 0  # the venue's update id where it has one, else 0

    def __post_init__(self) -> None:
        # Store the canonical (lower-case) name so a tick is found by its own instrument.
        msgspec.structs.force_setattr(self, "exchange", check_exchange(self.exchange))
        check_symbol(self.symbol)
        _check_positive(self.bid_price, "bid_price")
        _check_positive(self.ask_price, "ask_price")
        _check_not_negative(self.bid_size, "bid_size")
        _check_not_negative(self.ask_size, "ask_size")
        price_to_raw(self.bid_price, field="bid_price")
        price_to_raw(self.ask_price, field="ask_price")
        quantity_to_raw(self.bid_size, field="bid_size")
        quantity_to_raw(self.ask_size, field="ask_size")
        check_ts(self.ts_event)

    @property
    def instrument_id(self) -> InstrumentId:
        return InstrumentId(self.exchange, self.symbol)

    @property
    def mid_price(self) -> Decimal:
        return (self.bid_price + self.ask_price) / 2
