"""A simulated spot account: cash in one currency, positions per instrument, locked parts.

Design (the simplest one that is correct for spot trading on one quote currency):

- Cash is held in the account's currency (``USDT``). Every instrument the account trades is
  taken to be quoted in that currency (``BTCUSDT`` on a ``USDT`` account): buying pays cash,
  selling receives it. No currency conversion happens anywhere.
- Positions are base quantities keyed by ``InstrumentId``, so ``BTCUSDT.binance`` and
  ``BTCUSDT.bybit`` are separate holdings, as they are at the venues.
- ``cash`` is everything the account owns in its currency; ``locked`` is the part reserved for
  open buy orders and ``available`` the rest. Likewise a position has a locked part reserved for
  open sell orders. Locked funds still belong to the account, so ``equity`` counts them.
- Neither cash nor a position ever goes below zero, and neither locked part ever exceeds what
  it locks: every method that would break this raises instead of changing anything. (The
  exchange checks first and rejects the order, so a raise here means a bug.)

All arithmetic runs in `EXACT` (through its methods, so no context is entered): 60 significant
digits with inexact results trapped, so an amount is never silently rounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from decimal import (
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    getcontext,
    localcontext,
)
from types import MappingProxyType
from typing import Final

from ticklane.core.errors import ConfigError, PermanentError
from ticklane.core.fixed import format_decimal
from ticklane.core.identifiers import InstrumentId

__all__ = ["EXACT", "ZERO", "Account", "exact"]

EXACT: Final = Context(prec=60, traps=[InvalidOperation, Overflow, Inexact])
"""Money arithmetic: wide enough that sums and products of prices and quantities are exact,
and a result that would need rounding raises ``decimal.Inexact`` instead."""

ZERO: Final = Decimal(0)

_ALREADY_EXACT: Final = nullcontext()
_EXACT_PREC: Final = EXACT.prec

# The account's arithmetic, in EXACT whatever context is current: calling the context's methods
# costs less than entering it (an account is changed several times per order).
_add: Final = EXACT.add
_sub: Final = EXACT.subtract
_mul: Final = EXACT.multiply


def exact() -> AbstractContextManager[object]:
    """Run a block in ``EXACT``: a ``localcontext(EXACT)``, unless an exact context is already
    current. Entering a decimal context copies it (0.7 us, measured), and blocks may nest, so
    only the outermost one pays. (The exchange and the accounts enter none: they call EXACT's
    methods.)"""
    current = getcontext()
    if current.prec == _EXACT_PREC and current.traps[Inexact] and current.traps[Overflow]:
        return _ALREADY_EXACT
    return localcontext(EXACT)


class Account:
    """One simulated spot account with an isolated balance.

    Args:
        account_id: unique id, e.g. ``"SIM-001"``.
        currency: the settlement currency, e.g. ``"USDT"``; instruments are quoted in it.
        initial_balance: starting cash, an exact ``Decimal`` >= 0.
    """

    __slots__ = (
        "_cash",
        "_locked",
        "_locked_positions",
        "_positions",
        "currency",
        "id",
        "initial_balance",
    )

    def __init__(self, account_id: str, currency: str, initial_balance: Decimal) -> None:
        if not account_id or any(ch.isspace() for ch in account_id):
            raise ConfigError(f"account id {account_id!r} must be non-empty, without spaces")
        if not currency:
            raise ConfigError(f"account {account_id}: currency must not be empty")
        if not isinstance(initial_balance, Decimal) or not initial_balance.is_finite():
            raise ConfigError(f"account {account_id}: initial balance must be a finite Decimal")
        if initial_balance < 0:
            raise ConfigError(f"account {account_id}: initial balance {initial_balance} < 0")
        self.id = account_id
        self.currency = currency
        self.initial_balance = initial_balance
        self._cash = initial_balance
        self._locked = ZERO
        self._positions: dict[InstrumentId, Decimal] = {}
        self._locked_positions: dict[InstrumentId, Decimal] = {}

    @classmethod
    def simulated(cls, account_id: str, currency: str, initial_balance: Decimal) -> Account:
        """A fresh simulated account: ``initial_balance`` of ``currency``, no positions."""
        return cls(account_id, currency, initial_balance)

    def __repr__(self) -> str:
        return (
            f"Account({self.id!r}, {self.currency}, cash={format_decimal(self._cash)}, "
            f"locked={format_decimal(self._locked)}, positions={len(self._positions)})"
        )

    # -- balances ------------------------------------------------------------------------------

    @property
    def cash(self) -> Decimal:
        """All cash the account owns, locked part included."""
        return self._cash

    @property
    def locked(self) -> Decimal:
        """Cash reserved for open buy orders."""
        return self._locked

    @property
    def available(self) -> Decimal:
        """Cash free for new orders: ``cash - locked``."""
        return _sub(self._cash, self._locked)

    def position(self, instrument: InstrumentId) -> Decimal:
        """The base quantity held of `instrument`, locked part included."""
        return self._positions.get(instrument, ZERO)

    def locked_position(self, instrument: InstrumentId) -> Decimal:
        """The base quantity of `instrument` reserved for open sell orders."""
        return self._locked_positions.get(instrument, ZERO)

    def available_position(self, instrument: InstrumentId) -> Decimal:
        """The base quantity of `instrument` free for new sell orders."""
        return _sub(
            self._positions.get(instrument, ZERO), self._locked_positions.get(instrument, ZERO)
        )

    def positions(self) -> Mapping[InstrumentId, Decimal]:
        """Every non-zero position (a read-only view)."""
        return MappingProxyType(self._positions)

    def equity(self, marks: Mapping[InstrumentId, Decimal]) -> Decimal:
        """Cash (locked included) plus every position valued at its mark in `marks`."""
        total = self._cash
        for instrument, quantity in self._positions.items():
            mark = marks.get(instrument)
            if mark is None:
                raise PermanentError(
                    f"account {self.id}: no price for {instrument} to value its position"
                )
            total = _add(total, _mul(quantity, mark))
        return total

    # -- changes (called by the exchange) ------------------------------------------------------

    def lock_funds(self, amount: Decimal) -> None:
        """Reserve `amount` of available cash for an open buy order."""
        self._check_amount(amount)
        if amount > _sub(self._cash, self._locked):
            raise PermanentError(f"account {self.id}: cannot lock {amount}, too little cash")
        self._locked = _add(self._locked, amount)

    def release_funds(self, amount: Decimal) -> None:
        """Give back `amount` of locked cash (the order filled, failed or was canceled)."""
        self._check_amount(amount)
        if amount > self._locked:
            raise PermanentError(f"account {self.id}: cannot release {amount}, not locked")
        self._locked = _sub(self._locked, amount)

    def lock_position(self, instrument: InstrumentId, quantity: Decimal) -> None:
        """Reserve `quantity` of the available position for an open sell order."""
        self._check_amount(quantity)
        locked = self._locked_positions.get(instrument, ZERO)
        if quantity > _sub(self._positions.get(instrument, ZERO), locked):
            raise PermanentError(f"account {self.id}: cannot lock {quantity} {instrument}")
        self._locked_positions[instrument] = _add(locked, quantity)

    def release_position(self, instrument: InstrumentId, quantity: Decimal) -> None:
        """Give back `quantity` of the locked position of `instrument`."""
        self._check_amount(quantity)
        locked = self._locked_positions.get(instrument, ZERO)
        if quantity > locked:
            raise PermanentError(f"account {self.id}: cannot release {quantity} {instrument}")
        _put(self._locked_positions, instrument, _sub(locked, quantity))

    def settle_buy(self, instrument: InstrumentId, quantity: Decimal, cost: Decimal) -> None:
        """Pay `cost` (notional plus fee) from available cash and add `quantity` to the position."""
        self._check_amount(quantity)
        self._check_amount(cost)
        if cost > _sub(self._cash, self._locked):
            raise PermanentError(f"account {self.id}: cannot pay {cost}, too little cash")
        self._cash = _sub(self._cash, cost)
        positions = self._positions
        _put(positions, instrument, _add(positions.get(instrument, ZERO), quantity))

    def settle_sell(self, instrument: InstrumentId, quantity: Decimal, proceeds: Decimal) -> None:
        """Take `quantity` from the available position and add `proceeds` (net of fee) to cash."""
        self._check_amount(quantity)
        self._check_amount(proceeds)
        held = self._positions.get(instrument, ZERO)
        if quantity > _sub(held, self._locked_positions.get(instrument, ZERO)):
            raise PermanentError(f"account {self.id}: cannot sell {quantity} {instrument}")
        _put(self._positions, instrument, _sub(held, quantity))
        self._cash = _add(self._cash, proceeds)

    def _check_amount(self, amount: Decimal) -> None:
        if not amount.is_finite() or amount < ZERO:
            raise PermanentError(f"account {self.id}: amount {amount} must be finite and >= 0")


def _put(book: dict[InstrumentId, Decimal], instrument: InstrumentId, value: Decimal) -> None:
    """Store `value`, dropping the entry at zero so the books hold only what is held."""
    if value:
        book[instrument] = value
    else:
        book.pop(instrument, None)
