"""Stop (stop-market) orders: when they trigger, at which price they fill, what they lock."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.account import Account
from ticklane.sim.events import Liquidity, Order, OrderAccepted, OrderFilled, OrderRejected
from ticklane.sim.exchange import SimulatedExchange
from ticklane.sim.fills import FeeModel, FillModel, FillPolicy, SlippageModel
from ticklane.strategy.signal import Action, OrderType, Signal

BTC = InstrumentId("binance", "BTCUSDT")
S = 10**9  # one second in ns
NO_FEES = FeeModel(Decimal(0), Decimal(0))
_ids = count(1)


def order(
    side: Side,
    quantity: str = "1",
    *,
    stop: str | None = None,
    limit: str | None = None,
    order_type: OrderType | None = None,
    ts: int = 1_000,
) -> Order:
    """A stop order if `stop` is given, else a limit order if `limit` is, else a market order
    (`order_type` overrides)."""
    if order_type is None:
        if stop is not None:
            order_type = OrderType.STOP
        else:
            order_type = OrderType.MARKET if limit is None else OrderType.LIMIT
    return Order(
        client_order_id=f"o{next(_ids)}",
        account_id="SIM-001",
        strategy_id="stops",
        instrument=BTC,
        side=side,
        order_type=order_type,
        ts_submitted=ts,
        quantity=Decimal(quantity),
        limit_price=None if limit is None else Decimal(limit),
        stop_price=None if stop is None else Decimal(stop),
    )


def exchange(
    cash: str = "100000",
    *,
    policy: FillPolicy = FillPolicy.NEXT_TICK,
    fees: FeeModel = NO_FEES,
    slippage: str = "0",
) -> SimulatedExchange:
    fill_model = FillModel(policy, fees, SlippageModel(Decimal(slippage)))
    account = Account.simulated("SIM-001", "USDT", Decimal(cash))
    return SimulatedExchange(fill_model).with_account(account)


def submit(ex: SimulatedExchange, new: Order, reference: str) -> OrderAccepted:
    accepted = ex.submit_order(new, reference_price=Decimal(reference))
    assert isinstance(accepted, OrderAccepted), accepted
    return accepted


def rejection(ex: SimulatedExchange, new: Order, reference: str = "100") -> str:
    rejected = ex.submit_order(new, reference_price=Decimal(reference))
    assert isinstance(rejected, OrderRejected), rejected
    return rejected.reason


def fills(events: list[OrderFilled | OrderRejected]) -> list[tuple[str, Decimal, int]]:
    """(client order id, price, ts) of each event, which must all be fills."""
    filled = [event for event in events if isinstance(event, OrderFilled)]
    assert len(filled) == len(events), events
    return [(e.client_order_id, e.price, e.ts_event) for e in filled]


def holding(ex: SimulatedExchange, quantity: str, price: str) -> None:
    """Buy `quantity` at market, filled at `price` by a trade at ts 1."""
    submit(ex, order(Side.BUY, quantity, ts=0), price)
    assert len(fills(ex.on_trade(1, Decimal(price)))) == 1


# -- triggering and the fill price ---------------------------------------------------------


def test_buy_stop_triggers_at_the_first_trade_above_it_and_fills_at_that_trades_price() -> None:
    ex = exchange()
    buy_stop = order(Side.BUY, stop="105")
    submit(ex, buy_stop, "100")
    assert ex.on_trade(2_000, Decimal("103")) == []
    assert ex.on_trade(3_000, Decimal("104.99")) == []  # just below the stop: still waiting
    [filled] = ex.on_trade(4_000, Decimal("105.5"))
    assert isinstance(filled, OrderFilled)
    # The trade that triggered it printed 105.5: that is the fill price, not the stop (105).
    assert (filled.price, filled.liquidity, filled.ts_event) == (
        Decimal("105.5"),
        Liquidity.TAKER,
        4_000,
    )
    assert ex.open_order_count == 0
    assert ex.account("SIM-001").cash == Decimal("100000") - Decimal("105.5")


@pytest.mark.parametrize(("side", "stop"), [(Side.BUY, "105"), (Side.SELL, "95")])
def test_trade_exactly_at_the_stop_triggers_it(side: Side, stop: str) -> None:
    ex = exchange()
    if side is Side.SELL:
        holding(ex, "1", "100")
    stop_order = order(side, stop=stop)
    submit(ex, stop_order, "100")
    assert fills(ex.on_trade(2_000, Decimal(stop))) == [
        (stop_order.client_order_id, Decimal(stop), 2_000)
    ]


def test_sell_stop_below_the_market_is_a_stop_loss_for_a_long_position() -> None:
    ex = exchange()
    holding(ex, "1", "100.5")
    account = ex.account("SIM-001")
    stop_loss = order(Side.SELL, stop="97")
    accepted = submit(ex, stop_loss, "100.5")
    assert accepted.locked == 0  # a sell locks the coins, not cash
    assert account.position(BTC) == 1 and account.available_position(BTC) == 0
    assert ex.on_trade(2_000, Decimal("99")) == []
    assert ex.on_trade(3_000, Decimal("97.5")) == []
    # The first trade at or below 97 is 96.8: the stop-loss sells there.
    assert fills(ex.on_trade(4_000, Decimal("96.8"))) == [
        (stop_loss.client_order_id, Decimal("96.8"), 4_000)
    ]
    assert ex.on_trade(5_000, Decimal("90")) == []  # nothing left to fill
    assert account.positions() == {}
    assert account.cash == Decimal("100000") - Decimal("100.5") + Decimal("96.8")


@pytest.mark.parametrize("stop", ["99", "100"])  # below and at the deciding trade's price
def test_buy_stop_already_crossed_at_submission_fills_on_the_next_trade_not_the_deciding_one(
    stop: str,
) -> None:
    ex = exchange()
    assert ex.on_trade(1_000, Decimal("100")) == []  # the trade the strategy decides on
    crossed = order(Side.BUY, stop=stop, ts=1_000)
    submit(ex, crossed, "100")
    assert ex.open_order_count == 1  # not filled at 100, a price the strategy has seen
    # Triggered already, it is a market order now: the next trade fills it, at its price.
    assert fills(ex.on_trade(2_000, Decimal("98.5"))) == [
        (crossed.client_order_id, Decimal("98.5"), 2_000)
    ]


def test_sell_stop_already_crossed_at_submission_fills_on_the_next_trade() -> None:
    ex = exchange()
    holding(ex, "1", "100")
    crossed = order(Side.SELL, stop="101", ts=1_000)
    submit(ex, crossed, "100")
    assert ex.open_order_count == 1
    assert fills(ex.on_trade(2_000, Decimal("100.2"))) == [
        (crossed.client_order_id, Decimal("100.2"), 2_000)
    ]


def test_gap_up_through_a_buy_stop_fills_at_the_gapped_price_plus_slippage() -> None:
    ex = exchange(slippage="10")
    buy_stop = order(Side.BUY, stop="105")
    submit(ex, buy_stop, "100")
    assert ex.on_trade(2_000, Decimal("104")) == []
    # The market jumps from 104 to 110: no trade printed at 105, the fill is at 110 + 10 bps.
    assert fills(ex.on_trade(3_000, Decimal("110"))) == [
        (buy_stop.client_order_id, Decimal("110.110000000"), 3_000)
    ]


def test_gap_down_through_a_sell_stop_fills_at_the_gapped_price_minus_slippage() -> None:
    ex = exchange(slippage="10")
    holding(ex, "1", "100")
    stop_loss = order(Side.SELL, stop="95")
    submit(ex, stop_loss, "100")
    assert ex.on_trade(2_000, Decimal("96")) == []
    # Overnight-style gap from 96 to 90: the stop-loss sells at 90 - 10 bps, far below 95.
    assert fills(ex.on_trade(3_000, Decimal("90"))) == [
        (stop_loss.client_order_id, Decimal("89.910000000"), 3_000)
    ]


def test_gap_through_a_buy_stop_beyond_the_cash_is_rejected_at_fill_and_nothing_goes_negative() -> (
    None
):
    ex = exchange("106")
    buy_stop = order(Side.BUY, stop="105")
    assert submit(ex, buy_stop, "100").locked == Decimal("105")  # fits in 106
    [rejected] = ex.on_trade(2_000, Decimal("110"))  # gapped past the stop: 110 > 106
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason == "insufficient funds at fill: need 110 USDT, 106 available"
    account = ex.account("SIM-001")
    assert account.cash == account.available == Decimal(106) and account.locked == 0
    assert account.positions() == {} and ex.open_order_count == 0


# -- stops and limits on the same trades -----------------------------------------------------


def bracket(ex: SimulatedExchange) -> tuple[Order, Order]:
    """Hold 2 BTC at 100; rest a sell limit at 105 (take profit), then a sell stop at 95."""
    holding(ex, "2", "100")
    take_profit = order(Side.SELL, limit="105", ts=S)
    stop_loss = order(Side.SELL, stop="95", ts=S)
    submit(ex, take_profit, "100")
    submit(ex, stop_loss, "100")
    return take_profit, stop_loss


def one_bar(ex: SimulatedExchange, *prices: str) -> list[tuple[str, Decimal, int]]:
    """Feed the trades of one one-minute bar, 10 s apart, and collect the fills."""
    events: list[OrderFilled | OrderRejected] = []
    for second, price in enumerate(prices, start=1):
        events += ex.on_trade(second * 10 * S, Decimal(price))
    return fills(events)


def test_bar_falling_through_the_stop_before_rising_through_the_limit_fills_the_stop_first() -> (
    None
):
    ex = exchange()
    take_profit, stop_loss = bracket(ex)
    # One bar: open 100, low 94, high 105.5. Its OHLC cannot say which was touched first;
    # the trades can: 94 at 20 s crosses the stop, 105.5 at 40 s crosses the limit.
    assert one_bar(ex, "100", "94", "99", "105.5", "102") == [
        (stop_loss.client_order_id, Decimal("94"), 20 * S),  # at the trade that crossed it
        (take_profit.client_order_id, Decimal("105"), 40 * S),  # at its limit, as maker
    ]


def test_bar_rising_through_the_limit_before_falling_through_the_stop_fills_the_limit_first() -> (
    None
):
    ex = exchange()
    take_profit, stop_loss = bracket(ex)
    # The same open, low and high as above, touched in the other order.
    assert one_bar(ex, "100", "105.5", "99", "94", "102") == [
        (take_profit.client_order_id, Decimal("105"), 20 * S),
        (stop_loss.client_order_id, Decimal("94"), 40 * S),
    ]


def test_stop_and_limit_touched_by_the_same_trade_both_fill_each_at_its_own_price() -> None:
    ex = exchange(slippage="10")
    holding(ex, "1", "100")
    stop_loss = order(Side.SELL, stop="95")
    buy_the_dip = order(Side.BUY, limit="96")
    submit(ex, stop_loss, "100")
    submit(ex, buy_the_dip, "100")
    [stop_fill, limit_fill] = ex.on_trade(2_000, Decimal("94"))
    assert isinstance(stop_fill, OrderFilled) and isinstance(limit_fill, OrderFilled)
    # In submission order: the stop at the trade's price less slippage, as taker; the
    # resting limit at exactly its limit, as maker.
    assert (stop_fill.client_order_id, stop_fill.price, stop_fill.liquidity) == (
        stop_loss.client_order_id,
        Decimal("93.906000000"),
        Liquidity.TAKER,
    )
    assert (limit_fill.client_order_id, limit_fill.price, limit_fill.liquidity) == (
        buy_the_dip.client_order_id,
        Decimal("96"),
        Liquidity.MAKER,
    )


# -- locks and checks at submission ----------------------------------------------------------


def test_buy_stop_locks_funds_at_the_stop_price_with_slippage_and_the_taker_fee() -> None:
    ex = exchange(fees=FeeModel(maker_fee_bps=Decimal(0), taker_fee_bps=Decimal(10)), slippage="10")
    accepted = submit(ex, order(Side.BUY, "2", stop="105"), "100")
    # 2 x 105 x 1.001 (slippage) = 210.21, plus the 10 bps taker fee.
    assert accepted.locked == Decimal("210.42021")
    assert ex.account("SIM-001").available == Decimal("100000") - Decimal("210.42021")


def test_buy_stop_crossed_at_submission_locks_like_a_market_buy_at_the_reference_price() -> None:
    ex = exchange()
    assert submit(ex, order(Side.BUY, "1", stop="90"), "100").locked == Decimal("100")


def test_sell_stop_for_more_than_the_free_position_is_rejected_no_short_selling() -> None:
    ex = exchange()
    holding(ex, "1", "100")
    reason = rejection(ex, order(Side.SELL, "1.5", stop="95"))
    need = "need 1.5 BTCUSDT.binance, 1 available (no short selling)"
    assert reason == f"insufficient position: {need}"


def test_buy_stop_beyond_the_cash_is_rejected_at_submission() -> None:
    ex = exchange("100")
    assert rejection(ex, order(Side.BUY, "1", stop="105")).startswith("insufficient funds")
    assert ex.account("SIM-001").available == Decimal(100)


def test_canceling_a_stop_releases_its_lock() -> None:
    ex = exchange()
    buy_stop = order(Side.BUY, stop="105")
    submit(ex, buy_stop, "100")
    canceled = ex.cancel_order(buy_stop.client_order_id, 2_000)
    assert canceled.released == Decimal("105")
    assert ex.account("SIM-001").available == Decimal("100000")
    assert ex.on_trade(3_000, Decimal("110")) == []


@pytest.mark.parametrize("stop", [None, "0", "-5", "NaN"])
def test_stop_order_without_a_positive_stop_price_is_rejected(stop: str | None) -> None:
    ex = exchange()
    no_stop = order(Side.BUY, order_type=OrderType.STOP, stop=stop)
    assert rejection(ex, no_stop) == "stop order needs a positive stop price"
    assert ex.open_order_count == 0


def test_stop_order_with_a_limit_price_is_rejected() -> None:
    ex = exchange()
    reason = rejection(ex, order(Side.BUY, stop="105", limit="106", order_type=OrderType.STOP))
    assert reason == "stop order has a limit price: stop-limit orders are not supported"


def test_stop_price_on_a_market_order_is_rejected_rather_than_ignored() -> None:
    ex = exchange()
    reason = rejection(ex, order(Side.BUY, stop="105", order_type=OrderType.MARKET))
    assert reason == "stop price given on a market order"


def test_stop_price_with_more_than_nine_decimal_places_is_rejected() -> None:
    ex = exchange()
    assert "stop_price" in rejection(ex, order(Side.BUY, stop="105.0000000001"))


# -- the optimistic policy -------------------------------------------------------------------


def test_optimistic_policy_fills_a_stop_crossed_at_the_reference_price_there() -> None:
    ex = exchange(policy=FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC, slippage="10")
    crossed = order(Side.BUY, stop="99")
    submit(ex, crossed, "100")
    filled = ex.fill_now(crossed.client_order_id, 1_000)
    assert isinstance(filled, OrderFilled)
    assert (filled.price, filled.liquidity) == (Decimal("100.100000000"), Liquidity.TAKER)


def test_optimistic_policy_leaves_an_untriggered_stop_to_later_trades() -> None:
    ex = exchange(policy=FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC)
    buy_stop = order(Side.BUY, stop="105")
    submit(ex, buy_stop, "100")
    assert ex.fill_now(buy_stop.client_order_id, 1_000) is None
    assert ex.on_trade(2_000, Decimal("104")) == []
    assert fills(ex.on_trade(3_000, Decimal("106"))) == [
        (buy_stop.client_order_id, Decimal("106"), 3_000)
    ]


# -- signals ---------------------------------------------------------------------------------


def test_signal_with_a_stop_price_is_a_stop_order() -> None:
    stop_loss = Signal.sell(Decimal("1"), stop_price=Decimal("95"), reason="stop-loss")
    assert (stop_loss.action, stop_loss.order_type) == (Action.SELL, OrderType.STOP)
    assert (stop_loss.stop_price, stop_loss.limit_price) == (Decimal("95"), None)
    assert Signal.buy(stop_price=Decimal("105")).order_type is OrderType.STOP
    assert Signal.buy(limit_price=Decimal("95")).order_type is OrderType.LIMIT
    assert Signal.buy().order_type is OrderType.MARKET


def test_signal_buy_with_both_a_stop_and_a_limit_price_is_bad_data() -> None:
    with pytest.raises(BadDataError, match="stop-limit orders are not supported"):
        Signal.buy(Decimal("1"), limit_price=Decimal("106"), stop_price=Decimal("105"))
    with pytest.raises(BadDataError):
        Signal.sell(Decimal("1"), limit_price=Decimal("94"), stop_price=Decimal("95"))
    with pytest.raises(BadDataError):
        Signal(Action.BUY, limit_price=Decimal("106"), stop_price=Decimal("105"))
