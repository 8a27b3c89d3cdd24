"""Wiring of a paper-trading session from its configuration and the log: the strategy and
its tap, the simulated exchange with the account carried over from a restart, the engine in
live mode with the book replayed, the journal and the log writer.

Nothing here trades; ``ticklane.live.paper.PaperTrader.resume`` builds a session with
``build_session`` and drives it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import msgspec

from ticklane.backtest.engine import FILL_CHOICES, BacktestConfig, BacktestEngine
from ticklane.backtest.portfolio import Portfolio
from ticklane.bars.events import BarData
from ticklane.config.accounts import AccountsConfig
from ticklane.config.settings import PaperTradingConfig
from ticklane.core.errors import BadDataError, ConfigError
from ticklane.core.identifiers import InstrumentId
from ticklane.live.journal import LoggedBook, PaperJournal, read_book
from ticklane.live.strategy_log import StrategyLogWriter
from ticklane.live.tap import SignalTap
from ticklane.sim.exchange import SimulatedExchange
from ticklane.sim.fills import FeeModel, FillModel, SlippageModel
from ticklane.storage.base import TickStore
from ticklane.strategy.base import Strategy
from ticklane.strategy.registry import create_strategy, strategy_hash
from ticklane.strategy.signal import Signal

log = logging.getLogger(__name__)

PAPER_ACCOUNT: Final = "PAPER"
"""The account id when no accounts configuration is given: one account holding
``[paper_trading].initial_capital``."""

FILL: Final = "next-tick"  # live orders fill at the next trade, as in a default backtest
_NEVER: Final = 2**63 - 1  # a live session has no end


class PaperOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How a paper trader trades, reports and logs.

    Options:
        maker_fee_bps, taker_fee_bps: fees in basis points (default 10, as the backtest).
        slippage_bps: taker slippage in basis points (default 0).
        currency: the account's currency when no accounts configuration is given.
        report_every_secs: seconds of clock between two status lines (>= 1).
        warmup_secs: seconds of stored trades before the start (or the restart) replayed to
            the strategy, its decisions dropped, so its indicators are ready (0: none).
        log_batch_rows, log_flush_interval, log_retry_delay, log_attempts,
            log_max_pending_rows: the strategy-log writer's options
            (``ticklane.live.strategy_log.StrategyLogWriter``).
    """

    maker_fee_bps: Decimal = Decimal(10)
    taker_fee_bps: Decimal = Decimal(10)
    slippage_bps: Decimal = Decimal(0)
    currency: str = "USDT"
    report_every_secs: int = 60
    warmup_secs: int = 0
    log_batch_rows: int = 500
    log_flush_interval: float = 1.0
    log_retry_delay: float = 1.0
    log_attempts: int = 3
    log_max_pending_rows: int = 100_000

    def __post_init__(self) -> None:
        if self.report_every_secs < 1:
            raise BadDataError(
                f"report_every_secs: {self.report_every_secs} is below 1", field="report_every_secs"
            )
        if self.warmup_secs < 0:
            raise BadDataError(f"warmup_secs: {self.warmup_secs} is negative", field="warmup_secs")

    def fill_model(self) -> FillModel:
        """The fills of a default backtest (next trade), with these fees and slippage."""
        return FillModel(
            policy=FILL_CHOICES[FILL],
            fees=FeeModel(maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps),
            slippage=SlippageModel(slippage_bps=self.slippage_bps),
        )


def build_exchange(
    accounts: AccountsConfig, account_id: str, fill_model: FillModel, book: LoggedBook | None
) -> SimulatedExchange:
    """The simulated exchange of ``accounts``; with a logged ``book``, the strategy's account
    holds the book's cash and positions instead of its configured balance."""
    if book is None:
        return SimulatedExchange(fill_model).with_accounts_config(accounts)
    exchange = SimulatedExchange(fill_model).with_accounts_config(
        _with_balance(accounts, account_id, book.cash)
    )
    account = exchange.account(account_id)
    for instrument, quantity in sorted(book.positions.items()):
        # The position was paid for before the restart: it comes back at no cost.
        account.settle_buy(instrument, quantity, Decimal(0))
    return exchange


def _with_balance(accounts: AccountsConfig, account_id: str, cash: Decimal) -> AccountsConfig:
    """``accounts`` with ``account_id`` starting at ``cash`` (routing unchanged)."""
    if accounts.default.id == account_id:
        default = accounts.default.model_copy(update={"initial_balance": cash})
        return accounts.model_copy(update={"default": default})
    simulation = tuple(
        spec.model_copy(update={"initial_balance": cash}) if spec.id == account_id else spec
        for spec in accounts.simulation
    )
    return accounts.model_copy(update={"simulation": simulation})


def replay_book(book: LoggedBook, currency: str) -> Portfolio:
    """The book's portfolio (FIFO lots, realized P&L, closed trades): its logged fills applied
    again, in order, from its starting capital. Warns when the result differs from the last
    logged state (fill rows the writer had to give up): the account then follows the state."""
    portfolio = Portfolio(book.initial_capital, currency)
    for fill in book.fills:
        portfolio.apply_fill(fill)
    held = {instrument: p.quantity for instrument, p in portfolio.positions.items()}
    if portfolio.cash != book.cash or held != book.positions:
        log.warning(
            "strategy log: the %d fills logged since the book started give cash %s and "
            "positions %s, the last state row says %s and %s; some rows were not stored: the "
            "account continues from the state row, P&L from the fills",
            len(book.fills),
            portfolio.cash,
            held,
            book.cash,
            book.positions,
        )
    return portfolio


@dataclass(frozen=True, slots=True)
class SessionParts:
    """What ``build_session`` makes: the engine (live mode, tap as its strategy, callbacks not
    yet set), the journal, the started log writer, the logged book continued (None: a new
    book), the book's starting capital, and the orders an earlier session left open."""

    engine: BacktestEngine
    tap: SignalTap
    journal: PaperJournal
    writer: StrategyLogWriter
    book: LoggedBook | None
    initial_capital: Decimal
    abandoned_orders: list[str]


async def build_session(
    store: TickStore,
    instrument: InstrumentId,
    *,
    paper: PaperTradingConfig,
    now_ns: int,
    accounts: AccountsConfig | None,
    strategy: str | Strategy | None,
    params: Mapping[str, object] | None,
    options: PaperOptions,
    fresh: bool,
) -> SessionParts:
    """The parts of a session (see ``PaperTrader.resume`` for the arguments). Reads the log
    in a worker thread; starts the log writer's task in the running loop."""
    chosen = _strategy(strategy if strategy is not None else paper.strategy, params)
    accounts = accounts or AccountsConfig.with_default(
        PAPER_ACCOUNT, options.currency, paper.initial_capital
    )
    account_id = chosen.account_id() or accounts.account_for_strategy(chosen.name)
    logged = await asyncio.to_thread(read_book, store, chosen.name, account_id)
    book = None if fresh else logged
    exchange = build_exchange(accounts, account_id, options.fill_model(), book)
    config = BacktestConfig(
        instrument=instrument,
        start_ns=now_ns,
        end_ns=_NEVER,
        initial_capital=paper.initial_capital,  # the accounts' balances are what count
        fill=FILL,
        maker_fee_bps=options.maker_fee_bps,
        taker_fee_bps=options.taker_fee_bps,
        slippage_bps=options.slippage_bps,
        accounts=accounts,
    )
    tap = SignalTap.around(chosen, _no_signal)
    hash_ = strategy_hash(chosen)
    # A carried-over account may hold no cash at all (all of it in the position), which the
    # portfolio the engine makes from the account's cash refuses: the engine starts on the
    # configured accounts and gets the carried-over exchange and the replayed book after.
    engine = BacktestEngine(
        config, tap, hash_, live=True, exchange=exchange if book is None else None
    )
    if engine.account_id != account_id:
        raise ConfigError(f"paper trading: account {engine.account_id} is not {account_id}")
    initial = exchange.account(account_id).cash
    if book is not None:
        engine.exchange = exchange
        engine.portfolio = replay_book(book, exchange.account(account_id).currency)
        initial = book.initial_capital
    if logged is not None:
        # The engine numbers its orders O-00000001, ...; go on after the last one logged (a
        # fresh book too), so a client order id names one order of the account in the log.
        # The engine has no public setter for it.
        engine._order_seq = logged.last_order_number
    journal = PaperJournal(
        strategy_id=chosen.name,
        strategy_hash=hash_,
        account_id=account_id,
        instrument=instrument,
        run_id=uuid.uuid4().hex,
    )
    writer = StrategyLogWriter(
        store,
        batch_rows=options.log_batch_rows,
        flush_interval=options.log_flush_interval,
        max_pending_rows=options.log_max_pending_rows,
        retry_delay=options.log_retry_delay,
        attempts=options.log_attempts,
    )
    writer.start()
    abandoned = logged.open_orders if logged is not None else []
    return SessionParts(engine, tap, journal, writer, book, initial, abandoned)


def _strategy(spec: str | Strategy, params: Mapping[str, object] | None) -> Strategy:
    if isinstance(spec, Strategy):
        if params:
            raise BadDataError("paper trading: parameters go with a strategy name, not an object")
        return spec
    return create_strategy(spec, params or {})


def _no_signal(_signal: Signal, _bar: BarData) -> None:
    pass  # the trader sets the tap's real handler
