"""A paper trader whose store is locked or broken keeps trading: the log waits, retries, and
counts what it had to give up; trading never waits for it."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import psycopg
import pytest

from ticklane.live.paper import PaperOptions, PaperStatus, PaperTrader
from ticklane.storage.base import TickStore
from ticklane.storage.postgres import PostgresTickStore
from ticklane.storage.sqlite import SqliteTickStore

from paper_support import (
    BTC,
    END,
    PAPER,
    SMA_PARAMS,
    START,
    backtest,
    replay,
    synthetic_day,
    until,
)


async def open_trader(store: TickStore, **options: object) -> PaperTrader:
    return await PaperTrader.resume(
        store,
        BTC,
        paper=PAPER,
        params=SMA_PARAMS,
        now_ns=START,
        options=PaperOptions(report_every_secs=3600, log_flush_interval=0.01, **options),  # type: ignore[arg-type]
    )


def test_a_locked_log_table_never_holds_up_trading(pg_schema_url: str) -> None:
    store = PostgresTickStore(pg_schema_url, max_connections=3)
    store.migrate()
    data = synthetic_day(seed=9)
    expected, _ = backtest(data)
    locker = psycopg.connect(pg_schema_url)

    async def session() -> tuple[PaperStatus, PaperStatus]:
        # Many tries, quickly: the lock may outlast a few lock timeouts on a slow machine.
        trader = await open_trader(store, log_attempts=1_000, log_retry_delay=0.05)
        # Another session holds the table: every log write now waits on a real lock.
        locker.execute("LOCK TABLE live_strategy_log IN ACCESS EXCLUSIVE MODE")
        await replay(trader, data, START, END)
        during = trader.status()  # the whole day traded while nothing could be written
        locker.rollback()  # the store catches up
        return during, await trader.close()

    try:
        during, closed = asyncio.run(session())
        assert during.ticks == len(data) and during.fills == expected.fills
        assert during.log_written == 0 and during.log_pending > 0
        rows = store.read_strategy_log("sma", "PAPER")
        assert closed.log_written == len(rows) == during.log_pending + 1  # + the stop row
        assert closed.log_failed == closed.log_dropped == 0
        assert sum(r.event == "fill" for r in rows) == expected.fills
    finally:
        locker.close()
        store.close()


def drop_log_table(store: TickStore, request: pytest.FixtureRequest) -> None:
    """Break the store from outside: its log table disappears."""
    if isinstance(store, SqliteTickStore):
        with closing(sqlite3.connect(store.path)) as conn:
            conn.execute("DROP TABLE live_strategy_log")
            conn.commit()
    else:
        with psycopg.connect(request.getfixturevalue("pg_schema_url"), autocommit=True) as conn:
            conn.execute("DROP TABLE live_strategy_log")


def test_a_broken_store_costs_counted_log_rows_not_trading(
    store: TickStore, request: pytest.FixtureRequest
) -> None:
    data = synthetic_day(seed=9)
    expected, _ = backtest(data)

    async def session() -> PaperStatus:
        trader = await open_trader(store, log_attempts=2, log_retry_delay=0.0)
        await until(lambda: trader.status().log_written == 1, "the start row to be stored")
        drop_log_table(store, request)
        await replay(trader, data, START, END)
        return await trader.close()

    status = asyncio.run(session())
    assert status.fills == expected.fills and status.error is None
    # Every row made after the table went is counted as given up; none is waiting.
    made = 1 + expected.signals + expected.orders + 2 * expected.fills + expected.rejected + 1
    assert (status.log_written, status.log_failed, status.log_pending) == (1, made - 1, 0)
