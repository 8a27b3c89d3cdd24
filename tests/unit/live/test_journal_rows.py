"""The rows a paper session writes: what each event puts in which column, exactly, numbered in
the order they are made."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ticklane.bars.events import BarData
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.live.journal import PaperJournal
from ticklane.live.paper import PaperOptions
from ticklane.sim.events import Liquidity, Order, OrderAccepted, OrderFilled, OrderRejected
from ticklane.strategy.signal import OrderType, Signal

BTC = InstrumentId("binance", "BTCUSDT")
ETH = InstrumentId("binance", "ETHUSDT")
T0 = 1_704_067_200 * 10**9


def journal() -> PaperJournal:
    return PaperJournal(
        strategy_id="sma",
        strategy_hash="ab" * 32,
        account_id="SIM-001",
        instrument=BTC,
        run_id="run-1",
    )


def order(**fields: object) -> Order:
    values: dict[str, object] = {
        "client_order_id": "O-00000007",
        "account_id": "SIM-001",
        "strategy_id": "sma",
        "instrument": BTC,
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "ts_submitted": T0,
        "quantity": Decimal("0.015"),
        "limit_price": Decimal("41999.5"),
    }
    return Order(**{**values, **fields})  # type: ignore[arg-type]


def test_a_decision_its_order_and_its_fill_keep_exact_prices_and_sizes() -> None:
    rows = journal()
    signal = Signal.buy(Decimal("0.015"), limit_price=Decimal("41999.5"), reason="cross up")
    decided = rows.signal(signal, T0, 42_000_120_000_000, {"bar_open_time": T0 - 60 * 10**9})
    assert (decided.event, decided.seq, decided.side, decided.price, decided.quantity) == (
        "signal",
        1,
        Side.BUY,
        42_000_120_000_000,
        1_500_000,
    )
    assert decided.details == {
        "reason": "cross up",
        "order_type": "limit",
        "limit_price": "41999.5",
        "bar_open_time": T0 - 60 * 10**9,
    }
    sent = rows.order(order(), OrderAccepted("O-00000007", "SIM-001", Decimal("630.5"), T0))
    assert (sent.seq, sent.client_order_id, sent.price, sent.quantity) == (
        2,
        "O-00000007",
        41_999_500_000_000,
        1_500_000,
    )
    assert sent.details == {"order_type": "limit", "accepted": True, "locked": "630.5"}
    fill = OrderFilled(
        "O-00000007",
        "SIM-001",
        "sma",
        BTC,
        Side.BUY,
        Decimal("0.015"),
        Decimal("41999.5"),
        Decimal("0.6299925"),
        Liquidity.MAKER,
        T0 + 5,
    )
    filled = rows.fill(fill)
    assert (filled.seq, filled.ts_event, filled.price, filled.quantity, filled.fee) == (
        3,
        T0 + 5,
        41_999_500_000_000,
        1_500_000,
        Decimal("0.6299925"),
    )
    assert filled.details == {"liquidity": "maker"}
    assert {(r.strategy_hash, r.run_id, r.symbol) for r in (decided, sent, filled)} == {
        ("ab" * 32, "run-1", "BTCUSDT")
    }


def test_a_rejected_order_and_the_account_state_rows() -> None:
    rows = journal()
    sized = order(
        quantity=None, equity_fraction=Decimal("0.5"), order_type=OrderType.MARKET, limit_price=None
    )
    refused = OrderRejected("O-00000007", "SIM-001", "insufficient funds: need 10", T0)
    sent = rows.order(sized, refused)
    assert (sent.price, sent.quantity, sent.details) == (
        None,
        None,
        {"order_type": "market", "accepted": False, "equity_fraction": "0.5"},
    )
    reject = rows.reject(refused, "submit")
    assert reject.details == {"reason": "insufficient funds: need 10", "stage": "submit"}
    state = rows.state(
        T0,
        reason="fill",
        cash=Decimal("57999.25"),
        positions={BTC: Decimal("1.5"), ETH: Decimal("2")},
        equity=Decimal("121000"),
        realized_pnl=Decimal("-3.5"),
        initial_capital=Decimal("100000"),
        last_trade=(T0, 99),
        clock_ns=T0 + 1,
    )
    assert (state.cash, state.position, state.equity, state.realized_pnl) == (
        Decimal("57999.25"),
        Decimal("1.5"),
        Decimal("121000"),
        Decimal("-3.5"),
    )
    assert state.details == {
        "reason": "fill",
        "positions": [["binance", "BTCUSDT", "1.5"], ["binance", "ETHUSDT", "2"]],
        "initial_capital": "100000",
        "last_trade": [T0, 99],
        "clock_ns": T0 + 1,
    }
    assert [r.seq for r in (sent, reject, state)] == [1, 2, 3]


def test_paper_options_are_checked() -> None:
    with pytest.raises(BadDataError, match="report_every_secs"):
        PaperOptions(report_every_secs=0)
    with pytest.raises(BadDataError, match="warmup_secs"):
        PaperOptions(warmup_secs=-1)


def test_a_decision_on_a_bar_close_is_logged_at_the_close_price() -> None:
    bar = BarData(BTC, BarType.time(Timeframe.ONE_MINUTE))
    bar.close_raw = 42 * 10**12
    decided = journal().signal(Signal.sell(reason="cross down"), T0, bar.close_raw, {})
    assert (decided.side, decided.price, decided.quantity) == (Side.SELL, 42 * 10**12, None)
