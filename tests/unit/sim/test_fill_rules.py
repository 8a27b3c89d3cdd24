"""When orders fill, at which price, and what they cost: the fill rules of `sim.fills`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from ticklane.core.errors import ConfigError, PermanentError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.account import Account
from ticklane.sim.events import Liquidity, Order, OrderAccepted, OrderFilled, OrderRejected
from ticklane.sim.exchange import SimulatedExchange
from ticklane.sim.fills import FeeModel, FillModel, FillPolicy, SlippageModel

MakeOrder = Callable[..., Order]
BTC = InstrumentId("binance", "BTCUSDT")
ETH = InstrumentId("binance", "ETHUSDT")


def exchange(
    cash: str = "100000",
    *,
    policy: FillPolicy = FillPolicy.NEXT_TICK,
    fees: FeeModel | None = None,
    slippage: SlippageModel | None = None,
) -> SimulatedExchange:
    fill_model = FillModel(policy, fees or FeeModel(), slippage or SlippageModel())
    account = Account.simulated("SIM-001", "USDT", Decimal(cash))
    return SimulatedExchange(fill_model).with_account(account)


def locked(result: OrderAccepted | OrderRejected) -> Decimal:
    assert isinstance(result, OrderAccepted), result
    return result.locked


def only_fill(events: list[OrderFilled | OrderRejected]) -> OrderFilled:
    [event] = events
    assert isinstance(event, OrderFilled), event
    return event


def test_buy_then_sell_round_trip_pays_both_taker_fees_exactly(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1", ts=1_000), reference_price=Decimal("50000"))
    buy = only_fill(ex.on_trade(2_000, Decimal("50100")))
    assert (buy.price, buy.fee, buy.liquidity) == (
        Decimal("50100"),
        Decimal("50.1"),
        Liquidity.TAKER,
    )
    account = ex.account("SIM-001")
    assert account.cash == Decimal("49849.9")  # 100000 - 50100 - 50.1
    assert account.position(BTC) == Decimal("1")

    ex.submit_order(make_order(Side.SELL, "1", ts=3_000), reference_price=Decimal("50100"))
    sell = only_fill(ex.on_trade(4_000, Decimal("51000")))

    assert (sell.quantity, sell.price, sell.fee) == (Decimal("1"), Decimal("51000"), Decimal("51"))
    assert account.cash == Decimal("100798.9")  # 49849.9 + 51000 - 51
    assert account.positions() == {}
    assert account.locked == 0 and ex.open_order_count == 0


def test_market_order_decided_on_a_tick_fills_at_the_next_ticks_price(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    assert ex.on_trade(1_000, Decimal("50000")) == []  # the tick the strategy decides on
    ex.submit_order(make_order(Side.BUY, "0.1", ts=1_000), reference_price=Decimal("50000"))
    filled = only_fill(ex.on_trade(1_500, Decimal("50250.5")))
    assert filled.price == Decimal("50250.5")
    assert filled.ts_event == 1_500


def test_trade_stamped_before_the_decision_does_not_fill(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "0.1", ts=5_000), reference_price=Decimal("50000"))
    assert ex.on_trade(4_999, Decimal("49000")) == []
    assert only_fill(ex.on_trade(5_000, Decimal("50001"))).price == Decimal("50001")


def test_limit_buy_below_the_market_stays_open_until_a_trade_touches_it(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    order = make_order(Side.BUY, "2", limit_price="49000")
    ex.submit_order(order, reference_price=Decimal("50000"))
    assert ex.on_trade(2_000, Decimal("49500")) == []
    assert ex.on_trade(3_000, Decimal("49000.000000001")) == []
    assert ex.open_orders() == (order,)

    filled = only_fill(ex.on_trade(4_000, Decimal("48000")))  # trades through the limit

    # Resting limit: maker, exactly the limit price even when the trade printed lower.
    assert (filled.price, filled.liquidity, filled.fee) == (
        Decimal("49000"),
        Liquidity.MAKER,
        Decimal("98"),
    )
    assert ex.account("SIM-001").cash == Decimal("100000") - Decimal("98098")


def test_limit_sell_above_the_market_fills_at_its_limit_when_touched(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    ex.on_trade(2_000, Decimal("50000"))
    ex.submit_order(
        make_order(Side.SELL, "1", limit_price="52000", ts=3_000), reference_price=Decimal("50000")
    )
    assert ex.on_trade(4_000, Decimal("51999")) == []
    filled = only_fill(ex.on_trade(5_000, Decimal("52000")))
    assert (filled.price, filled.liquidity) == (Decimal("52000"), Liquidity.MAKER)


def test_limit_buy_above_the_market_takes_the_next_trade_capped_at_its_limit(
    make_order: MakeOrder,
) -> None:
    ex = exchange(slippage=SlippageModel(Decimal("10")))
    ex.submit_order(
        make_order(Side.BUY, "1", limit_price="50030"), reference_price=Decimal("50000")
    )
    filled = only_fill(ex.on_trade(2_000, Decimal("50000")))
    # Taker at the next trade plus 10 bps (50050), capped at the limit.
    assert (filled.price, filled.liquidity) == (Decimal("50030"), Liquidity.TAKER)
    ex.submit_order(
        make_order(Side.BUY, "0.5", limit_price="51000", ts=3_000), reference_price=Decimal("50000")
    )
    assert only_fill(ex.on_trade(4_000, Decimal("50000"))).price == Decimal("50050")


def test_marketable_limit_buy_the_market_runs_away_from_rests_and_later_fills_as_maker(
    make_order: MakeOrder,
) -> None:
    ex = exchange()
    ex.submit_order(
        make_order(Side.BUY, "1", limit_price="50000"), reference_price=Decimal("50000")
    )
    assert ex.on_trade(2_000, Decimal("50100")) == []  # moved above the limit before arrival
    filled = only_fill(ex.on_trade(3_000, Decimal("49900")))
    assert (filled.price, filled.liquidity) == (Decimal("50000"), Liquidity.MAKER)


def test_optimistic_policy_fills_a_market_order_at_the_reference_price(
    make_order: MakeOrder,
) -> None:
    ex = exchange(policy=FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC)
    assert ex.fill_policy is FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC
    ex.submit_order(make_order(Side.BUY, "1", ts=1_000), reference_price=Decimal("50000"))
    filled = ex.fill_now("o1", 1_000)
    assert isinstance(filled, OrderFilled)
    assert (filled.price, filled.fee, filled.ts_event) == (Decimal("50000"), Decimal("50"), 1_000)
    assert ex.account("SIM-001").cash == Decimal("49950")
    assert ex.equity("SIM-001") == Decimal("99950")  # valued at the reference price


def test_optimistic_policy_leaves_a_resting_limit_order_to_later_trades(
    make_order: MakeOrder,
) -> None:
    ex = exchange(policy=FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC)
    ex.submit_order(
        make_order(Side.BUY, "1", limit_price="49000"), reference_price=Decimal("50000")
    )
    assert ex.fill_now("o1", 1_000) is None
    assert only_fill(ex.on_trade(2_000, Decimal("49000"))).liquidity is Liquidity.MAKER


def test_fill_now_is_refused_under_the_next_tick_policy(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    with pytest.raises(PermanentError, match="SIGNAL_BAR_CLOSE_OPTIMISTIC"):
        ex.fill_now("o1", 1_000)


def test_equity_fraction_buy_spends_that_share_of_equity_fees_included(
    make_order: MakeOrder,
) -> None:
    ex = exchange("10000")
    accepted = ex.submit_order(
        make_order(Side.BUY, equity_fraction="0.5"), reference_price=Decimal("300")
    )
    assert locked(accepted) == Decimal("5000")

    filled = only_fill(ex.on_trade(2_000, Decimal("333")))

    # 5000 / (333 x 1.001) = 15.000015000015..., floored to 8 places.
    assert filled.quantity == Decimal("15.00001500")
    assert filled.fee == Decimal("4.995004995")  # 15.000015 x 333 x 0.001
    # Paid 4995.004995 + 4.995004995: just under the 5000 budget.
    assert ex.account("SIM-001").cash == Decimal("5000.000000005")


def test_equity_fraction_counts_positions_at_the_last_trade_price(make_order: MakeOrder) -> None:
    ex = exchange("10000", fees=FeeModel(Decimal(0), Decimal(0)))
    ex.submit_order(make_order(Side.BUY, "10"), reference_price=Decimal("500"))
    ex.on_trade(2_000, Decimal("500"))  # 5000 cash + 10 x 500
    ex.on_trade(3_000, Decimal("600"))  # equity 5000 + 6000
    assert ex.equity("SIM-001") == Decimal("11000")

    ex.submit_order(
        make_order(Side.SELL, equity_fraction="0.3", ts=4_000), reference_price=Decimal("600")
    )
    sold = only_fill(ex.on_trade(5_000, Decimal("600")))

    assert sold.quantity == Decimal("5.5")  # 0.3 x 11000 / 600
    assert ex.account("SIM-001").position(BTC) == Decimal("4.5")


def test_equity_fraction_sell_after_an_all_in_buy_sells_the_whole_position(
    make_order: MakeOrder,
) -> None:
    ex = exchange("1000")
    ex.submit_order(make_order(Side.BUY, equity_fraction="1"), reference_price=Decimal("100"))
    bought = only_fill(ex.on_trade(2_000, Decimal("100")))
    ex.submit_order(
        make_order(Side.SELL, equity_fraction="1", ts=3_000), reference_price=Decimal("100")
    )
    sold = only_fill(ex.on_trade(4_000, Decimal("90")))  # worth more coins than held: capped
    assert sold.quantity == bought.quantity == Decimal("9.99000999")
    assert ex.account("SIM-001").positions() == {}


def test_slippage_makes_buys_dearer_and_sells_cheaper(make_order: MakeOrder) -> None:
    ex = exchange(slippage=SlippageModel(Decimal("2.5")))
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("100"))
    buy = only_fill(ex.on_trade(2_000, Decimal("33.333333333")))
    ex.submit_order(make_order(Side.SELL, "1", ts=3_000), reference_price=Decimal("100"))
    sell = only_fill(ex.on_trade(4_000, Decimal("33.333333333")))
    # 33.333333333 x 1.00025 = 33.34166666633325 -> up to 9 places; x 0.99975 -> down.
    assert buy.price == Decimal("33.341666667")
    assert sell.price == Decimal("33.324999999")


def test_price_jump_between_submit_and_fill_rejects_rather_than_go_negative(
    make_order: MakeOrder,
) -> None:
    ex = exchange("60000")
    accepted = ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    assert locked(accepted) == Decimal("50050")

    [rejected] = ex.on_trade(2_000, Decimal("65000"))

    assert rejected == OrderRejected(
        "o1",
        "SIM-001",
        "insufficient funds at fill: need 65065 USDT, 60000 available",
        2_000,
    )
    account = ex.account("SIM-001")
    assert (account.cash, account.locked, dict(account.positions())) == (
        Decimal("60000"),
        Decimal(0),
        {},
    )
    assert ex.open_order_count == 0 and ex.locked_amounts == {}


def test_smaller_price_jump_is_paid_from_free_cash_beyond_the_lock(make_order: MakeOrder) -> None:
    ex = exchange("60000")
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("50000"))
    filled = only_fill(ex.on_trade(2_000, Decimal("55000")))
    assert filled.price == Decimal("55000")
    assert ex.account("SIM-001").cash == Decimal("4945")  # 60000 - 55000 - 55


def test_trades_of_another_instrument_leave_the_order_alone(make_order: MakeOrder) -> None:
    ex = exchange()
    ex.submit_order(make_order(Side.BUY, "1", instrument=ETH), reference_price=Decimal("3000"))
    ex.submit_order(make_order(Side.BUY, "0.1"), reference_price=Decimal("50000"))
    with pytest.raises(PermanentError, match="needs the instrument"):
        ex.on_trade(2_000, Decimal("50000"))
    assert only_fill(ex.on_trade(2_000, Decimal("3001"), ETH)).instrument == ETH
    assert ex.open_orders()[0].instrument == BTC


def test_fee_and_slippage_models_refuse_impossible_rates() -> None:
    with pytest.raises(ConfigError, match="taker_fee_bps"):
        FeeModel(taker_fee_bps=Decimal("-1"))
    with pytest.raises(ConfigError, match="slippage_bps"):
        SlippageModel(Decimal("10000"))
