"""Orders for the simulated exchange tests: one factory, so each test states only what matters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.events import Order
from ticklane.strategy.signal import OrderType

BTC = InstrumentId("binance", "BTCUSDT")


class OrderFactory:
    """Build an `Order`; client order ids count up (``o1``, ``o2`` ...) unless given."""

    def __init__(self) -> None:
        self._count = 0

    def __call__(
        self,
        side: Side,
        quantity: str | None = None,
        *,
        equity_fraction: str | None = None,
        limit_price: str | None = None,
        account_id: str = "SIM-001",
        strategy_id: str = "momentum",
        instrument: InstrumentId = BTC,
        ts: int = 1_000,
        client_order_id: str | None = None,
    ) -> Order:
        self._count += 1
        return Order(
            client_order_id=client_order_id or f"o{self._count}",
            account_id=account_id,
            strategy_id=strategy_id,
            instrument=instrument,
            side=side,
            order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
            ts_submitted=ts,
            quantity=None if quantity is None else Decimal(quantity),
            equity_fraction=None if equity_fraction is None else Decimal(equity_fraction),
            limit_price=None if limit_price is None else Decimal(limit_price),
        )


@pytest.fixture
def make_order() -> OrderFactory:
    return OrderFactory()
