"""Orders and what happens to them: the simulated exchange emits these, the portfolio and the
strategy log consume them. Quantities and prices are exact ``Decimal``; times are UTC ns.

They hold only strings, numbers, enum members and ``InstrumentId``s, so they can never be part
of a reference cycle: ``gc=False`` keeps them out of the garbage collector, which a backtest's
thousands of orders would otherwise trigger again and again."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

import msgspec

from ticklane.core.identifiers import InstrumentId, Side
from ticklane.strategy.signal import OrderType


class Liquidity(Enum):
    MAKER = "maker"  # a resting limit order filled
    TAKER = "taker"  # a market order, a limit order marketable on arrival, a triggered stop


class Order(msgspec.Struct, frozen=True, gc=False):
    """An order as submitted. Size: ``quantity``, else ``equity_fraction`` of the account's
    equity, resolved to a quantity at the fill price. ``limit_price`` belongs to limit orders
    and ``stop_price`` to stop orders (see ``ticklane.sim.fills``)."""

    client_order_id: str
    account_id: str
    strategy_id: str
    instrument: InstrumentId
    side: Side
    order_type: OrderType
    ts_submitted: int
    quantity: Decimal | None = None
    equity_fraction: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


class OrderAccepted(msgspec.Struct, frozen=True, gc=False):
    client_order_id: str
    account_id: str
    locked: Decimal  # funds locked for this order, in the account's currency (0 for sells)
    ts_event: int


class OrderFilled(msgspec.Struct, frozen=True, gc=False):
    """A complete fill (the simulator fills whole orders)."""

    client_order_id: str
    account_id: str
    strategy_id: str
    instrument: InstrumentId
    side: Side
    quantity: Decimal
    price: Decimal  # the fill price, slippage included
    fee: Decimal  # in the account's currency
    liquidity: Liquidity
    ts_event: int


class OrderRejected(msgspec.Struct, frozen=True, gc=False):
    client_order_id: str
    account_id: str
    reason: str  # e.g. "insufficient funds: need 1050.25 USDT, 1000 available"
    ts_event: int


class OrderCanceled(msgspec.Struct, frozen=True, gc=False):
    client_order_id: str
    account_id: str
    released: Decimal
    ts_event: int


OrderEvent = OrderAccepted | OrderFilled | OrderRejected | OrderCanceled
