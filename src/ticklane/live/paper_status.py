"""``PaperStatus``: where a paper trader stands, and the status line it prints."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import msgspec

from ticklane.backtest.result import RunError
from ticklane.core.fixed import format_decimal
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import format_ns

_CENTS: Final = Decimal("0.01")


class PaperStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where a paper trader stands. Money in the account's ``currency``, exact.

    ``equity`` values the positions at the last trade price; ``unrealized_pnl`` is
    ``equity - initial_capital - realized_pnl``. ``trades`` counts the book's closed round
    trips (across restarts); ``signals``, ``fills``, ``rejected``, ``ticks`` (trades of the
    instrument traded), ``ignored`` (other instruments) and ``skipped`` (trades processed
    before a restart) count this session. ``log_*`` are the log writer's row counts.
    """

    clock_ns: int
    strategy: str
    strategy_hash: str
    account_id: str
    instrument: InstrumentId
    currency: str
    initial_capital: Decimal
    cash: Decimal
    position: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    last_price: Decimal | None
    trades: int
    signals: int
    fills: int
    rejected: int
    open_orders: int
    ticks: int
    ignored: int
    skipped: int
    log_written: int
    log_pending: int
    log_failed: int
    log_dropped: int
    running: bool
    error: RunError | None

    def line(self) -> str:
        """One line: price, cash, position, equity, P&L and counts (money to the cent)."""
        price = format_decimal(self.last_price) if self.last_price is not None else "-"
        line = (
            f"paper {self.strategy} {self.instrument} [{self.account_id}] "
            f"{format_ns(self.clock_ns)[:19]}Z price {price} | cash {_money(self.cash)} "
            f"{self.currency} | position {format_decimal(self.position)} | equity "
            f"{_money(self.equity)} | P&L realized {_money(self.realized_pnl, sign=True)} "
            f"unrealized {_money(self.unrealized_pnl, sign=True)} | {self.trades} trades, "
            f"{self.fills} fills, {self.signals} signals"
        )
        if self.log_failed or self.log_dropped:
            line += f" | log: {self.log_failed} rows failed, {self.log_dropped} dropped"
        if self.error is not None:
            line += f" | STOPPED: {describe(self.error)}"
        return line


def describe(error: RunError) -> str:
    """Why and on which event a strategy stopped."""
    where = f"at {format_ns(error.ts_event)} (bar opened {format_ns(error.bar_open_time)}"
    where += f", trade {error.tick_trade_id})" if error.tick_trade_id is not None else ")"
    return f"{error.message} {where}"


def _money(value: Decimal, *, sign: bool = False) -> str:
    rounded = value.quantize(_CENTS)
    return f"{rounded:+f}" if sign else f"{rounded:f}"
