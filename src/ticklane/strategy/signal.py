"""What a strategy decides on each event: buy, sell or hold, with optional size and order type."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum, IntEnum

import msgspec

from ticklane.core.errors import BadDataError


class Action(IntEnum):
    HOLD = 0
    BUY = 1
    SELL = 2


class OrderType(Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # stop-market: becomes a market order once a trade prints at or through it


class Signal(msgspec.Struct, frozen=True):
    """A strategy's decision.

    Size: ``quantity`` in base units, else ``equity_fraction`` of the account's equity at the
    fill price, else the strategy's configured size.

    Order types:
        market: fills at the next trade's price (with slippage).
        limit: ``limit_price`` is required; a buy fills at or below it, a sell at or above it.
            Ignored for a market order.
        stop: ``stop_price`` is required (stop-market, e.g. a stop-loss). A buy stop triggers
            at the first trade at or above the stop, a sell stop at the first trade at or below
            it; it then fills at that trade's price with slippage, as taker. ``limit_price``
            and ``stop_price`` together are rejected (no stop-limit orders).
    """

    action: Action
    quantity: Decimal | None = None
    equity_fraction: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reason: str = ""
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.limit_price is not None and self.stop_price is not None:
            raise BadDataError(
                "signal has both limit_price and stop_price: stop-limit orders are not supported",
                field="stop_price",
                value=self.stop_price,
            )

    @classmethod
    def buy(
        cls,
        quantity: Decimal | None = None,
        *,
        equity_fraction: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        reason: str = "",
    ) -> Signal:
        order_type = _order_type(limit_price, stop_price)
        return cls(
            Action.BUY, quantity, equity_fraction, order_type, limit_price, reason, stop_price
        )

    @classmethod
    def sell(
        cls,
        quantity: Decimal | None = None,
        *,
        equity_fraction: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        reason: str = "",
    ) -> Signal:
        order_type = _order_type(limit_price, stop_price)
        return cls(
            Action.SELL, quantity, equity_fraction, order_type, limit_price, reason, stop_price
        )

    @property
    def is_hold(self) -> bool:
        return self.action is Action.HOLD


def _order_type(limit_price: Decimal | None, stop_price: Decimal | None) -> OrderType:
    if stop_price is not None:
        return OrderType.STOP  # with a limit price too, __post_init__ rejects the signal
    return OrderType.MARKET if limit_price is None else OrderType.LIMIT


HOLD = Signal(Action.HOLD)
"""The one hold signal: return it rather than making a new one on every tick."""
