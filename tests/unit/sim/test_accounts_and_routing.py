"""Several accounts on one exchange: isolated balances, building from config, order routing."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from ticklane.config.accounts import AccountsConfig
from ticklane.core.errors import ConfigError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.account import Account
from ticklane.sim.events import Order, OrderFilled, OrderRejected
from ticklane.sim.exchange import SimulatedExchange

MakeOrder = Callable[..., Order]
BTC = InstrumentId("binance", "BTCUSDT")


def reference_accounts() -> AccountsConfig:
    """The example accounts of the reference's configuration file."""
    return (
        AccountsConfig.with_default("SIM-001", "USDT", "100000")
        .add_simulation_account("SIM-AGGRESSIVE", "USDT", "50000", ["momentum", "breakout"])
        .add_simulation_account("SIM-CONSERVATIVE", "USDT", "200000", ["mean_reversion", "rsi"])
    )


def test_exchange_built_from_config_has_every_account_with_its_balance() -> None:
    ex = SimulatedExchange().with_accounts_config(reference_accounts())
    balances = [(a.id, a.currency, a.cash) for a in ex.all_accounts()]
    assert balances == [
        ("SIM-001", "USDT", Decimal("100000")),
        ("SIM-AGGRESSIVE", "USDT", Decimal("50000")),
        ("SIM-CONSERVATIVE", "USDT", Decimal("200000")),
    ]
    assert ex.default_account().id == "SIM-001"


def test_two_strategies_on_two_accounts_stay_isolated(make_order: MakeOrder) -> None:
    ex = SimulatedExchange().with_accounts_config(reference_accounts())
    momentum = ex.resolve_account_id("momentum", None)
    rsi = ex.resolve_account_id("rsi", None)
    assert (momentum, rsi) == ("SIM-AGGRESSIVE", "SIM-CONSERVATIVE")

    # momentum cannot afford 1 BTC on its 50000 even though rsi's account holds 200000.
    too_big = make_order(Side.BUY, "1", account_id=momentum, strategy_id="momentum")
    rejected = ex.submit_order(too_big, reference_price=Decimal("60000"))
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason == "insufficient funds: need 60060 USDT, 50000 available"

    ex.submit_order(
        make_order(Side.BUY, "0.5", account_id=momentum), reference_price=Decimal("60000")
    )
    ex.submit_order(
        make_order(Side.BUY, "2", account_id=rsi, strategy_id="rsi"),
        reference_price=Decimal("60000"),
    )
    assert ex.total_locked_for_account(momentum) == Decimal("30030")
    assert ex.total_locked_for_account(rsi) == Decimal("120120")
    assert ex.total_locked_for_account("SIM-001") == 0
    assert ex.locked_amounts == {
        "o2": ("SIM-AGGRESSIVE", Decimal("30030")),
        "o3": ("SIM-CONSERVATIVE", Decimal("120120")),
    }

    fills = ex.on_trade(2_000, Decimal("60000"))

    assert [(f.account_id, f.strategy_id) for f in fills if isinstance(f, OrderFilled)] == [
        ("SIM-AGGRESSIVE", "momentum"),
        ("SIM-CONSERVATIVE", "rsi"),
    ]
    aggressive, conservative = ex.account(momentum), ex.account(rsi)
    assert (aggressive.cash, aggressive.position(BTC)) == (Decimal("19970"), Decimal("0.5"))
    assert (conservative.cash, conservative.position(BTC)) == (Decimal("79880"), Decimal("2"))
    assert ex.default_account().cash == Decimal("100000")
    # rsi's coins are not momentum's to sell.
    oversell = make_order(Side.SELL, "1", account_id=momentum, ts=3_000)
    assert isinstance(ex.submit_order(oversell, reference_price=Decimal("60000")), OrderRejected)


def test_strategy_without_a_dedicated_account_routes_to_the_default() -> None:
    ex = SimulatedExchange().with_accounts_config(reference_accounts())
    assert ex.resolve_account_id("sma_crossover", None) == "SIM-001"
    assert ex.resolve_account_id("sma_crossover", "") == "SIM-001"  # empty means not given


def test_explicit_account_id_wins_over_config_and_an_unknown_one_is_an_error() -> None:
    ex = SimulatedExchange().with_accounts_config(reference_accounts())
    assert ex.resolve_account_id("momentum", "SIM-CONSERVATIVE") == "SIM-CONSERVATIVE"
    with pytest.raises(ConfigError, match="unknown account 'SIM-NOPE'"):
        ex.resolve_account_id("momentum", "SIM-NOPE")


def test_single_account_builder_routes_every_strategy_to_the_default() -> None:
    ex = (
        SimulatedExchange()
        .with_account(Account.simulated("DEFAULT", "USDT", Decimal("100000")))
        .with_account(Account.simulated("OTHER", "USDT", Decimal("5")))
        .with_default_account("DEFAULT")
    )
    assert ex.resolve_account_id("anything", None) == "DEFAULT"
    assert ex.default_account().cash == Decimal("100000")
    assert ex.account("OTHER").cash == Decimal("5")


def test_builder_refuses_duplicate_and_unknown_accounts() -> None:
    ex = SimulatedExchange().with_account(Account.simulated("A", "USDT", Decimal("1")))
    with pytest.raises(ConfigError, match="more than one account"):
        ex.with_account(Account.simulated("A", "USDT", Decimal("2")))
    with pytest.raises(ConfigError, match="unknown account 'B'"):
        ex.with_default_account("B")
    with pytest.raises(ConfigError, match="no accounts"):
        SimulatedExchange().default_account()


def test_account_refuses_a_negative_opening_balance() -> None:
    with pytest.raises(ConfigError, match="initial balance -1 < 0"):
        Account.simulated("A", "USDT", Decimal("-1"))


def test_equity_counts_locked_cash_and_positions_at_the_last_trade(make_order: MakeOrder) -> None:
    ex = SimulatedExchange().with_account(Account.simulated("SIM-001", "USDT", Decimal("10000")))
    ex.submit_order(make_order(Side.BUY, "1"), reference_price=Decimal("1000"))
    ex.on_trade(2_000, Decimal("1000"))  # cash 8999
    ex.submit_order(
        make_order(Side.BUY, "1", limit_price="500", ts=3_000), reference_price=Decimal("1000")
    )
    assert ex.account("SIM-001").locked == Decimal("500.5")
    ex.on_trade(4_000, Decimal("1200"))
    assert ex.equity("SIM-001") == Decimal("10199")  # 8999 (500.5 of it locked) + 1 x 1200
