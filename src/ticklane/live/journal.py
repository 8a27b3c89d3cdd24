"""The paper trader's rows in ``live_strategy_log``, and what a restart reads back from them.

Rows of one session (``PaperJournal``) carry the strategy's id and hash, the account, the
instrument, the session's ``run_id`` and a ``seq`` counting the session's rows from 1:

==========  ===================================================================================
event       what the row holds
==========  ===================================================================================
``signal``  a decision: side, the price it was decided at (``price``), fixed ``quantity`` if
            any; details: reason, order type, equity fraction, limit and stop prices, the bar
``order``   the order sent for it: ``client_order_id``, side, quantity, limit or stop price;
            details: order type, whether the exchange accepted it and the cash it locked
``fill``    side, fill price, quantity, fee; details: liquidity (maker or taker)
``reject``  an order refused at submission or at fill time, or canceled when a session ended
            before it filled; details: the reason and the stage (submit, fill, stop, restart)
``state``   the account: ``cash``, ``position`` (this instrument), ``equity``,
            ``realized_pnl``; details: every position, the starting capital of the book, the
            last trade processed ``[ts_event, trade_id]``, the clock, the reason (start,
            resume, fill, failed, stop)
==========  ===================================================================================

Every ``order`` row is followed, sooner or later, by exactly one ``fill`` or ``reject`` of its
client order id. Prices are scaled by 1e9 and quantities by 1e8 as in the table; decimals in
details are strings.

Reading back (``read_book``): the account is the last ``state`` row's cash and positions; the
book (FIFO lots, realized P&L, closed trades) is the ``fill`` rows since the book's ``start``
row applied again in order; client order ids continue after the highest one ever logged for
the strategy and account.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import msgspec

from ticklane.core.errors import OutOfRangeError
from ticklane.core.fixed import (
    format_decimal,
    price_from_raw,
    price_to_raw,
    quantity_from_raw,
    quantity_to_raw,
)
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.events import Liquidity, Order, OrderAccepted, OrderFilled, OrderRejected
from ticklane.storage.base import StrategyLogEvent, StrategyLogRow, TickStore
from ticklane.strategy.signal import Action, Signal

START: Final = "start"  # the state row opening a new book (fresh capital)
RESUME: Final = "resume"  # the state row of a session continuing a book
_ORDER_PREFIX: Final = "O-"  # the engine's client order ids: O-00000001, O-00000002, ...


class PaperJournal:
    """Makes the rows of one paper-trading session, numbered in the order they are made."""

    def __init__(
        self,
        *,
        strategy_id: str,
        strategy_hash: str,
        account_id: str,
        instrument: InstrumentId,
        run_id: str,
    ) -> None:
        self.strategy_id = strategy_id
        self.strategy_hash = strategy_hash
        self.account_id = account_id
        self.instrument = instrument
        self.run_id = run_id
        self._seq = 0

    def _row(self, event: StrategyLogEvent, ts_event: int, **fields: Any) -> StrategyLogRow:
        self._seq += 1
        return StrategyLogRow(
            ts_event=ts_event,
            strategy_id=self.strategy_id,
            strategy_hash=self.strategy_hash,
            account_id=self.account_id,
            exchange=self.instrument.exchange,
            symbol=self.instrument.symbol,
            event=event,
            run_id=self.run_id,
            seq=self._seq,
            **fields,
        )

    def signal(
        self, signal: Signal, ts_event: int, price_raw: int, details: dict[str, Any]
    ) -> StrategyLogRow:
        """A decision taken on the event at ``ts_event``, at the price ``price_raw`` it saw."""
        return self._row(
            "signal",
            ts_event,
            side=int(Side.BUY if signal.action is Action.BUY else Side.SELL),
            price=price_raw,
            quantity=_raw_quantity(signal.quantity),
            details={
                "reason": signal.reason,
                "order_type": signal.order_type.value,
                **_decimals(
                    equity_fraction=signal.equity_fraction,
                    limit_price=signal.limit_price,
                    stop_price=signal.stop_price,
                ),
                **details,
            },
        )

    def order(self, order: Order, outcome: OrderAccepted | OrderRejected) -> StrategyLogRow:
        accepted = isinstance(outcome, OrderAccepted)
        limit_or_stop = order.limit_price if order.limit_price is not None else order.stop_price
        details: dict[str, Any] = {"order_type": order.order_type.value, "accepted": accepted}
        if isinstance(outcome, OrderAccepted):
            details["locked"] = format_decimal(outcome.locked)
        return self._row(
            "order",
            order.ts_submitted,
            side=int(order.side),
            price=_raw_price(limit_or_stop),
            quantity=_raw_quantity(order.quantity),
            client_order_id=order.client_order_id,
            details={**details, **_decimals(equity_fraction=order.equity_fraction)},
        )

    def fill(self, fill: OrderFilled) -> StrategyLogRow:
        return self._row(
            "fill",
            fill.ts_event,
            side=int(fill.side),
            price=price_to_raw(fill.price),  # the exchange quantizes fill prices to 1e-9
            quantity=quantity_to_raw(fill.quantity),  # and quantities to 1e-8
            client_order_id=fill.client_order_id,
            fee=fill.fee,
            details={"liquidity": fill.liquidity.value},
        )

    def reject(self, rejected: OrderRejected, stage: str) -> StrategyLogRow:
        return self._row(
            "reject",
            rejected.ts_event,
            client_order_id=rejected.client_order_id,
            details={"reason": rejected.reason, "stage": stage},
        )

    def state(
        self,
        ts_event: int,
        *,
        reason: str,
        cash: Decimal,
        positions: dict[InstrumentId, Decimal],
        equity: Decimal,
        realized_pnl: Decimal,
        initial_capital: Decimal,
        last_trade: tuple[int, int] | None,
        clock_ns: int | None,
        extra: dict[str, Any] | None = None,
    ) -> StrategyLogRow:
        return self._row(
            "state",
            ts_event,
            cash=cash,
            position=positions.get(self.instrument, Decimal(0)),
            equity=equity,
            realized_pnl=realized_pnl,
            details={
                "reason": reason,
                "positions": [
                    [instrument.exchange, instrument.symbol, format_decimal(quantity)]
                    for instrument, quantity in sorted(positions.items())
                ],
                "initial_capital": format_decimal(initial_capital),
                "last_trade": list(last_trade) if last_trade is not None else None,
                "clock_ns": clock_ns,
                **(extra or {}),
            },
        )


class LoggedBook(msgspec.Struct, frozen=True, kw_only=True):
    """What the log says about one strategy's account, for a restart (see the module docs)."""

    run_id: str | None  # the session that wrote the last state row
    strategy_hash: str  # the hash of the strategy that wrote it
    initial_capital: Decimal  # the capital the book started with
    cash: Decimal
    positions: dict[InstrumentId, Decimal]
    fills: list[OrderFilled]  # the book's fills, oldest first
    last_trade: tuple[int, int] | None  # the last trade processed: (ts_event, trade_id)
    clock_ns: int | None
    last_order_number: int  # client order ids continue after O-<this>
    open_orders: list[str]  # ordered but neither filled nor rejected: the session died


def read_book(store: TickStore, strategy_id: str, account_id: str) -> LoggedBook | None:
    """The book of ``strategy_id`` on ``account_id`` from the log; None if it has none.

    Synchronous (run it in a thread from async code). Reads the order, fill, reject and state
    rows of the strategy and account: a few per trade the strategy made.
    """
    rows = store.read_strategy_log(
        strategy_id, account_id, events=("order", "fill", "reject", "state")
    )
    states = [index for index, row in enumerate(rows) if row.event == "state"]
    if not states:
        return None
    last = rows[states[-1]]
    starts = [i for i in states if rows[i].details.get("reason") == START]
    first = starts[-1] if starts else -1  # the book's start row; every fill if none is logged
    fills = [_filled(row) for row in rows[first + 1 :] if row.event == "fill"]
    closed = {row.client_order_id for row in rows if row.event in ("fill", "reject")}
    open_orders = [
        row.client_order_id
        for row in rows
        if row.event == "order" and row.client_order_id not in closed and row.client_order_id
    ]
    details = last.details
    initial = details.get("initial_capital")
    last_trade = details.get("last_trade")
    return LoggedBook(
        run_id=last.run_id,
        strategy_hash=last.strategy_hash,
        initial_capital=(Decimal(initial) if initial is not None else _cash(rows[max(first, 0)])),
        cash=_cash(last),
        positions=_positions(last),
        fills=fills,
        last_trade=(int(last_trade[0]), int(last_trade[1])) if last_trade else None,
        clock_ns=details.get("clock_ns"),
        last_order_number=max((_order_number(row) for row in rows), default=0),
        open_orders=open_orders,
    )


# -- conversions -----------------------------------------------------------------------------


def _cash(row: StrategyLogRow) -> Decimal:
    return row.cash if row.cash is not None else Decimal(0)


def _positions(row: StrategyLogRow) -> dict[InstrumentId, Decimal]:
    listed = row.details.get("positions")
    if listed is None:  # a state row of another writer: the row's own instrument only
        held = row.position or Decimal(0)
        return {InstrumentId(row.exchange, row.symbol): held} if held else {}
    return {InstrumentId(e, s): Decimal(q) for e, s, q in listed if Decimal(q)}


def _filled(row: StrategyLogRow) -> OrderFilled:
    """A logged fill as the event the portfolio books."""
    if row.side is None or row.price is None or row.quantity is None:
        raise OutOfRangeError(f"strategy log row {row.id}: a fill without side, price or size")
    return OrderFilled(
        client_order_id=row.client_order_id or "",
        account_id=row.account_id,
        strategy_id=row.strategy_id,
        instrument=InstrumentId(row.exchange, row.symbol),
        side=Side(row.side),
        quantity=quantity_from_raw(row.quantity),
        price=price_from_raw(row.price),
        fee=row.fee if row.fee is not None else Decimal(0),
        liquidity=Liquidity(row.details.get("liquidity", Liquidity.TAKER.value)),
        ts_event=row.ts_event,
    )


def _order_number(row: StrategyLogRow) -> int:
    client_id = row.client_order_id or ""
    digits = client_id.removeprefix(_ORDER_PREFIX)
    return int(digits) if client_id.startswith(_ORDER_PREFIX) and digits.isdigit() else 0


def _raw_quantity(value: Decimal | None) -> int | None:
    """A quantity as the table's scaled integer; None when absent or not representable (the
    exchange then rejects the order and says why)."""
    try:
        return None if value is None else quantity_to_raw(value)
    except OutOfRangeError:
        return None


def _raw_price(value: Decimal | None) -> int | None:
    try:
        return None if value is None else price_to_raw(value)
    except OutOfRangeError:
        return None


def _decimals(**values: Decimal | None) -> dict[str, str]:
    return {name: format_decimal(value) for name, value in values.items() if value is not None}
