"""Order checks and fund locking: what is locked, where it is recorded, and when it comes back."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec
import pytest

from ticklane.core.errors import PermanentError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.account import Account
from ticklane.sim.events import Order, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected
from ticklane.sim.exchange import SimulatedExchange

MakeOrder = Callable[..., Order]
BTC = InstrumentId("binance", "BTCUSDT")


def exchange(cash: str = "100000") -> SimulatedExchange:
    return SimulatedExchange().with_account(Account.simulated("SIM-001", "USDT", Decimal(cash)))


def test_market_buy_locks_its_cost_at_the_reference_price_with_the_taker_fee(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    accepted = ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    # 1 BTC at 50000 plus 10 bps taker fee.
    assert accepted == OrderAccepted("o1", "SIM-001", Decimal("50050.000"), 1_000)
    assert ex.locked_amounts == {"o1": ("SIM-001", Decimal("50050"))}
    assert ex.total_locked_for_account("SIM-001") == Decimal("50050")
    account = ex.account("SIM-001")
    assert (account.cash, account.available) == (Decimal("100000"), Decimal("49950"))
    assert ex.open_order_count == 1 and ex.has_open_orders


def test_resting_limit_buy_locks_at_its_limit_with_the_maker_fee(make_order: MakeOrder) -> None:
    ex = exchange()
    accepted = ex.submit_order(
        make_order(Side.BUY, "2", limit_price="49000"), reference_price=Decimal("50000")
    )
    assert isinstance(accepted, OrderAccepted)
    assert accepted.locked == Decimal("98098")  # 2 x 49000 x 1.001


def test_lock_is_released_when_the_buy_fills(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    [filled] = ex.on_trade(2_000, Decimal("49000"))
    assert isinstance(filled, OrderFilled)
    assert ex.locked_amounts == {}
    assert ex.total_locked_for_account("SIM-001") == 0
    account = ex.account("SIM-001")
    assert account.cash == account.available == Decimal("100000") - Decimal("49049")


def test_cancel_releases_the_lock_and_reports_the_amount(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(
        make_order(Side.BUY, "1", limit_price="40000"), reference_price=Decimal("50000")
    )
    ex.submit_order(
        make_order(Side.BUY, "1", limit_price="41000"), reference_price=Decimal("50000")
    )
    assert ex.total_locked_for_account("SIM-001") == Decimal("40040") + Decimal("41041")

    canceled = ex.cancel_order("o1", 5_000)

    assert canceled == OrderCanceled("o1", "SIM-001", Decimal("40040"), 5_000)
    assert ex.locked_amounts == {"o2": ("SIM-001", Decimal("41041"))}
    assert ex.account("SIM-001").available == Decimal("100000") - Decimal("41041")
    with pytest.raises(PermanentError, match="not open"):
        ex.cancel_order("o1", 6_000)


def test_buy_costing_more_than_the_cash_is_rejected_and_changes_nothing(
    make_order: MakeOrder,
) -> None:
    ex = exchange("1000")
    result = ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("1000"))
    assert result == OrderRejected(
        "o1", "SIM-001", "insufficient funds: need 1001 USDT, 1000 available", 1_000
    )
    account = ex.account("SIM-001")
    assert (account.cash, account.locked, dict(account.positions())) == (
        Decimal("1000"),
        Decimal(0),
        {},
    )
    assert ex.locked_amounts == {} and ex.open_order_count == 0
    assert ex.on_trade(2_000, Decimal("1")) == []


def test_second_buy_cannot_use_cash_locked_by_the_first(make_order: MakeOrder) -> None:
    ex = exchange("100000")
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("60000"))
    result = ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("60000"))
    assert isinstance(result, OrderRejected)
    assert result.reason == "insufficient funds: need 60060 USDT, 39940 available"


def test_sell_without_holding_the_coin_is_rejected_no_short_selling(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    result = ex.submit_order(make_order(Side.SELL, "0.5"), reference_price=Decimal("50000"))
    assert isinstance(result, OrderRejected)
    assert result.reason == (
        "insufficient position: need 0.5 BTCUSDT.binance, 0 available (no short selling)"
    )
    assert ex.account("SIM-001").positions() == {}


def test_sell_more_than_held_is_rejected_and_the_position_is_kept(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    ex.on_trade(2_000, Decimal("50000"))
    result = ex.submit_order(
        make_order(Side.SELL, "1.00000001", ts=3_000), reference_price=Decimal("50000")
    )
    assert isinstance(result, OrderRejected)
    assert result.reason.startswith("insufficient position: need 1.00000001 BTCUSDT.binance, 1 ")
    assert ex.account("SIM-001").position(BTC) == Decimal("1")


def test_two_sells_cannot_sell_the_same_coins(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    ex.on_trade(2_000, Decimal("50000"))

    first = ex.submit_order(
        make_order(Side.SELL, "0.7", ts=3_000), reference_price=Decimal("50000")
    )
    second = ex.submit_order(
        make_order(Side.SELL, "0.7", ts=3_000), reference_price=Decimal("50000")
    )

    assert first == OrderAccepted("o2", "SIM-001", Decimal(0), 3_000)  # sells lock no cash
    assert isinstance(second, OrderRejected)
    assert "need 0.7 BTCUSDT.binance, 0.3 available" in second.reason
    account = ex.account("SIM-001")
    assert (account.locked_position(BTC), account.available_position(BTC)) == (
        Decimal("0.7"),
        Decimal("0.3"),
    )
    ex.cancel_order("o2", 4_000)
    assert account.available_position(BTC) == Decimal("1")


def test_duplicate_client_order_id_is_rejected_while_open_and_after_fill(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1", client_order_id="A"), reference_price=Decimal("100"))
    again = ex.submit_order(
        make_order(Side.BUY, "1", client_order_id="A"), reference_price=Decimal("100")
    )
    assert again == OrderRejected("A", "SIM-001", "duplicate client order id 'A'", 1_000)
    assert ex.locked_amounts == {"A": ("SIM-001", Decimal("100.1"))}  # the first lock only

    ex.on_trade(2_000, Decimal("100"))
    after_fill = ex.submit_order(
        make_order(Side.BUY, "1", client_order_id="A"), reference_price=Decimal("100")
    )
    assert isinstance(after_fill, OrderRejected) and "duplicate" in after_fill.reason


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ({"quantity": "0"}, "quantity 0 must be positive"),
        ({"quantity": "-1"}, "quantity -1 must be positive"),
        ({"quantity": "0.000000001"}, "quantity: 1E-9 has more than 8 decimal places"),
        ({"equity_fraction": "0"}, "equity_fraction 0 must be in (0, 1]"),
        ({"equity_fraction": "1.5"}, "equity_fraction 1.5 must be in (0, 1]"),
        ({}, "order has neither quantity nor equity_fraction"),
        ({"quantity": "1", "limit_price": "0"}, "limit order needs a positive limit price"),
        ({"quantity": "1", "account_id": "NOPE"}, "unknown account 'NOPE'"),
    ],
)
def test_malformed_order_is_rejected_with_the_reason(
    make_order: MakeOrder, size: dict[str, str], reason: str
) -> None:
    ex = exchange()
    quantity = size.pop("quantity", None)
    result = ex.submit_order(make_order(Side.BUY, quantity, **size), reference_price=Decimal("10"))
    assert isinstance(result, OrderRejected)
    assert result.reason == reason
    assert ex.open_order_count == 0 and ex.account("SIM-001").locked == 0


def test_limit_order_without_a_price_and_an_order_without_a_side_are_rejected(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    no_price = msgspec.structs.replace(make_order(Side.BUY, "1", limit_price="1"), limit_price=None)
    no_side = make_order(Side.NONE, "1")
    assert ex.submit_order(no_price, reference_price=Decimal("10")) == OrderRejected(
        "o1", "SIM-001", "limit order needs a positive limit price", 1_000
    )
    result = ex.submit_order(no_side, reference_price=Decimal("10"))
    assert isinstance(result, OrderRejected)
    assert result.reason == "side must be buy or sell, not NONE"
