"""One account's book in a backtest: cash, long positions, realized and unrealized P&L, fees,
closed trades and the equity curve, all in exact ``Decimal`` in the account's currency.

Definitions:

- **Spot, long only.** A buy opens or adds to a long position; a sell reduces or closes it. A
  sell larger than the open position is refused (``BadDataError``): there is no shorting.
- **FIFO lots.** Every buy fill opens a lot (quantity, price, fee, time). A sell consumes the
  oldest lots first; each (lot, sell) pair it touches becomes one closed ``Trade``, so a sell
  that spans two lots yields two trades, each with its own entry time and price.
- **Fees on a trade.** The entry fee of a lot is allocated pro rata to the quantity each sell
  takes from it; the exit fee of a sell is allocated pro rata to the lots it consumes. A piece
  is rounded to 12 decimal places when the quotient is longer, and the last piece of each fee
  takes the remainder, so the allocated pieces add up to the fee exactly.
  ``Trade.pnl = (exit_price - entry_price) * quantity - entry fee share - exit fee share``.
- **Realized P&L** is the sum of ``Trade.pnl``.
- **Unrealized P&L** is what the open lots would realize if sold at the latest price with no
  exit fee: ``sum(quantity * price) - sum(quantity * entry_price) - unallocated entry fees``.
  So ``equity == initial_cash + realized_pnl + unrealized_pnl`` holds exactly.
- **Latest price** of an instrument is its last ``mark`` or, if later, its last fill price.
- **Equity** is ``cash + sum(quantity * latest price)``.
- **Equity curve**: one ``(ts_ns, equity)`` point per ``mark`` (the engine marks at each bar
  close, never before the first bar: the metrics take ``initial_cash`` as the opening point).
- **Exposure** is the fraction of marks at which some position was open. A position opened and
  closed between two marks does not count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from operator import itemgetter
from typing import Final, Literal, overload

import msgspec

from ticklane.backtest.curve import EquityCurve
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import PRICE_DECIMALS
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.events import OrderFilled

_ZERO = Decimal(0)
_FEE_EXPONENT = -12
_FEE_QUANTUM = Decimal(1).scaleb(_FEE_EXPONENT)  # 1e-12 of the account's currency
# Enum members bound once: reading one off its class costs 0.1 us on Python 3.11, and the
# order path reads a dozen per order.
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_SIDES = (_BUY, _SELL)
_TIME = itemgetter(0)  # of a (ts_ns, price) close
_PRICE = itemgetter(1)


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A closed round trip: ``quantity`` bought at ``entry_price`` and sold at ``exit_price``.

    ``pnl`` is after the fees of both legs (``fees`` is their allocated sum); ``return_pct`` is
    ``100 * pnl / (entry_price * quantity)``, in percent of the entry notional. (``gc=False``:
    plain values only, never in a reference cycle, so the garbage collector skips trades.)
    """

    instrument: InstrumentId
    side: Literal["long"] = "long"
    quantity: Decimal
    entry_ts: int
    entry_price: Decimal
    exit_ts: int
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal
    return_pct: float


class Position(msgspec.Struct, frozen=True, gc=False):
    """An open long position: its quantity and the average entry price of its open lots (fees
    excluded)."""

    instrument: InstrumentId
    quantity: Decimal
    average_entry_price: Decimal


class _Lot:
    """What is left of one buy fill: quantity, entry price, and the part of its fee not yet
    allocated to a trade."""

    __slots__ = ("fee", "price", "quantity", "ts")

    def __init__(self, quantity: Decimal, price: Decimal, fee: Decimal, ts: int) -> None:
        self.quantity = quantity
        self.price = price
        self.fee = fee
        self.ts = ts


class _Book:
    """The open lots of one instrument, with their running totals."""

    __slots__ = ("cost", "lots", "open_fees", "quantity")

    def __init__(self) -> None:
        self.lots: deque[_Lot] = deque()
        self.quantity = _ZERO
        self.cost = _ZERO  # sum(lot.quantity * lot.price)
        self.open_fees = _ZERO  # sum(lot.fee): entry fees not yet allocated to a trade


class Portfolio:
    """The book of one account.

    ``initial_cash``: the account's starting balance (positive) in ``currency``, the currency
    every fill's fee and price is quoted in.
    """

    def __init__(self, initial_cash: Decimal, currency: str) -> None:
        if not isinstance(initial_cash, Decimal) or not initial_cash.is_finite():
            raise BadDataError(f"initial cash: {initial_cash!r} is not a finite Decimal")
        if initial_cash <= 0:
            raise BadDataError(f"initial cash: {initial_cash} must be positive")
        self.initial_cash = initial_cash
        self.currency = currency
        self.cash = initial_cash
        self.realized_pnl = _ZERO
        self.fees_paid = _ZERO
        self._books: dict[InstrumentId, _Book] = {}
        self._prices: dict[InstrumentId, Decimal] = {}
        self._trades: list[Trade] = []
        self._curve = EquityCurve()
        self._exposed_marks = 0

    # -- what the engine feeds in ---------------------------------------------------------

    def apply_fill(self, fill: OrderFilled) -> None:
        """Book a fill: move cash and fees, open a lot (buy) or close lots FIFO (sell)."""
        quantity, price, fee, instrument = fill.quantity, fill.price, fill.fee, fill.instrument
        if not (
            quantity.is_finite()
            and quantity > _ZERO
            and price.is_finite()
            and price > _ZERO
            and fee.is_finite()
            and fee >= _ZERO
            and fill.side in _SIDES
        ):
            _check_fill(fill)  # raises, naming what is wrong
        self.fees_paid += fee
        book = self._books.get(instrument)
        if book is None:
            book = self._books[instrument] = _Book()
        notional = quantity * price
        if fill.side is _BUY:
            self.cash -= notional + fee
            book.lots.append(_Lot(quantity, price, fee, fill.ts_event))
            book.quantity += quantity
            book.cost += notional
            book.open_fees += fee
        else:
            if quantity > book.quantity:
                raise BadDataError(
                    f"sell of {quantity} {instrument} exceeds the open long position "
                    f"of {book.quantity}: the portfolio is spot long-only, no shorting",
                    field="quantity",
                    value=quantity,
                )
            self.cash += notional - fee
            self._close_fifo(book, fill)
        # The fill price is an observed price: it marks the instrument until the next mark.
        self._prices[instrument] = price

    @overload
    def mark(self, ts_ns: int, prices: Mapping[InstrumentId, Decimal], /) -> Decimal: ...

    @overload
    def mark(self, ts_ns: int, instrument: InstrumentId, price: Decimal, /) -> Decimal: ...

    def mark(
        self,
        ts_ns: int,
        prices: Mapping[InstrumentId, Decimal] | InstrumentId,
        price: Decimal | None = None,
        /,
    ) -> Decimal:
        """Take new prices (instruments not given keep their latest price), append an
        equity-curve point at ``ts_ns`` and return the equity."""
        if isinstance(prices, InstrumentId):
            if price is None:
                raise BadDataError(f"mark: no price given for {prices}")
            updates: Mapping[InstrumentId, Decimal] = {prices: price}
        else:
            updates = prices
        times = self._curve.times
        if times and ts_ns < times[-1]:
            raise BadDataError(
                f"mark: time {ts_ns} is before the previous mark at {times[-1]}",
                field="ts_ns",
                value=ts_ns,
            )
        for instrument, new_price in updates.items():
            if not isinstance(new_price, Decimal) or not new_price.is_finite() or new_price <= 0:
                raise BadDataError(f"mark: price {new_price!r} of {instrument} is not positive")
            self._prices[instrument] = new_price
        equity = self.equity
        self._curve.append(ts_ns, equity)
        if any(book.quantity != 0 for book in self._books.values()):
            self._exposed_marks += 1
        return equity

    def mark_closes(self, instrument: InstrumentId, closes: list[tuple[int, int]]) -> None:
        """Equity-curve points for a run of bar closes of one instrument, in time order:
        ``(ts_ns, price scaled by PRICE_SCALE)``. The same points ``mark`` would append, built
        in one pass: the engine queues its closes and calls this before each fill (cash and
        positions change only at fills) and at the end. A flat stretch costs no arithmetic."""
        if not closes:
            return
        curve = self._curve
        if curve.times and closes[0][0] < curve.times[-1]:
            raise BadDataError(
                f"mark: time {closes[0][0]} is before the previous mark at {curve.times[-1]}",
                field="ts_ns",
                value=closes[0][0],
            )
        book = self._books.get(instrument)
        quantity = book.quantity if book is not None else _ZERO
        last_price = Decimal(closes[-1][1]).scaleb(-PRICE_DECIMALS)
        if quantity == 0:
            self._prices[instrument] = last_price
            equity = self.equity  # constant over the run: nothing of this instrument is held
            curve.extend_constant(list(map(_TIME, closes)), equity)
            if any(b.quantity != 0 for b in self._books.values()):
                self._exposed_marks += len(closes)
            return
        self._prices[instrument] = _ZERO  # exclude this instrument from the base below
        base = self.equity
        per_raw = quantity.scaleb(-PRICE_DECIMALS)  # value of one raw price unit held: exact
        times, prices = list(map(_TIME, closes)), list(map(_PRICE, closes))
        curve.extend_linear(times, base, per_raw, prices)
        self._prices[instrument] = last_price
        self._exposed_marks += len(closes)

    # -- what the engine and the report read ----------------------------------------------

    @property
    def equity(self) -> Decimal:
        """Cash plus every open position at its latest price."""
        value = self.cash
        for instrument, book in sorted(self._books.items()):
            if book.quantity != 0:
                value += book.quantity * self._prices[instrument]
        return value

    @property
    def unrealized_pnl(self) -> Decimal:
        """What the open lots would realize if sold at the latest prices, before exit fees."""
        total = _ZERO
        for instrument, book in sorted(self._books.items()):
            if book.quantity != 0:
                total += book.quantity * self._prices[instrument] - book.cost - book.open_fees
        return total

    @property
    def positions(self) -> dict[InstrumentId, Position]:
        """The open positions, ordered by instrument."""
        return {
            instrument: Position(instrument, book.quantity, book.cost / book.quantity)
            for instrument, book in sorted(self._books.items())
            if book.quantity != 0
        }

    def position(self, instrument: InstrumentId) -> Position | None:
        """The open position in ``instrument``, or None when flat."""
        return self.positions.get(instrument)

    @property
    def trades(self) -> Sequence[Trade]:
        """The closed round trips, in the order they closed."""
        return self._trades

    @property
    def equity_curve(self) -> EquityCurve:
        """One ``(ts_ns, equity)`` point per mark (the portfolio's own: it goes on growing)."""
        return self._curve

    @property
    def exposure(self) -> float | None:
        """The fraction of marks taken while a position was open; None before the first mark."""
        if not self._curve:
            return None
        return self._exposed_marks / len(self._curve)

    # -- internals --------------------------------------------------------------------------

    def _close_fifo(self, book: _Book, fill: OrderFilled) -> None:
        remaining = fill.quantity
        exit_fee_left = fill.fee
        exit_price = fill.price
        while remaining > _ZERO:
            lot = book.lots[0]
            taken = min(remaining, lot.quantity)
            remaining -= taken
            # The last piece of a fee takes what is left, so the pieces sum to the fee exactly.
            entry_fee = lot.fee if taken == lot.quantity else _share(lot.fee, taken, lot.quantity)
            exit_fee = exit_fee_left if not remaining else _share(fill.fee, taken, fill.quantity)
            exit_fee_left -= exit_fee
            pnl = (exit_price - lot.price) * taken - entry_fee - exit_fee
            self._trades.append(
                Trade(
                    instrument=fill.instrument,
                    quantity=taken,
                    entry_ts=lot.ts,
                    entry_price=lot.price,
                    exit_ts=fill.ts_event,
                    exit_price=exit_price,
                    pnl=pnl,
                    fees=entry_fee + exit_fee,
                    return_pct=float(100 * pnl / (lot.price * taken)),
                )
            )
            self.realized_pnl += pnl
            book.quantity -= taken
            book.cost -= taken * lot.price
            book.open_fees -= entry_fee
            lot.quantity -= taken
            lot.fee -= entry_fee
            if not lot.quantity:
                book.lots.popleft()


def _share(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``amount * part / whole``, rounded to 12 decimal places when the quotient is longer, so
    sums of fee pieces and P&L stay exact within Decimal's 28 digits."""
    share = amount * part / whole
    exponent = share.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _FEE_EXPONENT:
        return share.quantize(_FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return share


def _check_fill(fill: OrderFilled) -> None:
    if fill.side not in (_BUY, _SELL):
        raise BadDataError(f"fill {fill.client_order_id}: side {fill.side!r} is not buy or sell")
    for name, value in (("quantity", fill.quantity), ("price", fill.price)):
        if not value.is_finite() or value <= 0:
            raise BadDataError(
                f"fill {fill.client_order_id}: {name} {value} must be positive",
                field=name,
                value=value,
            )
    if not fill.fee.is_finite() or fill.fee < 0:
        raise BadDataError(
            f"fill {fill.client_order_id}: fee {fill.fee} must not be negative",
            field="fee",
            value=fill.fee,
        )
