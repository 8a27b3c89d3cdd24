"""Paper trading over a seeded synthetic day on real SQLite and PostgreSQL stores: it trades as
the backtest of the same ticks, logs every decision and fill with the strategy's hash, and a
restart continues the account without counting anything twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from ticklane.bars.clock import SimulatedClock
from ticklane.config.accounts import AccountsConfig
from ticklane.core.columnar import TradeColumns
from ticklane.core.fixed import price_from_raw
from ticklane.live.paper import PaperOptions, PaperStatus, PaperTrader
from ticklane.storage.base import StrategyLogRow, TickStore
from ticklane.strategy.loader import strategy_file_hash
from ticklane.strategy.registry import create_strategy, strategy_hash

from paper_support import (
    BTC,
    CAPITAL,
    END,
    HOUR,
    MINUTE,
    PAPER,
    SMA_PARAMS,
    START,
    backtest,
    record,
    replay,
    synthetic_day,
    until,
)

SMA_HASH = strategy_hash(create_strategy("sma", SMA_PARAMS))


def accounts(account_id: str) -> AccountsConfig:
    return AccountsConfig.with_default(account_id, "USDT", CAPITAL)


async def open_trader(
    store: TickStore,
    account_id: str,
    now_ns: int,
    lines: list[str] | None = None,
    **options: object,
) -> PaperTrader:
    return await PaperTrader.resume(
        store,
        BTC,
        paper=PAPER,
        params=SMA_PARAMS,
        accounts=accounts(account_id),
        now_ns=now_ns,
        options=PaperOptions(report_every_secs=3600, log_flush_interval=0.01, **options),  # type: ignore[arg-type]
        report=lines.append if lines is not None else None,
    )


def logged(store: TickStore, account_id: str, strategy: str = "sma") -> list[StrategyLogRow]:
    return store.read_strategy_log(strategy, account_id)


def fills_of(rows: list[StrategyLogRow]) -> list[tuple[str | None, int, int, Decimal, Decimal]]:
    return [
        (r.client_order_id, r.ts_event, r.side or 0, price_from_raw(r.price or 0), r.fee or 0)
        for r in rows
        if r.event == "fill"
    ]


def test_a_paper_session_fills_as_the_backtest_and_logs_every_decision(store: TickStore) -> None:
    data = synthetic_day(seed=9)
    expected, expected_fills = backtest(data)
    lines: list[str] = []

    async def session() -> tuple[PaperTrader, PaperStatus]:
        trader = await open_trader(store, "SIM-001", START, lines)
        eth = record(data[0].item(), symbol="ETHUSDT")

        def other_instrument(index: int) -> None:
            if index % 100 == 0:
                trader.on_trade(eth)  # another instrument's trade: ignored

        await replay(trader, data, START, END, between=other_instrument)
        return trader, await trader.close()

    trader, status = asyncio.run(session())
    result = trader.snapshot()
    assert expected.fills > 20, "the day should trade"
    assert (result.signals, result.orders, result.fills) == (
        expected.signals,
        expected.orders,
        expected.fills,
    )
    assert result.trades == expected.trades
    assert result.final_equity == expected.final_equity
    assert status.ticks == len(data) and status.ignored == (len(data) - 1) // 100 + 1
    assert status.trades == expected.total_trades and status.error is None
    assert not status.running  # closed
    assert status.log_failed == status.log_dropped == status.log_pending == 0

    rows = logged(store, "SIM-001")
    assert {r.strategy_hash for r in rows} == {SMA_HASH}
    assert {(r.run_id, r.exchange, r.symbol) for r in rows} == {
        (rows[0].run_id, "binance", "BTCUSDT")
    }
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert status.log_written == len(rows)
    kinds = Counter(r.event for r in rows)
    assert kinds["signal"] == expected.signals and kinds["order"] == expected.orders
    assert kinds["fill"] == expected.fills and kinds["reject"] == expected.rejected
    assert fills_of(rows) == [
        (f.client_order_id, f.ts_event, int(f.side), f.price, f.fee) for f in expected_fills
    ]
    # The book opens with a start row, every fill is followed by the account after it, and the
    # session ends with a stop row holding the final account.
    assert (rows[0].event, rows[0].details["reason"], rows[0].cash) == ("state", "start", CAPITAL)
    for index, row in enumerate(rows):
        if row.event == "fill":
            after = rows[index + 1]
            assert (after.event, after.details["reason"]) == ("state", "fill")
    last = rows[-1]
    assert (last.event, last.details["reason"]) == ("state", "stop")
    assert (last.cash, last.position, last.equity) == (status.cash, status.position, status.equity)
    assert last.realized_pnl == status.realized_pnl == sum(t.pnl for t in expected.trades)
    assert status.equity == status.initial_capital + status.realized_pnl + status.unrealized_pnl
    # A status line on each signal and fill, one an hour of clock, one at start and stop.
    assert sum(line.startswith("signal ") for line in lines) == expected.signals
    periodic = [line for line in lines if line.startswith("paper sma")]
    assert len(periodic) == 24
    assert lines[0].startswith("start: paper sma BTCUSDT.binance [SIM-001]")
    assert lines[-1].startswith("stop: ")


def test_a_restart_mid_stream_ends_as_an_uninterrupted_session(store: TickStore) -> None:
    data = synthetic_day(seed=11)
    store.insert_trades(TradeColumns(BTC, data))  # what data-manager stored: the warm-up source
    noon = START + 12 * HOUR

    async def uninterrupted() -> tuple[PaperStatus, object]:
        trader = await open_trader(store, "WHOLE", START)
        await replay(trader, data, START, END)
        return await trader.close(), trader.snapshot().trades

    async def first_half() -> tuple[int, int, PaperStatus]:
        trader = await open_trader(store, "SPLIT", START)

        def past_noon_with_no_order_open() -> bool:
            status = trader.status()  # an open order is not carried over a restart
            return status.clock_ns >= noon and not status.open_orders

        fed, clock = await replay(trader, data, START, stop_when=past_noon_with_no_order_open)
        return fed, clock, await trader.close()

    async def second_half(fed: int, clock: int) -> tuple[PaperStatus, object]:
        trader = await open_trader(store, "SPLIT", clock, warmup_secs=3 * 3600)
        # The feed delivers the last five trades again (a reconnect overlap): skipped.
        await replay(trader, data[fed - 5 :], clock, END)
        return await trader.close(), trader.snapshot().trades

    whole, whole_trades = asyncio.run(uninterrupted())
    fed, clock, before = asyncio.run(first_half())
    after, after_trades = asyncio.run(second_half(fed, clock))
    assert 0 < before.fills < whole.fills, "the restart should fall between fills"
    assert after.skipped == 5 and after.ticks == len(data) - fed
    assert (after.cash, after.position, after.equity) == (whole.cash, whole.position, whole.equity)
    assert after.realized_pnl == whole.realized_pnl and after.trades == whole.trades
    assert before.fills + after.fills == whole.fills
    assert after_trades == whole_trades  # the book's round trips, rebuilt from the log

    split, whole_rows = logged(store, "SPLIT"), logged(store, "WHOLE")
    assert fills_of(split) == fills_of(whole_rows)
    orders = [r.client_order_id for r in split if r.event == "order"]
    assert len(orders) == len(set(orders)) == len([r for r in whole_rows if r.event == "order"])
    assert len({(r.run_id, r.seq) for r in split}) == len(split)
    reasons = [r.details["reason"] for r in split if r.event == "state" and r.seq == 1]
    assert reasons == ["start", "resume"]
    resumed = next(r for r in split if r.details.get("reason") == "resume")
    assert resumed.cash == before.cash and resumed.position == before.position
    assert resumed.details["resumed_from"] == split[0].run_id


def test_a_session_that_died_with_an_order_open_is_continued_without_it(
    store: TickStore,
) -> None:
    data = synthetic_day(seed=11)

    async def dies() -> tuple[int, int, PaperStatus]:
        trader = await open_trader(store, "SIM-001", START)

        def order_waiting_for_its_trade() -> bool:
            status = trader.status()
            return status.fills >= 4 and status.open_orders > 0

        fed, clock = await replay(trader, data, START, stop_when=order_waiting_for_its_trade)
        # The process dies here, without close(): the log holds what the writer wrote.
        await until(lambda: trader.status().log_pending == 0, "the log writer to catch up")
        return fed, clock, trader.status()

    async def restart(fed: int, clock: int) -> PaperStatus:
        trader = await open_trader(store, "SIM-001", clock)
        await replay(trader, data[fed:], clock, END)
        return await trader.close()

    fed, clock, died = asyncio.run(dies())
    assert died.open_orders == 1
    after = asyncio.run(restart(fed, clock))
    rows = logged(store, "SIM-001")
    first_run = rows[0].run_id
    open_id = next(
        r.client_order_id for r in reversed(rows) if r.run_id == first_run and r.event == "order"
    )
    abandoned = [r for r in rows if r.event == "reject" and r.client_order_id == open_id]
    assert [r.details["stage"] for r in abandoned] == ["restart"]
    assert not any(r.event == "fill" and r.client_order_id == open_id for r in rows)
    assert not any(r.details.get("reason") == "stop" and r.run_id == first_run for r in rows)
    resumed = next(r for r in rows if r.details.get("reason") == "resume")
    assert (resumed.cash, resumed.position) == (died.cash, died.position)
    # Every order ends in exactly one fill or reject; ids go on after the abandoned one.
    ends = Counter(r.client_order_id for r in rows if r.event in ("fill", "reject"))
    orders = [r.client_order_id for r in rows if r.event == "order"]
    assert all(ends[order] == 1 for order in orders) and len(ends) == len(orders)
    later = [r.client_order_id for r in rows if r.event == "order" and r.run_id != first_run]
    assert later and all(str(cid) > str(open_id) for cid in later)
    assert after.fills > 0 and after.error is None


STRATEGY_FILE = """
from ticklane.strategy.sma import SmaCrossover

NOON = {noon}


class FailsAtNoon(SmaCrossover):
    name = "fails_at_noon"
    description = "SMA crossover whose indicator divides by zero at noon."

    def on_bar_data(self, bar_data):
        if bar_data.metadata.is_bar_closed and bar_data.ts_event >= NOON:
            raise ZeroDivisionError("division by zero in my indicator")
        return super().on_bar_data(bar_data)
"""


def test_a_strategy_that_raises_stops_the_trader_and_names_the_event(
    store: TickStore, tmp_path: Path
) -> None:
    noon = START + 12 * HOUR
    path = tmp_path / "fails_at_noon.py"
    path.write_text(STRATEGY_FILE.format(noon=noon))
    data = synthetic_day(seed=11)
    lines: list[str] = []

    async def session() -> tuple[PaperStatus, PaperStatus]:
        trader = await PaperTrader.resume(
            store,
            BTC,
            paper=PAPER,
            strategy=str(path),
            params=SMA_PARAMS,
            now_ns=START,
            options=PaperOptions(report_every_secs=3600, log_flush_interval=0.01),
            report=lines.append,
        )
        await replay(trader, data, START, END)  # nothing raises here
        stopped = trader.status()
        return stopped, await trader.close()

    stopped, closed = asyncio.run(session())
    assert not stopped.running and stopped.error is not None
    assert stopped.error.message == "ZeroDivisionError: division by zero in my indicator"
    assert stopped.error.ts_event == noon and stopped.error.bar_open_time == noon - MINUTE
    assert stopped.ticks < len(data)  # trades after the failure were not traded
    assert any("STOPPED: ZeroDivisionError" in line for line in lines)
    rows = logged(store, "PAPER", "fails_at_noon")
    assert {r.strategy_hash for r in rows} == {strategy_file_hash(path)}
    failed = [r for r in rows if r.details.get("reason") == "failed"]
    assert len(failed) == 1 and failed[0].ts_event == noon
    assert failed[0].details["error"]["message"].startswith("ZeroDivisionError")
    assert rows[-1].details["reason"] == "stop" and closed.error == stopped.error


def test_other_instruments_and_trades_before_the_start_do_not_trade(store: TickStore) -> None:
    data = synthetic_day(seed=3)

    async def session() -> PaperStatus:
        trader = await open_trader(store, "SIM-001", START)
        for row in data[:500].tolist():
            trader.on_trade(record(row, symbol="ETHUSDT"))
        trader.on_clock(END)
        return await trader.close()

    status = asyncio.run(session())
    assert (status.ignored, status.ticks, status.signals) == (500, 0, 0)
    assert (status.cash, status.position, status.last_price) == (CAPITAL, 0, None)


@pytest.mark.parametrize("fresh", [True, False])
def test_a_fresh_start_opens_a_new_book_and_resume_continues_the_last(
    store: TickStore, fresh: bool
) -> None:
    data = synthetic_day(seed=9)
    noon = START + 12 * HOUR
    morning, afternoon = data[data["ts_event"] < noon], data[data["ts_event"] >= noon]

    async def sessions() -> tuple[PaperStatus, PaperStatus]:
        first = await open_trader(store, "SIM-001", START)
        await replay(first, morning, START, noon)
        done = await first.close()
        second = await PaperTrader.resume(
            store,
            BTC,
            paper=PAPER,
            params=SMA_PARAMS,
            accounts=accounts("SIM-001"),
            now_ns=noon,
            fresh=fresh,
        )
        begun = second.status()
        await replay(second, afternoon, noon, END)
        await second.close()
        return done, begun

    done, begun = asyncio.run(sessions())
    assert done.fills > 0
    if fresh:
        assert (begun.cash, begun.position, begun.trades) == (CAPITAL, 0, 0)
        assert begun.realized_pnl == 0
    else:
        assert (begun.cash, begun.position, begun.trades) == (done.cash, done.position, done.trades)
        assert begun.realized_pnl == done.realized_pnl
    # Either way a client order id names one order of the account.
    orders = [r.client_order_id for r in logged(store, "SIM-001") if r.event == "order"]
    assert len(orders) == len(set(orders)) > done.fills


def test_the_clock_task_checks_the_clock_until_stopped(store: TickStore) -> None:
    clock = SimulatedClock(START)

    async def session() -> PaperStatus:
        trader = await open_trader(store, "SIM-001", START)
        stop = asyncio.Event()
        task = asyncio.create_task(trader.run_clock(clock, stop, interval_ns=1_000_000))
        await until(lambda: trader.status().clock_ns == START, "the first clock check")
        clock.set_time(START + 2 * HOUR)
        await until(lambda: trader.status().clock_ns == START + 2 * HOUR, "the clock to move")
        stop.set()
        await task
        return await trader.close()

    assert asyncio.run(session()).clock_ns == START + 2 * HOUR
