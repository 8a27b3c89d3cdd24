"""The portfolio's book: cash, FIFO lots, fees allocated to trades, marks and the equity curve.
Every expected figure is worked out by hand in a comment above the assertion."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from ticklane.backtest.portfolio import Portfolio, Position, Trade
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.events import Liquidity, OrderFilled

BTC = InstrumentId("binance", "BTCUSDT")
ETH = InstrumentId("binance", "ETHUSDT")
HOUR = 3_600 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z

D = Decimal


def fill(
    side: Side, quantity: str, price: str, fee: str, ts: int, instrument: InstrumentId = BTC
) -> OrderFilled:
    return OrderFilled(
        client_order_id=f"o-{ts}",
        account_id="DEFAULT",
        strategy_id="test",
        instrument=instrument,
        side=side,
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
        liquidity=Liquidity.TAKER,
        ts_event=ts,
    )


def test_buy_then_partial_sell_then_full_sell_with_fees_books_exact_cents() -> None:
    book = Portfolio(D("10000.00"), "USDT")

    book.apply_fill(fill(Side.BUY, "0.2", "30000.00", "6.00", T0))
    # cash = 10000.00 - 0.2 * 30000.00 - 6.00 = 3994.00
    assert book.cash == D("3994.00")
    assert book.fees_paid == D("6.00")
    assert book.positions == {BTC: Position(BTC, D("0.2"), D("30000.00"))}
    assert book.trades == []

    book.apply_fill(fill(Side.SELL, "0.05", "32000.00", "1.60", T0 + HOUR))
    # cash = 3994.00 + 0.05 * 32000.00 - 1.60 = 3994.00 + 1598.40 = 5592.40
    # entry fee share = 6.00 * 0.05 / 0.2 = 1.50; fees = 1.50 + 1.60 = 3.10
    # pnl = (32000 - 30000) * 0.05 - 3.10 = 100.00 - 3.10 = 96.90
    # return = 100 * 96.90 / (30000 * 0.05 = 1500) = 6.46 %
    assert book.cash == D("5592.40")
    assert book.trades == [
        Trade(
            instrument=BTC,
            quantity=D("0.05"),
            entry_ts=T0,
            entry_price=D("30000.00"),
            exit_ts=T0 + HOUR,
            exit_price=D("32000.00"),
            pnl=D("96.90"),
            fees=D("3.10"),
            return_pct=6.46,
        )
    ]
    assert book.realized_pnl == D("96.90")
    assert book.position(BTC) == Position(BTC, D("0.15"), D("30000.00"))

    book.apply_fill(fill(Side.SELL, "0.15", "29000.00", "4.35", T0 + 2 * HOUR))
    # cash = 5592.40 + 0.15 * 29000.00 - 4.35 = 5592.40 + 4345.65 = 9938.05
    # the rest of the entry fee: 6.00 - 1.50 = 4.50; fees = 4.50 + 4.35 = 8.85
    # pnl = (29000 - 30000) * 0.15 - 8.85 = -150.00 - 8.85 = -158.85
    # realized = 96.90 - 158.85 = -61.95 = cash - initial cash
    assert book.cash == D("9938.05")
    assert book.trades[1].pnl == D("-158.85")
    assert book.trades[1].fees == D("8.85")
    assert book.trades[1].return_pct == pytest.approx(100 * -158.85 / 4500)
    assert book.realized_pnl == D("-61.95")
    assert book.fees_paid == D("11.95")  # 6.00 + 1.60 + 4.35
    assert book.positions == {}
    assert book.unrealized_pnl == 0
    assert book.equity == D("9938.05")


def test_sell_spanning_two_buys_at_different_prices_closes_oldest_lot_first() -> None:
    book = Portfolio(D("1000"), "USDT")
    book.apply_fill(fill(Side.BUY, "1", "100", "1", T0))
    book.apply_fill(fill(Side.BUY, "1", "110", "1", T0 + HOUR))
    # average entry = (100 + 110) / 2 = 105
    assert book.position(BTC) == Position(BTC, D("2"), D("105"))

    book.apply_fill(fill(Side.SELL, "1.5", "120", "1.5", T0 + 2 * HOUR))
    # lot 1 (1 @ 100) closes whole: exit fee share 1.5 * 1 / 1.5 = 1.0
    #   pnl = (120 - 100) * 1 - 1 (entry) - 1.0 (exit) = 18
    # lot 2 gives 0.5 @ 110: entry fee share 1 * 0.5 / 1 = 0.5, exit fee the rest 0.5
    #   pnl = (120 - 110) * 0.5 - 0.5 - 0.5 = 4
    first, second = book.trades
    assert (first.quantity, first.entry_price, first.entry_ts, first.pnl) == (
        D(1),
        D(100),
        T0,
        D(18),
    )
    assert (second.quantity, second.entry_price, second.entry_ts, second.pnl) == (
        D("0.5"),
        D(110),
        T0 + HOUR,
        D(4),
    )
    assert first.exit_ts == second.exit_ts == T0 + 2 * HOUR
    assert book.realized_pnl == 22
    # left: 0.5 @ 110 with 0.5 of its entry fee unallocated
    assert book.position(BTC) == Position(BTC, D("0.5"), D("110"))


def test_fee_that_does_not_divide_evenly_is_allocated_to_the_cent_in_total() -> None:
    book = Portfolio(D("1000"), "USDT")
    for hour in range(3):
        book.apply_fill(fill(Side.BUY, "1", "10", "0.01", T0 + hour * HOUR))
    book.apply_fill(fill(Side.SELL, "3", "11", "0.01", T0 + 3 * HOUR))
    # 0.01 / 3 is not exact in Decimal: the last piece takes the remainder
    assert sum(t.fees for t in book.trades) == D("0.04")  # 3 * 0.01 entry + 0.01 exit
    assert sum(t.pnl for t in book.trades) == book.cash - D("1000") == D("2.96")  # 3 - 0.04


def test_partial_sell_of_one_lot_keeps_equity_equal_to_cash_plus_realized_plus_unrealized() -> None:
    book = Portfolio(D("1000"), "USDT")
    book.apply_fill(fill(Side.BUY, "3", "10", "0.01", T0))
    book.apply_fill(fill(Side.SELL, "1", "11", "0.01", T0 + HOUR))
    # entry fee share 0.01 * 1 / 3 = 0.0033333... rounded to 12 places: 0.003333333333
    assert book.trades[0].fees == D("0.013333333333")
    book.mark(T0 + 2 * HOUR, BTC, D("12"))
    assert book.equity == book.initial_cash + book.realized_pnl + book.unrealized_pnl


def test_mark_above_entry_shows_unrealized_profit_net_of_entry_fee() -> None:
    book = Portfolio(D("10000.00"), "USDT")
    book.apply_fill(fill(Side.BUY, "0.2", "30000.00", "6.00", T0))
    equity = book.mark(T0 + HOUR, BTC, D("31000.00"))
    # unrealized = 0.2 * 31000 - 0.2 * 30000 - 6.00 (entry fee) = 6200 - 6000 - 6 = 194.00
    # equity = cash 3994.00 + 0.2 * 31000 = 10194.00 = 10000 + 0 realized + 194 unrealized
    assert book.unrealized_pnl == D("194.00")
    assert equity == book.equity == D("10194.00")
    assert book.equity == book.initial_cash + book.realized_pnl + book.unrealized_pnl


def test_mark_with_a_price_map_keeps_unlisted_instruments_at_their_last_price() -> None:
    book = Portfolio(D("10000"), "USDT")
    book.apply_fill(fill(Side.BUY, "1", "2000", "0", T0, instrument=ETH))
    book.apply_fill(fill(Side.BUY, "0.1", "30000", "0", T0))
    book.mark(T0 + HOUR, {BTC: D("31000"), ETH: D("2100")})
    book.mark(T0 + 2 * HOUR, {BTC: D("32000")})
    # cash 10000 - 2000 - 3000 = 5000; ETH 1 * 2100 (unchanged); BTC 0.1 * 32000 = 3200
    assert book.equity == D("10300")
    assert book.unrealized_pnl == D("300")  # ETH +100, BTC +200


def test_equity_curve_has_one_point_per_mark_and_exposure_counts_marks_in_a_position() -> None:
    book = Portfolio(D("1000"), "USDT")
    book.mark(T0, BTC, D("100"))  # flat: 1000
    book.apply_fill(fill(Side.BUY, "5", "100", "0.50", T0 + 1))
    book.mark(T0 + HOUR, BTC, D("104"))  # 1000 - 500.50 + 5 * 104 = 1019.50
    book.mark(T0 + 2 * HOUR, BTC, D("98"))  # 499.50 + 5 * 98 = 989.50
    book.apply_fill(fill(Side.SELL, "5", "99", "0.50", T0 + 2 * HOUR + 1))
    book.mark(T0 + 3 * HOUR, BTC, D("97"))  # flat: 499.50 + 495 - 0.50 = 994.00
    assert book.equity_curve == [
        (T0, D("1000")),
        (T0 + HOUR, D("1019.50")),
        (T0 + 2 * HOUR, D("989.50")),
        (T0 + 3 * HOUR, D("994.00")),
    ]
    assert book.exposure == 0.5  # in a position at 2 of 4 marks


def test_exposure_is_none_before_any_mark() -> None:
    assert Portfolio(D("1000"), "USDT").exposure is None


def test_sell_larger_than_the_long_position_is_refused_no_shorting() -> None:
    book = Portfolio(D("1000"), "USDT")
    book.apply_fill(fill(Side.BUY, "1", "100", "0", T0))
    with pytest.raises(BadDataError, match="exceeds the open long position of 1"):
        book.apply_fill(fill(Side.SELL, "1.5", "100", "0", T0 + 1))
    with pytest.raises(BadDataError, match="exceeds"):
        book.apply_fill(fill(Side.SELL, "1", "100", "0", T0, instrument=ETH))


def test_mark_earlier_than_the_previous_mark_is_refused() -> None:
    book = Portfolio(D("1000"), "USDT")
    book.mark(T0 + HOUR, BTC, D("100"))
    with pytest.raises(BadDataError, match="before the previous mark"):
        book.mark(T0, BTC, D("100"))


@pytest.mark.parametrize(
    ("quantity", "price", "fee"), [("0", "100", "0"), ("1", "-1", "0"), ("1", "100", "-0.1")]
)
def test_fill_with_non_positive_quantity_or_price_or_negative_fee_is_refused(
    quantity: str, price: str, fee: str
) -> None:
    with pytest.raises(BadDataError):
        Portfolio(D("1000"), "USDT").apply_fill(fill(Side.BUY, quantity, price, fee, T0))


def test_trade_encodes_to_json_with_decimals_as_strings() -> None:
    book = Portfolio(D("1000"), "USDT")
    book.apply_fill(fill(Side.BUY, "1", "100", "0.1", T0))
    book.apply_fill(fill(Side.SELL, "1", "110", "0.11", T0 + HOUR))
    decoded = msgspec.json.decode(msgspec.json.encode(book.trades[0]))
    assert decoded["side"] == "long"
    assert decoded["pnl"] == "9.79"  # 10 - 0.1 - 0.11
    assert msgspec.json.decode(msgspec.json.encode(book.trades[0]), type=Trade) == book.trades[0]


def test_marking_a_run_of_closes_at_once_gives_the_same_curve_as_one_by_one() -> None:
    from ticklane.core.fixed import PRICE_SCALE

    closes_a = [(1_000 + i, (40_000 + 7 * i) * PRICE_SCALE) for i in range(5)]
    closes_b = [(2_000 + i, (41_000 - 3 * i) * PRICE_SCALE) for i in range(5)]
    one_by_one, batched = Portfolio(Decimal("100000"), "USDT"), Portfolio(Decimal("100000"), "USDT")
    buy = OrderFilled(
        client_order_id="O-1",
        account_id="A",
        strategy_id="s",
        instrument=BTC_FOR_MARKS,
        side=Side.BUY,
        quantity=Decimal("0.5"),
        price=Decimal("40100"),
        fee=Decimal("20.05"),
        liquidity=Liquidity.TAKER,
        ts_event=1_500,
    )
    for portfolio, batch in ((one_by_one, False), (batched, True)):
        for closes in (closes_a, closes_b):
            if batch:
                portfolio.mark_closes(BTC_FOR_MARKS, closes)
            else:
                for ts, raw in closes:
                    portfolio.mark(ts, BTC_FOR_MARKS, Decimal(raw) / PRICE_SCALE)
            if closes is closes_a:
                portfolio.apply_fill(buy)
    assert batched.equity_curve == one_by_one.equity_curve
    for portfolio in (one_by_one, batched):  # the metrics' integers are the curve, exactly
        scaled = portfolio.equity_curve.equities
        assert [Decimal(v).scaleb(scaled.exponent) for v in scaled.values] == [
            equity for _, equity in portfolio.equity_curve
        ]
    assert batched.exposure == one_by_one.exposure == 0.5
    assert batched.equity == one_by_one.equity


BTC_FOR_MARKS = InstrumentId("binance", "BTCUSDT")
