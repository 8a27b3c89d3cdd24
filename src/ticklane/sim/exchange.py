"""The simulated exchange: accounts with isolated balances, order checks, fund locking, fills.

A backtest and paper trading use it unchanged; only who calls ``on_trade`` differs (stored
ticks or the live feed). It is synchronous and deterministic.

Life of an order::

    submit_order(order, reference_price=...)  -> OrderAccepted (funds or position locked)
                                              |  OrderRejected (nothing changed)
    on_trade(ts_event, price)                 -> [OrderFilled | OrderRejected ...]
    fill_now(client_order_id, ts_event)       -> OrderFilled | OrderRejected | None
                                                 (SIGNAL_BAR_CLOSE_OPTIMISTIC only)
    cancel_order(client_order_id, ts_event)   -> OrderCanceled (lock released)

The engine hands every trade to ``on_trade`` before the strategy sees it, so an order
submitted while the strategy handles trade N is first offered trade N+1. ``on_trade`` costs a
dictionary write and one check when no order is open.

Stop orders wait off the book until a trade prints at or through their stop, then fill at
that trade like market orders (``ticklane.sim.fills`` states every fill rule).

Buys lock cash (``locked_amounts``: client order id -> (account id, amount)); sells lock the
base quantity so two sells cannot sell the same coins. Equity is cash (locked part included)
plus every position at the last trade price of its instrument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Self

from ticklane.config.accounts import AccountsConfig
from ticklane.core.errors import ConfigError, OutOfRangeError, PermanentError
from ticklane.core.fixed import format_decimal, price_to_raw, quantity_to_raw
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.account import EXACT, ZERO, Account
from ticklane.sim.events import (
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
)
from ticklane.sim.fills import FillModel, FillPolicy
from ticklane.strategy.signal import OrderType

__all__ = ["SimulatedExchange"]

_ONE = Decimal(1)
# Enum members bound once: reading one off its class costs 0.1 us on Python 3.11, and the
# order path reads a dozen per order.
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_MARKET: Final = OrderType.MARKET
_LIMIT: Final = OrderType.LIMIT
_STOP: Final = OrderType.STOP
_TAKER: Final = Liquidity.TAKER
# Exact arithmetic through EXACT's methods: no context is entered per order or fill.
_add = EXACT.add
_sub = EXACT.subtract
_mul = EXACT.multiply


@dataclass(slots=True)
class _OpenOrder:
    order: Order
    reference_price: Decimal
    locked_cash: Decimal  # in the account's currency (buys)
    locked_quantity: Decimal  # base quantity (sells)
    # A limit order that crossed at submission, or a stop order already triggered there,
    # until its first trade.
    marketable: bool


class SimulatedExchange:
    """Simulated spot exchange over any number of isolated accounts.

    Build it like the reference::

        SimulatedExchange().with_account(Account.simulated("DEFAULT", "USDT", Decimal(100000)))
        SimulatedExchange().with_accounts_config(config)

    Args:
        fill_model: fill policy, fees and slippage (``FillModel()``: next tick, 10 bps fees).
    """

    def __init__(self, fill_model: FillModel | None = None) -> None:
        self.fill_model = fill_model if fill_model is not None else FillModel()
        self._accounts: dict[str, Account] = {}
        self._default_id: str | None = None
        self._config: AccountsConfig | None = None
        self._open: dict[str, _OpenOrder] = {}
        self._locked_amounts: dict[str, tuple[str, Decimal]] = {}
        self._used_ids: set[str] = set()
        self._last_prices: dict[InstrumentId, Decimal] = {}
        self._instruments: set[InstrumentId] = set()
        self._sole_instrument: InstrumentId | None = None
        self._checked_quantity: Decimal | None = None  # the last order quantity found valid

    # -- building ------------------------------------------------------------------------------

    def with_fill_model(self, fill_model: FillModel) -> Self:
        self.fill_model = fill_model
        return self

    def with_account(self, account: Account) -> Self:
        """Add `account`; the first account added is the default until one is chosen."""
        if account.id in self._accounts:
            raise ConfigError(f"account id {account.id!r} is used by more than one account")
        self._accounts[account.id] = account
        if self._default_id is None:
            self._default_id = account.id
        return self

    def with_default_account(self, account_id: str) -> Self:
        """Make the (already added) account `account_id` the default."""
        self._default_id = self.account(account_id).id
        return self

    def with_accounts_config(self, config: AccountsConfig) -> Self:
        """Add one account per configured account, route strategies as `config` says."""
        for spec in config.all_accounts():
            self.with_account(Account.simulated(spec.id, spec.currency, spec.initial_balance))
        self._default_id = config.default.id
        self._config = config
        return self

    # -- accounts ------------------------------------------------------------------------------

    def account(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            known = ", ".join(self._accounts) or "none"
            raise ConfigError(f"unknown account {account_id!r} (accounts: {known})")
        return account

    def default_account(self) -> Account:
        if self._default_id is None:
            raise ConfigError("the simulated exchange has no accounts")
        return self._accounts[self._default_id]

    def all_accounts(self) -> tuple[Account, ...]:
        """Every account, in the order added (the config's default first)."""
        return tuple(self._accounts.values())

    def total_locked_for_account(self, account_id: str) -> Decimal:
        """Cash locked by the open buy orders of `account_id`."""
        return self.account(account_id).locked

    @property
    def locked_amounts(self) -> Mapping[str, tuple[str, Decimal]]:
        """Cash locked per open buy order: client order id -> (account id, amount)."""
        return MappingProxyType(self._locked_amounts)

    def resolve_account_id(self, strategy_id: str, account_id: str | None = None) -> str:
        """The account an order of `strategy_id` goes to: `account_id` if given (it must
        exist), else the accounts config's account for the strategy, else the default."""
        if account_id:  # the reference treats an empty id as "not given"
            return self.account(account_id).id
        if self._config is not None:
            return self._config.account_for_strategy(strategy_id)
        return self.default_account().id

    def equity(self, account_id: str) -> Decimal:
        """Cash (locked included) plus positions at the last trade price of each instrument."""
        return self.account(account_id).equity(self._last_prices)

    def last_price(self, instrument: InstrumentId) -> Decimal | None:
        return self._last_prices.get(instrument)

    # -- orders --------------------------------------------------------------------------------

    @property
    def fill_policy(self) -> FillPolicy:
        return self.fill_model.policy

    @property
    def open_order_count(self) -> int:
        return len(self._open)

    @property
    def has_open_orders(self) -> bool:
        return bool(self._open)

    def open_orders(self) -> tuple[Order, ...]:
        return tuple(entry.order for entry in self._open.values())

    def submit_order(
        self, order: Order, *, reference_price: Decimal
    ) -> OrderAccepted | OrderRejected:
        """Check `order` and lock what it needs, or reject it with the reason.

        `reference_price` is the price the strategy decided on; it sizes the lock of a market
        order and of an equity fraction, and decides whether a limit order crosses on arrival
        and whether a stop order is already triggered (it then fills on the next trade).
        """
        if not reference_price.is_finite() or reference_price <= ZERO:
            raise PermanentError(f"reference price {reference_price} must be positive")
        reason = self._invalid_reason(order)
        if order.client_order_id:
            self._used_ids.add(order.client_order_id)
        if reason is not None:
            return _rejected(order, reason, order.ts_submitted)
        if order.instrument not in self._instruments:
            self._note_instrument(order.instrument)
        self._last_prices.setdefault(order.instrument, reference_price)
        return self._lock(order, reference_price)

    def cancel_order(self, client_order_id: str, ts_event: int) -> OrderCanceled:
        """Cancel an open order and release its lock."""
        entry = self._open.get(client_order_id)
        if entry is None:
            raise PermanentError(f"order {client_order_id!r} is not open")
        self._close(entry)
        return OrderCanceled(client_order_id, entry.order.account_id, entry.locked_cash, ts_event)

    def on_trade(
        self, ts_event: int, price: Decimal, instrument: InstrumentId | None = None
    ) -> list[OrderFilled | OrderRejected]:
        """Offer a trade to every open order of its instrument; return what happened.

        `instrument` may be left out while the exchange has seen a single instrument (a
        one-instrument backtest); with more it must be given.
        """
        if instrument is None:
            instrument = self._only_instrument()
            if instrument is None:
                return []  # no order was ever submitted: nothing to fill or value
        self._last_prices[instrument] = price
        if not self._open:
            return []
        events: list[OrderFilled | OrderRejected] = []
        match_trade = self.fill_model.match_trade
        for entry in list(self._open.values()):
            order = entry.order
            # A trade stamped before the order was submitted happened before the decision
            # and cannot fill it (equal stamps are allowed: ticks share nanoseconds).
            if order.instrument != instrument or ts_event < order.ts_submitted:
                continue
            match = match_trade(order, price, entry.marketable)
            entry.marketable = False  # after its first trade a limit order rests
            if match is not None:
                events.append(self._fill(entry, match[0], match[1], ts_event))
        return events

    def fill_now(self, client_order_id: str, ts_event: int) -> OrderFilled | OrderRejected | None:
        """SIGNAL_BAR_CLOSE_OPTIMISTIC: fill an open order at its reference price now.

        A limit order that does not cross at the reference price stays open (None) and is
        filled by later trades as usual.
        """
        if self.fill_model.policy is not FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC:
            raise PermanentError(
                f"fill_now needs SIGNAL_BAR_CLOSE_OPTIMISTIC, not {self.fill_policy}"
            )
        entry = self._open.get(client_order_id)
        if entry is None:
            raise PermanentError(f"order {client_order_id!r} is not open")
        match = self.fill_model.match_reference(entry.order, entry.reference_price)
        if match is None:
            return None
        # OPTIMISTIC: the reference price counts as a trade, so it also values positions.
        self._last_prices[entry.order.instrument] = entry.reference_price
        return self._fill(entry, match[0], match[1], ts_event)

    # -- internals -----------------------------------------------------------------------------

    def _invalid_reason(self, order: Order) -> str | None:
        """Why `order` cannot be accepted, or None."""
        if not order.client_order_id:
            return "client order id is empty"
        if order.client_order_id in self._used_ids:
            return f"duplicate client order id {order.client_order_id!r}"
        if order.account_id not in self._accounts:
            return f"unknown account {order.account_id!r}"
        if order.side not in (_BUY, _SELL):
            return f"side must be buy or sell, not {order.side.name}"
        try:
            quantity = order.quantity
            if quantity is not None:
                if not quantity.is_finite() or quantity <= ZERO:
                    return f"quantity {quantity} must be positive"
                if quantity is not self._checked_quantity:  # a strategy repeats its size
                    quantity_to_raw(quantity)  # at most 8 decimal places
                    self._checked_quantity = quantity
            elif order.equity_fraction is not None:
                fraction = order.equity_fraction
                if not fraction.is_finite() or not 0 < fraction <= 1:
                    return f"equity_fraction {order.equity_fraction} must be in (0, 1]"
            else:
                return "order has neither quantity nor equity_fraction"
            if order.order_type is _LIMIT:
                limit = order.limit_price
                if limit is None or not limit.is_finite() or limit <= 0:
                    return "limit order needs a positive limit price"
                price_to_raw(limit, field="limit_price")  # at most 9 places
            if order.order_type is _STOP:
                stop = order.stop_price
                if stop is None or not stop.is_finite() or stop <= 0:
                    return "stop order needs a positive stop price"
                if order.limit_price is not None:
                    return "stop order has a limit price: stop-limit orders are not supported"
                price_to_raw(stop, field="stop_price")  # at most 9 places
            elif order.stop_price is not None:
                return f"stop price given on a {order.order_type.value} order"
        except OutOfRangeError as exc:
            return str(exc)
        return None

    def _lock(self, order: Order, reference_price: Decimal) -> OrderAccepted | OrderRejected:
        """Lock cash for a buy or base quantity for a sell; the order becomes open."""
        account = self._accounts[order.account_id]
        model = self.fill_model
        market = order.order_type is _MARKET
        if market:  # what estimated_price and expected_liquidity answer for a market order
            price = model.slippage.apply(reference_price, order.side)
        else:
            price = model.estimated_price(order, reference_price)
        cash = quantity = ZERO
        if order.side is _BUY:
            if order.quantity is not None:
                liquidity = _TAKER if market else model.expected_liquidity(order, reference_price)
                cash = model.buy_cost(order.quantity, price, liquidity)
            else:  # an equity fraction is a budget with the fee included
                cash = _mul(_fraction(order), account.equity(self._marks(order, reference_price)))
            if cash > account.available:
                need = f"{format_decimal(cash)} {account.currency}"
                have = f"{format_decimal(account.available)} available"
                return _rejected(order, f"insufficient funds: need {need}, {have}", None)
            account.lock_funds(cash)
            self._locked_amounts[order.client_order_id] = (account.id, cash)
        else:
            held = account.available_position(order.instrument)
            if order.quantity is not None:
                quantity = order.quantity
            else:  # an equity fraction sells that much value, at most what is held
                budget = _mul(_fraction(order), account.equity(self._marks(order, reference_price)))
                quantity = min(model.sell_quantity(budget, price), held)
                if not quantity:
                    reason = f"nothing to sell: {format_decimal(held)} {order.instrument} free"
                    return _rejected(order, reason, None)
            if quantity > held:  # spot only: a sell never exceeds the unlocked position
                need = f"{format_decimal(quantity)} {order.instrument}"
                have = f"{format_decimal(held)} available (no short selling)"
                return _rejected(order, f"insufficient position: need {need}, {have}", None)
            account.lock_position(order.instrument, quantity)
        # A stop crossed at submission is triggered, but by a price the strategy has seen:
        # like a market order it fills on the next trade, never at the reference price.
        marketable = not market and model.is_marketable(order, reference_price)
        self._open[order.client_order_id] = _OpenOrder(
            order, reference_price, cash, quantity, marketable
        )
        return OrderAccepted(order.client_order_id, account.id, cash, order.ts_submitted)

    def _fill(
        self, entry: _OpenOrder, price: Decimal, liquidity: Liquidity, ts_event: int
    ) -> OrderFilled | OrderRejected:
        """Size, check and settle a fill at `price`; the order is closed either way."""
        order = entry.order
        account = self._accounts[order.account_id]
        model = self.fill_model
        equity = account.equity(self._last_prices) if order.quantity is None else ZERO
        self._close(entry)  # locks come back first: what the fill may use is then `available`
        if order.side is _BUY:
            quantity = order.quantity
            if quantity is None:  # resolve the budget at the fill price, fee included
                budget = _mul(_fraction(order), equity)
                quantity = model.buy_quantity(budget, price, liquidity)
                if not quantity:
                    reason = f"{format_decimal(budget)} {account.currency} buys nothing at {price}"
                    return _rejected(order, reason, ts_event)
            notional = _mul(quantity, price)
            fee = model.fees.fee(notional, liquidity)
            cost = _add(notional, fee)
            if cost > account.available:
                # The price moved since submission: the account cannot pay, so no fill.
                need = f"{format_decimal(cost)} {account.currency}"
                have = f"{format_decimal(account.available)} available"
                reason = f"insufficient funds at fill: need {need}, {have}"
                return _rejected(order, reason, ts_event)
            account.settle_buy(order.instrument, quantity, cost)
        else:
            held = account.available_position(order.instrument)
            quantity = order.quantity
            if quantity is None:  # the value of the fraction at the fill price, at most held
                quantity = min(model.sell_quantity(_mul(_fraction(order), equity), price), held)
            if not quantity or quantity > held:
                need = f"{format_decimal(quantity)} {order.instrument}"
                reason = f"insufficient position at fill: need {need}, "
                return _rejected(order, reason + f"{format_decimal(held)} available", ts_event)
            notional = _mul(quantity, price)
            fee = model.fees.fee(notional, liquidity)
            account.settle_sell(order.instrument, quantity, _sub(notional, fee))
        return OrderFilled(
            order.client_order_id,
            account.id,
            order.strategy_id,
            order.instrument,
            order.side,
            quantity,
            price,
            fee,
            liquidity,
            ts_event,
        )

    def _close(self, entry: _OpenOrder) -> None:
        """Forget an open order and release whatever it locked."""
        order = entry.order
        account = self._accounts[order.account_id]
        del self._open[order.client_order_id]
        self._locked_amounts.pop(order.client_order_id, None)
        if entry.locked_cash:
            account.release_funds(entry.locked_cash)
        if entry.locked_quantity:
            account.release_position(order.instrument, entry.locked_quantity)

    def _marks(self, order: Order, reference_price: Decimal) -> dict[InstrumentId, Decimal]:
        """The prices that value an account when an order is sized: the last trade prices,
        with the order's own instrument at its reference price."""
        return {**self._last_prices, order.instrument: reference_price}

    def _note_instrument(self, instrument: InstrumentId) -> None:
        if instrument not in self._instruments:
            self._instruments.add(instrument)
            self._sole_instrument = instrument if len(self._instruments) == 1 else None

    def _only_instrument(self) -> InstrumentId | None:
        if len(self._instruments) > 1:
            names = ", ".join(sorted(map(str, self._instruments)))
            raise PermanentError(f"on_trade needs the instrument: orders were made on {names}")
        return self._sole_instrument


def _fraction(order: Order) -> Decimal:
    return order.equity_fraction if order.equity_fraction is not None else _ONE


def _rejected(order: Order, reason: str, ts_event: int | None) -> OrderRejected:
    ts = order.ts_submitted if ts_event is None else ts_event
    return OrderRejected(order.client_order_id, order.account_id, reason, ts)
