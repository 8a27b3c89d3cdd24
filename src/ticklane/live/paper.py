"""Paper trading: one strategy trading live trades on the simulated exchange, every decision
and fill written to ``live_strategy_log``, the account carried over restarts.

The wiring is the backtest's, unchanged (``BacktestEngine`` in live mode: the same bar
aggregator, strategy interface, simulated exchange, fill rules and portfolio); only the data
source and the clock differ. Trades come one at a time (``on_trade``) and the clock is checked
every second (``on_clock``, or ``run_clock`` as a task), as the real-time bar driver does, so
over the same trades and clock a paper session trades exactly as the backtest.

A session::

    trader = await PaperTrader.resume(store, instrument, paper=settings.paper_trading,
                                      accounts=..., now_ns=clock.now_ns(), report=print)
    clock_task = asyncio.create_task(trader.run_clock(clock, stop))  # the caller owns it
    ... trader.on_trade(record) for each live TradeRecord ...
    stop.set(); await clock_task
    await trader.close()

Rules of the log (``ticklane.live.journal`` lists the rows):

- Everything one trade (or one clock check) causes is one *unit*: its signals, orders, fills,
  rejects and, when something filled, a ``state`` row with the account after the fills. The
  writer stores a unit in one transaction, so a fill is in the log exactly when the state after
  it is. A crash loses at most the units not yet written; those fills did not happen, as far as
  the next session knows, and nothing is counted twice.
- Rows are numbered per session (``run_id``, ``seq``): a batch written again after a lost
  commit stores nothing twice.
- A session starts with a ``state`` row (reason ``start`` for a new book, ``resume`` for one
  carried over) and ends with one (``stop``); an order still open at the stop is canceled and
  logged as a ``reject``; one left open by a session that died is logged as a ``reject`` by the
  next session. A strategy that raises stops the trader, with a ``state`` row (``failed``)
  naming the event.

Restart (``resume``): the account is the last ``state`` row's cash and positions; the book
(lots, realized P&L, trades) the book's ``fill`` rows applied again; client order ids continue
after the last one logged; trades up to the last one processed are skipped. With
``warmup_secs`` the strategy first sees that much of the stored trades before the restart
(its decisions dropped), so it decides on live trades as the uninterrupted session would.
Open orders are not carried over. One trader per strategy and account at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

from ticklane.backtest.engine import StrategyFailed
from ticklane.backtest.result import BacktestResult, RunError
from ticklane.bars.aggregator import EventFailed
from ticklane.bars.clock import Clock
from ticklane.bars.events import BarData
from ticklane.config.accounts import AccountsConfig
from ticklane.config.settings import PaperTradingConfig
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import format_decimal, price_from_raw
from ticklane.core.identifiers import InstrumentId
from ticklane.core.records import TradeRecord
from ticklane.core.time import NANOS_PER_SECOND
from ticklane.live.journal import RESUME, START, LoggedBook
from ticklane.live.paper_setup import FILL, PaperOptions, SessionParts, build_session
from ticklane.live.paper_status import PaperStatus, describe
from ticklane.sim.account import exact
from ticklane.sim.events import Order, OrderAccepted, OrderFilled, OrderRejected
from ticklane.storage.base import StrategyLogRow, TickStore
from ticklane.strategy.base import Strategy
from ticklane.strategy.signal import Action, Signal

__all__ = ["PaperOptions", "PaperStatus", "PaperTrader"]

log = logging.getLogger(__name__)

_WARMUP_CHUNK: Final = 100_000


class PaperTrader:
    """One strategy paper-trading one instrument (see the module docstring).

    Build it with ``resume``. ``on_trade``, ``on_clock`` and ``status`` are synchronous and
    never raise for what the strategy or the store do; call them from the event loop that
    ``resume`` ran in (the log writer's task lives there).
    """

    def __init__(
        self,
        parts: SessionParts,
        *,
        options: PaperOptions,
        now_ns: int,
        report: Callable[[str], None] | None = None,
    ) -> None:
        """Use ``resume``; this wires the parts it has made."""
        engine = parts.engine
        self.instrument = engine.config.instrument
        self.account_id = engine.account_id
        self._engine = engine
        self._tap = tap = parts.tap
        self._journal = parts.journal
        self._writer = parts.writer
        self._account = engine.exchange.account(engine.account_id)
        self._initial_capital = parts.initial_capital
        self._report = report if report is not None else _log_report
        self._report_every_ns = options.report_every_secs * NANOS_PER_SECOND
        self._clock_ns = now_ns
        self._last_report_ns = now_ns
        self._last_trade: tuple[int, int] | None = None
        self._last_price_raw: int | None = None
        self._skip_through: tuple[int, int] | None = None  # trades processed before a restart
        self._unit: list[StrategyLogRow] = []  # the rows of the current trade or clock check
        self._filled = False
        self._notes: list[str] = []  # signals and fills of the current call, for the report
        self._signals = self._fills = self._rejected = 0
        self._ticks = self._ignored = self._skipped = 0
        self._error: RunError | None = None
        self._running = True
        self._closed = False
        tap.on_signal = self._on_signal
        engine.on_order = self._on_order
        engine.on_fill = self._on_fill

    # -- building ----------------------------------------------------------------------------

    @classmethod
    async def resume(
        cls,
        store: TickStore,
        instrument: InstrumentId,
        *,
        paper: PaperTradingConfig,
        now_ns: int,
        accounts: AccountsConfig | None = None,
        strategy: str | Strategy | None = None,
        params: Mapping[str, object] | None = None,
        options: PaperOptions | None = None,
        report: Callable[[str], None] | None = None,
        fresh: bool = False,
    ) -> PaperTrader:
        """Start paper trading, continuing the book the log holds for the strategy's account.

        Args:
            store: the tick store holding ``live_strategy_log`` (and the trades to warm up on).
            instrument: the only instrument traded; other trades are ignored (counted).
            paper: ``[paper_trading]``: the strategy's name and the starting capital.
            now_ns: the clock now (UTC ns): the session starts here.
            accounts: accounts and routing (as the backtest's ``--accounts``); None: one
                account ``PAPER`` with ``paper.initial_capital``.
            strategy: a built-in's name, a ``.py`` file or a ready ``Strategy``, instead of
                ``paper.strategy``; ``params`` are its parameters (not with a ready one).
            options: fees, reporting, warm-up, log writer (``PaperOptions``).
            report: called with each status line (on signals, fills and every
                ``report_every_secs``); by default they go to the log.
            fresh: start a new book with the configured capital even if one is logged.

        Raises ``BadDataError`` or ``ConfigError`` for a bad strategy, parameter or account,
        and ``StorageError`` when the log cannot be read: nothing has started then.
        """
        options = options if options is not None else PaperOptions()
        parts = await build_session(
            store,
            instrument,
            paper=paper,
            now_ns=now_ns,
            accounts=accounts,
            strategy=strategy,
            params=params,
            options=options,
            fresh=fresh,
        )
        trader = cls(parts, options=options, now_ns=now_ns, report=report)
        await trader._begin(
            store, parts.book, parts.abandoned_orders, options.warmup_secs * NANOS_PER_SECOND
        )
        return trader

    async def _begin(
        self, store: TickStore, book: LoggedBook | None, abandoned: list[str], warmup_ns: int
    ) -> None:
        """Write the session's first rows, then warm up."""
        self._engine.start()
        now = self._clock_ns
        extra: dict[str, object] = {"fill": FILL, "strategy_params": _plain(self._tap.params)}
        if book is not None:
            self._skip_through = book.last_trade
            extra["resumed_from"] = book.run_id
            if book.strategy_hash != self._journal.strategy_hash:
                extra["previous_strategy_hash"] = book.strategy_hash
                log.warning(
                    "paper %s: the strategy changed since the last session (hash %s, now %s)",
                    self._journal.strategy_id,
                    book.strategy_hash,
                    self._journal.strategy_hash,
                )
        for client_order_id in abandoned:
            why = "abandoned: the session that sent it ended before it filled"
            dropped = OrderRejected(client_order_id, self.account_id, why, now)
            self._unit.append(self._journal.reject(dropped, "restart"))
        reason = START if book is None else RESUME
        self._unit.append(self._state_row(now, reason, extra))
        self._flush_unit()
        if warmup_ns > 0:
            await self._warm_up(store, now - warmup_ns)
        self._report(f"{reason}: " + self.status_line())

    async def _warm_up(self, store: TickStore, from_ns: int) -> None:
        """Replay stored trades before now (and up to the last one processed before a restart)
        to the strategy, its decisions dropped: its indicators and the open bar are as a
        session running all along would have them."""
        now, through = self._clock_ns, self._skip_through
        end = now if through is None else max(now, through[0] + 1)
        if end <= from_ns:
            return
        chunks = store.stream_trades(
            self.instrument, max(from_ns, 0), end, chunk_rows=_WARMUP_CHUNK
        )
        self._tap.muted = True
        try:
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                data = chunk.data
                ts, ids = data["ts_event"], data["trade_id"]
                keep = ts < now
                if through is not None:  # and what the last session processed, however late
                    keep |= (ts < through[0]) | ((ts == through[0]) & (ids <= through[1]))
                data = data[keep]
                if len(data) == 0:
                    continue
                # Straight to the aggregator: no order can be open while warming up.
                self._engine.aggregator.on_trades(data)
                last = data[-1]
                self._last_trade = (int(last["ts_event"]), int(last["trade_id"]))
                self._last_price_raw = int(last["price"])
            self._engine.advance_to(now)
        except (EventFailed, StrategyFailed) as failed:
            self._fail(_run_error(failed), now)
        finally:
            self._tap.muted = False
        if self._last_trade is not None and (
            self._skip_through is None or self._last_trade > self._skip_through
        ):
            self._skip_through = self._last_trade

    # -- live --------------------------------------------------------------------------------

    def on_trade(self, record: TradeRecord) -> None:
        """One live trade. Other instruments' trades and trades processed before a restart
        are skipped; a strategy that raises stops the trader (see ``error``)."""
        if record.symbol != self.instrument.symbol or record.exchange != self.instrument.exchange:
            self._ignored += 1
            return
        if not self._running:
            return
        key = (record.ts_event, record.trade_id)
        if self._skip_through is not None:
            if key <= self._skip_through:
                self._skipped += 1
                return
            self._skip_through = None  # past the restart point: no more comparisons
        self._ticks += 1
        self._last_trade = key
        self._last_price_raw = record.price
        try:
            self._engine.on_trade(
                record.ts_event, record.price, record.quantity, record.side, record.trade_id
            )
        except (EventFailed, StrategyFailed) as failed:
            self._fail(_run_error(failed), record.ts_event)
        except Exception as exc:  # a bug of ours must not take the live pipeline down
            log.exception("paper %s: stopped by an internal error", self._journal.strategy_id)
            self._fail(_internal_error(exc, record.ts_event, record.trade_id), record.ts_event)
        self._end_call(record.ts_event)

    def on_clock(self, now_ns: int) -> None:
        """The clock reached ``now_ns``: close the bars it passed (their decisions are made
        now), and print the status every ``report_every_secs``. Call it every second."""
        self._clock_ns = now_ns
        if self._running:
            try:
                self._engine.advance_to(now_ns)
            except (EventFailed, StrategyFailed) as failed:
                self._fail(_run_error(failed), now_ns)
            except Exception as exc:
                log.exception("paper %s: stopped by an internal error", self._journal.strategy_id)
                self._fail(_internal_error(exc, now_ns, None), now_ns)
            self._end_call(now_ns)
        if now_ns - self._last_report_ns >= self._report_every_ns:
            self._last_report_ns = now_ns
            self._report(self.status_line())

    async def run_clock(
        self, clock: Clock, stop: asyncio.Event, interval_ns: int = NANOS_PER_SECOND
    ) -> None:
        """Call ``on_clock`` with ``clock``'s time now and every ``interval_ns`` until ``stop``
        is set (the caller owns the task, as with ``RealtimeDriver.run_clock``)."""
        if interval_ns <= 0:
            raise BadDataError(f"clock interval {interval_ns} ns is not positive")
        timeout = interval_ns / NANOS_PER_SECOND  # asyncio's unit, at the edge only
        while True:
            self.on_clock(clock.now_ns())
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await stop.wait()

    async def close(self, now_ns: int | None = None) -> PaperStatus:
        """Stop: cancel open orders, write the last state row, flush the log; the final status."""
        if self._closed:
            return self.status()
        self._closed = True
        if now_ns is not None:
            self._clock_ns = now_ns
        ts = self._clock_ns
        exchange = self._engine.exchange
        for order in exchange.open_orders():
            exchange.cancel_order(order.client_order_id, ts)
            reason = "canceled: paper trading stopped before it filled"
            canceled = OrderRejected(order.client_order_id, self.account_id, reason, ts)
            self._unit.append(self._journal.reject(canceled, "stop"))
        self._running = False
        self._unit.append(self._state_row(ts, "stop"))
        self._flush_unit()
        await self._writer.close()
        self._report("stop: " + self.status_line())
        return self.status()

    # -- what the engine reports -------------------------------------------------------------

    def _on_signal(self, signal: Signal, bar_data: BarData) -> None:
        price = bar_data.tick_price_raw if bar_data.has_tick else bar_data.close_raw
        details = {
            "bar_open_time": bar_data.metadata.open_time,
            "bar_closed": bar_data.metadata.is_bar_closed,
            "tick_trade_id": bar_data.tick_trade_id if bar_data.has_tick else None,
        }
        self._unit.append(self._journal.signal(signal, bar_data.ts_event, price, details))
        self._signals += 1
        action = "BUY" if signal.action is Action.BUY else "SELL"
        self._notes.append(f"signal {action}" + (f" ({signal.reason})" if signal.reason else ""))

    def _on_order(self, order: Order, outcome: OrderAccepted | OrderRejected) -> None:
        self._unit.append(self._journal.order(order, outcome))
        if isinstance(outcome, OrderRejected):
            self._unit.append(self._journal.reject(outcome, "submit"))
            self._rejected += 1
            self._notes.append(f"{order.client_order_id} rejected: {outcome.reason}")

    def _on_fill(self, event: OrderFilled | OrderRejected) -> None:
        if isinstance(event, OrderFilled):
            self._unit.append(self._journal.fill(event))
            self._fills += 1
            self._filled = True
            self._notes.append(
                f"{event.client_order_id} filled: {event.side.name} "
                f"{format_decimal(event.quantity)} at {format_decimal(event.price)}"
            )
        else:
            self._unit.append(self._journal.reject(event, "fill"))
            self._rejected += 1
            self._notes.append(f"{event.client_order_id} rejected: {event.reason}")

    def _end_call(self, ts: int) -> None:
        """After a trade or clock check: the state after its fills, its unit to the log, and a
        status line if it decided or filled anything."""
        if self._filled:
            self._filled = False
            # After the engine call, so the portfolio has booked the fills too.
            self._unit.append(self._state_row(ts, "fill"))
        self._flush_unit()
        if self._notes:
            notes, self._notes = self._notes, []
            self._report("; ".join(notes) + " | " + self.status_line())

    def _fail(self, error: RunError, ts: int) -> None:
        self._error = error
        self._running = False
        log.error("paper %s stopped: %s", self._journal.strategy_id, describe(error))
        if self._filled:
            self._filled = False
            self._unit.append(self._state_row(ts, "fill"))
        self._unit.append(self._state_row(ts, "failed", {"error": msgspec.to_builtins(error)}))
        self._flush_unit()
        notes, self._notes = self._notes, []
        self._report("; ".join([*notes, "stopped: " + self.status_line()]))

    def _flush_unit(self) -> None:
        if self._unit:
            self._writer.submit(self._unit)
            self._unit = []

    # -- status ------------------------------------------------------------------------------

    def _state_row(
        self, ts: int, reason: str, extra: Mapping[str, object] | None = None
    ) -> StrategyLogRow:
        account = self._account
        return self._journal.state(
            ts,
            reason=reason,
            cash=account.cash,
            positions=dict(account.positions()),
            equity=self._equity(),
            realized_pnl=self._engine.portfolio.realized_pnl,
            initial_capital=self._initial_capital,
            last_trade=self._last_trade if self._last_trade is not None else self._skip_through,
            clock_ns=self._clock_ns,
            extra=dict(extra or {}),
        )

    def _equity(self) -> Decimal:
        """Cash plus the positions at the last trade price (the portfolio's prices, the last
        fill or bar close, before the first trade of the session)."""
        account = self._account
        if self._last_price_raw is None:
            return account.cash if not account.positions() else self._engine.portfolio.equity
        price = price_from_raw(self._last_price_raw)
        with exact():
            total = account.cash
            for instrument, quantity in account.positions().items():
                total += quantity * (
                    price
                    if instrument == self.instrument
                    else self._engine.exchange.last_price(instrument) or Decimal(0)
                )
            return total

    @property
    def error(self) -> RunError | None:
        """Why the strategy stopped (the event it failed on), or None."""
        return self._error

    @property
    def running(self) -> bool:
        return self._running

    def snapshot(self) -> BacktestResult:
        """The engine's result so far: the book's trades (across restarts), this session's
        ticks, and an equity curve marked at this session's bar closes (warm-up ones too)."""
        return self._engine.snapshot()

    def status(self) -> PaperStatus:
        account = self._account
        equity = self._equity()
        realized = self._engine.portfolio.realized_pnl
        stats = self._writer.stats
        with exact():
            unrealized = equity - self._initial_capital - realized
        return PaperStatus(
            clock_ns=self._clock_ns,
            strategy=self._journal.strategy_id,
            strategy_hash=self._journal.strategy_hash,
            account_id=self.account_id,
            instrument=self.instrument,
            currency=account.currency,
            initial_capital=self._initial_capital,
            cash=account.cash,
            position=account.position(self.instrument),
            equity=equity,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            last_price=(
                price_from_raw(self._last_price_raw) if self._last_price_raw is not None else None
            ),
            trades=len(self._engine.portfolio.trades),
            signals=self._signals,
            fills=self._fills,
            rejected=self._rejected,
            open_orders=self._engine.exchange.open_order_count,
            ticks=self._ticks,
            ignored=self._ignored,
            skipped=self._skipped,
            log_written=stats.written,
            log_pending=stats.pending,
            log_failed=stats.failed,
            log_dropped=stats.dropped,
            running=self._running,
            error=self._error,
        )

    def status_line(self) -> str:
        """One line: price, cash, position, equity, P&L and counts (money to the cent)."""
        return self.status().line()


# -- helpers -----------------------------------------------------------------------------------


def _log_report(line: str) -> None:
    log.info("%s", line)


def _run_error(failed: EventFailed | StrategyFailed) -> RunError:
    """Where and why the strategy failed: the event it was given and what it raised."""
    if isinstance(failed, StrategyFailed):
        return failed.error
    cause, event = failed.__cause__, failed.event
    return RunError(
        message=f"{type(cause).__name__}: {cause}",
        ts_event=event.ts_event,
        bar_open_time=event.open_time,
        tick_trade_id=event.tick_trade_id if event.has_tick else None,
    )


def _internal_error(exc: Exception, ts: int, trade_id: int | None) -> RunError:
    message = f"internal error: {type(exc).__name__}: {exc}"
    return RunError(message=message, ts_event=ts, bar_open_time=ts, tick_trade_id=trade_id)


def _plain(params: Mapping[str, object]) -> dict[str, object]:
    """Strategy parameters as JSON-friendly values (decimals and bar types as text)."""
    return {
        name: value if isinstance(value, int | float | str | bool) or value is None else str(value)
        for name, value in sorted(params.items())
    }
