"""The backtest engine: ticks in, a deterministic ``BacktestResult`` out.

Wiring (the same parts paper trading uses, with another clock and data source):

    ticks (chunks) ─▶ BarAggregator ─▶ BarData ─▶ Strategy ─▶ Signal ─▶ SimulatedExchange
                          ▲                                               │ fills
                          └─────────── the next tick fills pending orders ┘─▶ Portfolio

Two run loops, chosen from the strategy's mode:

- per tick (ON_EACH_TICK, ON_PRICE_MOVE, tick-count bars): the engine walks the ticks; before
  a tick reaches the aggregator, it fills orders pending from earlier events, so an order
  decided on a tick fills at the NEXT tick's price (the default fill assumption);
- per bar (ON_CLOSE_BAR on time bars): the aggregator works on whole chunks with numpy and
  calls back only at bar closes; an order decided at a bar close fills at the first tick at or
  after that close, whose position in the chunk the aggregator gives.

Memory stays bounded: ticks arrive in chunks (``TickStore.stream_trades``) and nothing keeps
them. Deterministic: no wall clock, no randomness, no dict-order dependence.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec
import numpy as np

from ticklane.backtest.metrics import compute_metrics
from ticklane.backtest.portfolio import Portfolio
from ticklane.backtest.result import BacktestResult, RunError
from ticklane.bars.aggregator import BAR_COLUMNS, BarAggregator, EventFailed
from ticklane.bars.events import BarData, BarDataMode, BarEvent
from ticklane.config.accounts import AccountsConfig
from ticklane.core.columnar import TRADE_DTYPE, ColumnCopier, TradeArray, TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import PRICE_DECIMALS, format_decimal
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.sim.events import Order, OrderAccepted, OrderFilled, OrderRejected
from ticklane.sim.exchange import SimulatedExchange
from ticklane.sim.fills import FeeModel, FillModel, FillPolicy, SlippageModel
from ticklane.strategy.base import Strategy
from ticklane.strategy.signal import HOLD, Action, Signal

log = logging.getLogger(__name__)

# Enum members bound once: reading one off its class costs 0.1 us on Python 3.11, and the
# order path reads a dozen per order.
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_ACTION_BUY: Final = Action.BUY
_ACTION_HOLD: Final = Action.HOLD

FILL_CHOICES = {
    # The default: a signal is filled at a price the strategy could not know when it decided.
    "next-tick": FillPolicy.NEXT_TICK,
    # OPTIMISTIC: a bar-close signal fills at that bar's close, which it has just seen.
    "bar-close": FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC,
}


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What to backtest and under which assumptions."""

    instrument: InstrumentId
    start_ns: int
    end_ns: int
    initial_capital: Decimal = Decimal("10000")
    currency: str = "USDT"
    fill: str = "next-tick"  # see FILL_CHOICES
    maker_fee_bps: Decimal = Decimal("10")
    taker_fee_bps: Decimal = Decimal("10")
    slippage_bps: Decimal = Decimal("0")
    accounts: AccountsConfig | None = None  # None: one account with initial_capital

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise BadDataError("backtest range: end must be after start", field="end")
        if self.fill not in FILL_CHOICES:
            raise BadDataError(
                f"fill: {self.fill!r} is not one of {', '.join(FILL_CHOICES)}", field="fill"
            )
        if self.initial_capital <= 0:
            raise BadDataError(f"capital: {self.initial_capital} is not positive", field="capital")
        for name in ("maker_fee_bps", "taker_fee_bps", "slippage_bps"):
            if getattr(self, name) < 0:
                raise BadDataError(f"{name}: {getattr(self, name)} is negative", field=name)


class StrategyFailed(Exception):
    """Raised inside the run loop to stop it; carries where the strategy failed."""

    def __init__(self, error: RunError) -> None:
        super().__init__(error.message)
        self.error = error


class BacktestEngine:
    """Runs one strategy over one instrument's ticks (see the module docstring)."""

    def __init__(
        self,
        config: BacktestConfig,
        strategy: Strategy,
        strategy_hash: str,
        *,
        live: bool = False,
        exchange: SimulatedExchange | None = None,
    ) -> None:
        """``live``: trades arrive one at a time (``on_trade``, ``advance_to``: paper trading),
        so every strategy runs on the per-tick loop. ``exchange``: an exchange whose accounts
        carry state from before (a paper-trading restart); by default one built from the
        config."""
        self.config = config
        self.strategy = strategy
        self.strategy_hash = strategy_hash
        self.exchange = exchange if exchange is not None else self._build_exchange()
        self.account_id = self.exchange.resolve_account_id(strategy.name, strategy.account_id())
        account = self.exchange.account(self.account_id)
        self.portfolio = Portfolio(account.cash, account.currency)
        self.bar_type = strategy.preferred_bar_type()
        self.mode = strategy.bar_data_mode()
        self.per_tick = (
            live or self.mode is not BarDataMode.ON_CLOSE_BAR or not self.bar_type.is_time_based
        )
        # Paper trading writes every order and fill to live_strategy_log through these: each
        # submitted order with the exchange's answer, then what the fill step did.
        self.on_order: Callable[[Order, OrderAccepted | OrderRejected], None] | None = None
        self.on_fill: Callable[[OrderFilled | OrderRejected], None] | None = None
        # The strategy is the aggregator's event handler itself (one Python call per event);
        # whatever it returns other than HOLD comes back to _on_signal.
        self.aggregator = BarAggregator(
            config.instrument,
            self.bar_type,
            self.mode,
            strategy.on_bar_data,
            on_result=self._on_signal,
            quiet=HOLD,
            on_close=self._on_close if self.per_tick else self._on_close_per_bar,
        )
        self._optimistic = FILL_CHOICES[config.fill] is FillPolicy.SIGNAL_BAR_CLOSE_OPTIMISTIC
        self._ticks = self._signals = self._orders = self._fills = self._rejected = 0
        self._rejections: Counter[str] = Counter()
        self._order_seq = 0
        # The chunk being worked on (per-bar loop): fills look ahead in it.
        self._columns = ColumnCopier(TRADE_DTYPE, *BAR_COLUMNS)
        self._chunk_ts: Any = np.empty(0, dtype=np.int64)
        self._chunk_price: Any = np.empty(0, dtype=np.int64)
        self._fill_from = 0  # index in the chunk of the first tick not yet offered to orders
        self._closes: list[tuple[int, int]] = []  # bar closes not yet marked in the portfolio
        self._add_close = self._closes.append  # bound once: called at every bar close
        # Whether orders may be open (per-bar loop): set when one is submitted, cleared once the
        # exchange has none, so a bar close without orders does not ask the exchange.
        self._orders_open = self.exchange.has_open_orders
        self._bars_marked = 0  # bar closes already marked
        self._error: RunError | None = None  # where the strategy failed: the run stopped there

    def _build_exchange(self) -> SimulatedExchange:
        config = self.config
        fill_model = FillModel(
            policy=FILL_CHOICES[config.fill],
            fees=FeeModel(maker_fee_bps=config.maker_fee_bps, taker_fee_bps=config.taker_fee_bps),
            slippage=SlippageModel(slippage_bps=config.slippage_bps),
        )
        accounts = config.accounts or AccountsConfig.with_default(
            "BACKTEST", config.currency, config.initial_capital
        )
        return SimulatedExchange(fill_model).with_accounts_config(accounts)

    # -- the run ---------------------------------------------------------------------------

    def run(
        self,
        chunks: Iterable[TradeColumns],
        progress: Callable[[TradeColumns], None] | None = None,
    ) -> BacktestResult:
        """Run over ascending chunks of the configured instrument's ticks in [start, end)."""
        return run_together([self], chunks, progress)[0]

    # -- live (paper trading): trades one at a time -----------------------------------------

    def start(self) -> None:
        """Begin a live run (``run`` does this itself)."""
        self.strategy.reset()

    def on_trade(
        self, ts_event: int, price_raw: int, quantity_raw: int, side: int, trade_id: int
    ) -> None:
        """One live trade (a ``live`` engine). A strategy failure raises ``EventFailed``."""
        self._ticks += 1
        self.aggregator.on_trade(ts_event, price_raw, quantity_raw, side, trade_id)

    def advance_to(self, ts_ns: int) -> None:
        """The live clock reached ``ts_ns``: close the bars it passed."""
        self.aggregator.advance_to(ts_ns)

    def snapshot(self) -> BacktestResult:
        """The result so far (equity marked at the bars closed until now)."""
        return self._result(self._error)

    def _feed(self, chunk: TradeColumns) -> bool:
        """One chunk; False once the strategy has failed (the run then stops)."""
        try:
            self._run_chunk(chunk)
        except (EventFailed, StrategyFailed) as failed:
            self._fail(failed)
            assert self._error is not None
            self._ticks -= len(chunk.data) - _ticks_until(chunk.data, self._error)
            return False
        return True

    def _finish(self) -> BacktestResult:
        if self._error is None:
            try:  # the range's end closes the bars it has passed (see BarAggregator)
                self.aggregator.advance_to(self.config.end_ns)
            except (EventFailed, StrategyFailed) as failed:
                self._fail(failed)
        return self._result(self._error)

    def _fail(self, failed: EventFailed | StrategyFailed) -> None:
        self._error = _failure(failed) if isinstance(failed, EventFailed) else failed.error
        log.warning("strategy %s failed: %s", self.strategy.name, self._error.message)

    def _run_chunk(self, chunk: TradeColumns) -> None:
        data = chunk.data
        if len(data) == 0:
            return
        self._ticks += len(data)
        if self.per_tick:
            # The aggregator's per-tick loop calls _fill_tick before each tick while orders are
            # open (see BarAggregator.before_tick): after the closes the tick caused, before
            # the tick's own event.
            self.aggregator.on_trades(data)
            return
        # Contiguous copies once per chunk, shared by the aggregator and the fills: numpy's
        # searches and reductions would copy a strided column view again for every call.
        ts, price, quantity = self._columns.copy(data)
        self._chunk_ts, self._chunk_price = ts, price
        self._fill_from = 0
        self.aggregator.on_trade_columns(ts, price, quantity, data[-1].item())
        # Orders still open after the chunk's last bar close may fill on its remaining ticks.
        self._offer_ticks(len(ts))

    def _fill_tick(self, ts: int, price_raw: int) -> None:
        # Fill assumption: orders decided on earlier ticks, or on the bar closes this tick just
        # caused, fill at this tick's price, the first the strategy had not seen.
        price = Decimal(int(price_raw)).scaleb(-PRICE_DECIMALS)  # price_from_raw, exact
        self._apply(self.exchange.on_trade(ts, price, self.config.instrument))
        if not self.exchange.open_order_count:
            self.aggregator.before_tick = None

    def _offer_ticks(self, end: int) -> None:
        """Offer the chunk's ticks from ``_fill_from`` up to position ``end`` to open orders."""
        exchange = self.exchange
        ts_array, price_array = self._chunk_ts, self._chunk_price
        index = self._fill_from
        instrument = self.config.instrument
        while exchange.has_open_orders and index < end:
            # price_from_raw, exact; .item() gives the Python int int() would
            price = Decimal(price_array.item(index)).scaleb(-PRICE_DECIMALS)
            self._apply(exchange.on_trade(ts_array.item(index), price, instrument))
            index += 1
        self._orders_open = exchange.has_open_orders
        self._fill_from = max(self._fill_from, index if self._orders_open else end)

    # -- events ----------------------------------------------------------------------------

    def _on_close(self, bar_data: BarData) -> None:
        """Every bar close of the per-tick loop: equity is marked (points built in batches)."""
        self._add_close((bar_data.ts_event, bar_data.close_raw))

    def _on_close_per_bar(self, bar_data: BarData) -> None:
        """Every bar close of the per-bar loop, before the strategy sees it."""
        if self._orders_open:
            # Orders from earlier closes fill on ticks inside the bar just closed.
            self._offer_ticks(self.aggregator.chunk_position)
        self._add_close((bar_data.ts_event, bar_data.close_raw))

    def _on_signal(self, signal: object, bar_data: BarData) -> None:
        """What the strategy returned for ``bar_data``, when it was not ``HOLD``."""
        if not isinstance(signal, Signal):
            message = f"on_bar_data returned {signal!r}, not a Signal"
            raise StrategyFailed(_failure_at(message, bar_data.snapshot()))
        if signal.action is not _ACTION_HOLD:
            self._submit(signal, bar_data)

    def _submit(self, signal: Signal, bar_data: BarData) -> None:
        self._signals += 1
        self._order_seq += 1
        ts = bar_data.ts_event
        exchange = self.exchange
        order = Order(  # positional, in the field order of Order
            f"O-{self._order_seq:08d}",  # client_order_id
            self.account_id,
            self.strategy.name,  # strategy_id
            self.config.instrument,
            _BUY if signal.action is _ACTION_BUY else _SELL,
            signal.order_type,
            ts,  # ts_submitted
            signal.quantity,
            signal.equity_fraction,
            signal.limit_price,
            signal.stop_price,
        )
        raw = bar_data.tick_price_raw if bar_data.has_tick else bar_data.close_raw
        reference = Decimal(int(raw)).scaleb(-PRICE_DECIMALS)  # price_from_raw, exact
        had_open_orders = exchange.has_open_orders
        outcome = exchange.submit_order(order, reference_price=reference)
        self._orders += 1
        if self.on_order is not None:
            self.on_order(order, outcome)
        if isinstance(outcome, OrderRejected):
            self._apply([outcome], reported=True)  # on_order has seen it
            return
        if self._optimistic and not bar_data.has_tick:
            # OPTIMISTIC option: fill at the signal bar's close, a price the strategy has seen.
            filled = exchange.fill_now(order.client_order_id, ts)
            if filled is not None:
                self._apply([filled])
        elif self.per_tick:
            self.aggregator.before_tick = self._fill_tick
        elif not had_open_orders:
            # Default: the first tick after the bar that produced the signal fills it (with
            # orders already open, ticks are offered from the earliest one's start).
            self._fill_from = self.aggregator.chunk_position
        self._orders_open = exchange.has_open_orders

    def _apply(
        self, events: Iterable[OrderFilled | OrderRejected], *, reported: bool = False
    ) -> None:
        on_fill = None if reported else self.on_fill
        for event in events:
            if on_fill is not None:
                on_fill(event)
            if isinstance(event, OrderFilled):
                self._flush_marks()  # the closes before this fill, at the holdings before it
                self._fills += 1
                self.portfolio.apply_fill(event)
            else:
                self._rejected += 1
                self._rejections[event.reason.split(":")[0]] += 1

    def _flush_marks(self) -> None:
        if self._closes:
            self.portfolio.mark_closes(self.config.instrument, self._closes)
            self._bars_marked += len(self._closes)
            self._closes.clear()  # cleared, not replaced: the bound append stays valid

    # -- result ----------------------------------------------------------------------------

    def _result(self, error: RunError | None) -> BacktestResult:
        self._flush_marks()
        portfolio, config = self.portfolio, self.config
        metrics = compute_metrics(
            portfolio.equity_curve,
            portfolio.trades,
            portfolio.fees_paid,
            self.bar_type,
            portfolio.initial_cash,
            exposure=portfolio.exposure,
        )
        return BacktestResult(
            strategy=self.strategy.name,
            strategy_hash=self.strategy_hash,
            parameters={k: _plain(v) for k, v in sorted(self.strategy.params.items())},
            instrument=config.instrument,
            start_ns=config.start_ns,
            end_ns=config.end_ns,
            bar_type=str(self.bar_type),
            mode=self.mode.value,
            fill=config.fill,
            maker_fee_bps=config.maker_fee_bps,
            taker_fee_bps=config.taker_fee_bps,
            slippage_bps=config.slippage_bps,
            initial_capital=portfolio.initial_cash,
            currency=portfolio.currency,
            account_id=self.account_id,
            ticks=self._ticks,
            bars=self._bars_marked,
            signals=self._signals,
            orders=self._orders,
            fills=self._fills,
            rejected=self._rejected,
            rejections=dict(sorted(self._rejections.items())),
            total_trades=len(portfolio.trades),
            final_equity=Decimal(format_decimal(portfolio.equity)),  # 1019.5, not 1019.500
            metrics=metrics,
            trades=list(portfolio.trades),
            equity_curve=portfolio.equity_curve.copy(),
            error=error,
        )


def run_together(
    engines: Sequence[BacktestEngine],
    chunks: Iterable[TradeColumns],
    progress: Callable[[TradeColumns], None] | None = None,
) -> list[BacktestResult]:
    """Run several engines over the same ticks, read once: one result per engine, in order.

    Each engine trades its own account on its own simulated exchange, so the runs cannot
    affect each other and feeding each engine a whole chunk in turn gives the results they
    would give alone. That needs one account per strategy: two strategies routed to the same
    account (which would compete for its cash tick by tick) are refused before any work.
    A strategy that fails stops its own run; the others go on.
    """
    if not engines:
        raise BadDataError("no strategy to backtest")
    first = engines[0].config
    by_account: dict[str, BacktestEngine] = {}
    for engine in engines:
        config = engine.config
        if (config.instrument, config.start_ns, config.end_ns) != (
            first.instrument,
            first.start_ns,
            first.end_ns,
        ):
            raise BadDataError("strategies backtested together must share instrument and range")
        other = by_account.setdefault(engine.account_id, engine)
        if other is not engine:
            raise BadDataError(
                f"strategies {other.strategy.name} and {engine.strategy.name} both trade account "
                f"{engine.account_id!r}: a backtest gives each strategy its own account "
                "(route them to different accounts in the accounts file)",
                field="accounts",
            )
    for engine in engines:
        engine.strategy.reset()
    running = list(engines)
    for chunk in chunks:
        running = [engine for engine in running if engine._feed(chunk)]
        if progress is not None:
            progress(chunk)
        if not running:
            break
    return [engine._finish() for engine in engines]


def _ticks_until(data: TradeArray, error: RunError) -> int:
    """How many of a chunk's ticks the run had taken when it failed: up to the failing tick,
    or those before the failing bar's close."""
    ts = data["ts_event"]
    if error.tick_trade_id is not None:
        hits = np.flatnonzero((data["trade_id"] == error.tick_trade_id) & (ts == error.ts_event))
        if len(hits):
            return int(hits[0]) + 1
    return int(np.searchsorted(ts, error.ts_event, side="left"))


def _failure(failed: EventFailed) -> RunError:
    """Where and why the strategy failed: the event it was given and what it raised."""
    cause = failed.__cause__
    return _failure_at(f"{type(cause).__name__}: {cause}", failed.event)


def _failure_at(message: str, event: BarEvent) -> RunError:
    return RunError(
        message=message,
        ts_event=event.ts_event,
        bar_open_time=event.open_time,
        tick_trade_id=event.tick_trade_id if event.has_tick else None,
    )


def _plain(value: object) -> object:
    """Parameter values as JSON-friendly plain data (bar types as their text)."""
    if isinstance(value, int | float | str | bool | Decimal) or value is None:
        return value
    return str(value)
