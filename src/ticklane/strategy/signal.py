"""What a strategy decides on each event: buy, sell or hold, with optional size and order type."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum, IntEnum

import msgspec


class Action(IntEnum):
    HOLD = 0
    BUY = 1
    SELL = 2


class OrderType(Enum):
    MARKET = "market"
    LIMIT = "limit"


class Signal(msgspec.Struct, frozen=True):
    """A strategy's decision.

    Size: ``quantity`` in base units, else ``equity_fraction`` of the account's equity at the
    fill price, else the strategy's configured size. ``limit_price`` is required for a limit
    order and ignored for a market order.
    """

    action: Action
    quantity: Decimal | None = None
    equity_fraction: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reason: str = ""

    @classmethod
    def buy(
        cls,
        quantity: Decimal | None = None,
        *,
        equity_fraction: Decimal | None = None,
        limit_price: Decimal | None = None,
        reason: str = "",
    ) -> Signal:
        order_type = OrderType.MARKET if limit_price is None else OrderType.LIMIT
        return cls(Action.BUY, quantity, equity_fraction, order_type, limit_price, reason)

    @classmethod
    def sell(
        cls,
        quantity: Decimal | None = None,
        *,
        equity_fraction: Decimal | None = None,
        limit_price: Decimal | None = None,
        reason: str = "",
    ) -> Signal:
        order_type = OrderType.MARKET if limit_price is None else OrderType.LIMIT
        return cls(Action.SELL, quantity, equity_fraction, order_type, limit_price, reason)

    @property
    def is_hold(self) -> bool:
        return self.action is Action.HOLD


HOLD = Signal(Action.HOLD)
"""The one hold signal: return it rather than making a new one on every tick."""
