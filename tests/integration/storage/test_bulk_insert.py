"""Large history batches (tens of thousands of sorted trades of one instrument), on SQLite and
PostgreSQL: stored once whatever was stored before, by whom, or while the batch was written.

Batch sizes are chosen to cross the backends' internal cuts: SQLite writes 500 rows per
statement and the rest one by one; PostgreSQL copies rows outside the already-stored span
straight into the table and the others through its staging table.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import numpy as np
import psycopg
import pytest

from ticklane.core.columnar import QUOTE_DTYPE, TRADE_DTYPE, QuoteColumns, TradeColumns
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, parse_datetime
from ticklane.storage.base import InsertResult, TickStore
from ticklane.storage.sqlite import SqliteTickStore

BTC = InstrumentId("binance", "BTCUSDT")
ETH = InstrumentId("binance", "ETHUSDT")
DAY = parse_datetime("2024-06-03T00:00:00Z")
ROWS = 20_123  # 40 whole SQLite statements of 500 rows and 123 rows one by one
DEADLINE_S = 10.0


def history(count: int = ROWS, first_id: int = 1_000_000, seed: int = 7) -> np.ndarray:
    """``count`` trades in key order over about a day, a quarter sharing the previous
    trade's timestamp (one taker, several makers), as a history archive holds them."""
    rng = np.random.default_rng(seed)
    data = np.zeros(count, dtype=TRADE_DTYPE)
    steps = rng.integers(1, 8_000_000_000, count)
    steps[rng.random(count) < 0.25] = 0
    data["ts_event"] = DAY + np.cumsum(steps) // 1_000 * 1_000
    data["trade_id"] = first_id + np.arange(count)
    data["price"] = (4_000_000 + np.cumsum(rng.integers(-5, 6, count))) * 10**7
    data["quantity"] = rng.integers(1, 200_000_000, count)
    data["side"] = rng.integers(1, 3, count)
    data["is_buyer_maker"] = data["side"] == int(Side.SELL)
    return data


def stored(store: TickStore, instrument: InstrumentId = BTC) -> np.ndarray:
    chunks = [chunk.data for chunk in store.stream_trades(instrument, MIN_TS_NS, MAX_TS_NS)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=TRADE_DTYPE)


def in_key_order(data: np.ndarray) -> np.ndarray:
    return data[np.lexsort((data["trade_id"], data["ts_event"]))]


def run_in_thread(call: Callable[[], InsertResult]) -> tuple[threading.Thread, list[Any]]:
    """Start ``call`` in a thread; its result (or exception) lands in the returned list."""
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(call())
        except BaseException as error:  # re-raised by the test
            out.append(error)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, out


def joined(thread: threading.Thread, out: list[Any]) -> InsertResult:
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "insert did not finish before the deadline"
    if isinstance(out[0], BaseException):
        raise out[0]
    result = out[0]
    assert isinstance(result, InsertResult)
    return result


# -- into a span with nothing stored ----------------------------------------------------------


def test_history_batch_into_an_empty_span_is_stored_whole_and_in_order(store: TickStore) -> None:
    data = history()
    assert store.insert_trades(TradeColumns(BTC, data)) == InsertResult(ROWS, ROWS, 0)
    assert stored(store).tolist() == data.tolist()


def test_history_batch_of_another_instrument_leaves_the_first_untouched(store: TickStore) -> None:
    btc, eth = history(), history(seed=8)
    store.insert_trades(TradeColumns(BTC, btc))
    assert store.insert_trades(TradeColumns(ETH, eth)) == InsertResult(ROWS, ROWS, 0)
    assert stored(store, BTC).tolist() == btc.tolist()
    assert stored(store, ETH).tolist() == eth.tolist()


def test_history_batch_stored_again_adds_nothing(store: TickStore) -> None:
    data = history()
    store.insert_trades(TradeColumns(BTC, data))
    assert store.insert_trades(TradeColumns(BTC, data)) == InsertResult(ROWS, 0, ROWS)
    assert len(stored(store)) == ROWS


def test_history_batch_spanning_three_days_is_stored_whole(store: TickStore) -> None:
    data = history(3_000)
    data["ts_event"] = DAY + np.arange(3_000) * (72 * 3600 * 10**9 // 3_000)
    assert store.insert_trades(TradeColumns(BTC, data)) == InsertResult(3_000, 3_000, 0)
    assert stored(store).tolist() == data.tolist()


# -- into a span with some trades stored --------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    ["every_third", "the_first_half", "a_stretch_in_the_middle", "only_the_last_trade"],
)
def test_trades_already_stored_are_counted_as_duplicates_exactly(
    store: TickStore, where: str
) -> None:
    data = history()
    picked = {
        "every_third": data[::3],
        "the_first_half": data[: ROWS // 2],
        "a_stretch_in_the_middle": data[8_000:9_000],
        "only_the_last_trade": data[-1:],
    }[where]
    store.insert_trades(TradeColumns(BTC, picked))

    result = store.insert_trades(TradeColumns(BTC, data))

    assert result == InsertResult(ROWS, ROWS - len(picked), len(picked))
    assert stored(store).tolist() == data.tolist()


def test_resumed_chunk_stores_the_rest_after_a_crash_mid_way(store: TickStore) -> None:
    # A job killed after storing 7,000 rows of a chunk fetches the whole chunk again.
    data = history()
    store.insert_trades(TradeColumns(BTC, data[:500]))
    store.insert_trades(TradeColumns(BTC, data[500:7_000]))
    assert store.insert_trades(TradeColumns(BTC, data)) == InsertResult(ROWS, ROWS - 7_000, 7_000)
    assert stored(store).tolist() == data.tolist()


def test_trade_with_a_stored_key_but_other_values_keeps_the_stored_values(
    store: TickStore,
) -> None:
    data = history()
    first = data[100:101].copy()
    first["price"] += 10**9
    store.insert_trades(TradeColumns(BTC, first))

    assert store.insert_trades(TradeColumns(BTC, data)) == InsertResult(ROWS, ROWS - 1, 1)
    back = stored(store)
    assert back[100].tolist() == first[0].tolist()
    assert np.delete(back, 100).tolist() == np.delete(data, 100).tolist()


def test_few_trades_across_a_densely_stored_day_store_only_the_new_one(store: TickStore) -> None:
    # A coarse source (one trade a minute) over a day the live feed stored in full.
    data = history()
    store.insert_trades(TradeColumns(BTC, np.delete(data, 10_000)))
    sparse = data[[0, 10_000, ROWS - 1]]
    assert store.insert_trades(TradeColumns(BTC, sparse)) == InsertResult(3, 1, 2)
    assert stored(store).tolist() == data.tolist()


def test_quote_history_with_the_first_half_stored_stores_the_second_half(
    store: TickStore,
) -> None:
    trades = history()
    quotes = np.zeros(ROWS, dtype=QUOTE_DTYPE)
    quotes["ts_event"] = trades["ts_event"]
    quotes["sequence"] = trades["trade_id"]
    quotes["bid_price"] = trades["price"]
    quotes["ask_price"] = trades["price"] + 10**7
    quotes["bid_size"] = trades["quantity"]
    quotes["ask_size"] = trades["quantity"] // 2
    store.insert_quotes(QuoteColumns(BTC, quotes[: ROWS // 2]))

    result = store.insert_quotes(QuoteColumns(BTC, quotes))

    assert result == InsertResult(ROWS, ROWS - ROWS // 2, ROWS // 2)
    back = store.get_quotes(BTC, MIN_TS_NS, MAX_TS_NS)
    assert [(q.ts_event, q.sequence) for q in back] == list(
        zip(quotes["ts_event"].tolist(), quotes["sequence"].tolist(), strict=True)
    )


# -- duplicates inside the batch ----------------------------------------------------------------


def test_batch_repeating_its_own_trades_stores_each_once(store: TickStore) -> None:
    # An archive day and the next day's file both carrying the trades around midnight.
    data = history()
    repeated = np.concatenate([data, data[-300:], data[:5]])
    result = store.insert_trades(TradeColumns(BTC, repeated))
    assert result == InsertResult(ROWS + 305, ROWS, 305)
    assert stored(store).tolist() == data.tolist()


def test_batch_repeating_a_trade_next_to_itself_stores_it_once(store: TickStore) -> None:
    data = history()
    repeated = np.insert(data, 10_000, data[9_999])
    assert store.insert_trades(TradeColumns(BTC, repeated)) == InsertResult(ROWS + 1, ROWS, 1)
    assert stored(store).tolist() == data.tolist()


# -- invalid rows -------------------------------------------------------------------------------


def test_invalid_trades_are_rejected_by_position_and_the_rest_stored(store: TickStore) -> None:
    data = history()
    data["price"][0] = 0
    data["quantity"][777] = -5
    data["side"][15_000] = 7
    data["ts_event"][ROWS - 1] = MAX_TS_NS

    result = store.insert_trades(TradeColumns(BTC, data))

    assert (result.received, result.inserted, result.duplicates) == (ROWS, ROWS - 4, 0)
    assert [(e.position, e.field) for e in result.rejected] == [
        (0, "price"),
        (777, "quantity"),
        (15_000, "side"),
        (ROWS - 1, "ts_event"),
    ]
    valid = np.delete(data, [0, 777, 15_000, ROWS - 1])
    assert stored(store).tolist() == valid.tolist()


def test_batch_of_only_invalid_trades_stores_nothing(store: TickStore) -> None:
    data = history(600)
    data["quantity"] = 0
    result = store.insert_trades(TradeColumns(BTC, data))
    assert (result.received, result.inserted, result.duplicates) == (600, 0, 0)
    assert [e.position for e in result.rejected] == list(range(600))
    assert len(stored(store)) == 0


# -- concurrent writers -------------------------------------------------------------------------


def test_live_writer_storing_overlapping_trades_during_a_backfill_stores_each_once(
    store: TickStore,
) -> None:
    # The serve writer stores live trades in small batches while a history job stores the
    # same stretch in large ones; both run for real, in threads.
    data = history(60_000)
    live = data[::7]
    start = threading.Barrier(2, timeout=DEADLINE_S)

    def backfill() -> InsertResult:
        start.wait()
        result = InsertResult(0, 0, 0)
        for first in range(0, len(data), 20_000):
            result = result + store.insert_trades(TradeColumns(BTC, data[first : first + 20_000]))
        return result

    def live_writer() -> InsertResult:
        start.wait()
        result = InsertResult(0, 0, 0)
        for first in range(0, len(live), 250):
            result = result + store.insert_trades(TradeColumns(BTC, live[first : first + 250]))
        return result

    history_job, history_out = run_in_thread(backfill)
    serve, serve_out = run_in_thread(live_writer)
    from_history, from_live = joined(history_job, history_out), joined(serve, serve_out)

    assert from_history.inserted + from_live.inserted == len(data)
    assert from_history.duplicates + from_live.duplicates == len(live)
    assert from_history.received == from_history.inserted + from_history.duplicates
    assert from_live.received == from_live.inserted + from_live.duplicates
    assert stored(store).tolist() == data.tolist()


def test_trade_committed_by_another_writer_while_the_batch_waits_is_a_duplicate(
    store: TickStore, request: pytest.FixtureRequest
) -> None:
    # Another process holds an uncommitted insert of one of the batch's trades; the batch
    # waits for it, then finds the trade stored and counts it as a duplicate.
    data = history()
    other = data[12_345]
    store.insert_trades(TradeColumns(ETH, data[12_345:12_346]))  # creates the day's partition
    row = (BTC.exchange, BTC.symbol, *other.tolist())
    insert = (
        "INSERT INTO tick_data (exchange, symbol, ts_event, trade_id, price, quantity, side, "
        "is_buyer_maker) VALUES ({})"
    )
    if isinstance(store, SqliteTickStore):
        with closing(sqlite3.connect(store.path, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(insert.format(", ".join("?" for _ in row)), row)
            thread, out = run_in_thread(lambda: store.insert_trades(TradeColumns(BTC, data)))
            # The batch cannot start writing before this commit: SQLite has one writer.
            conn.execute("COMMIT")
            result = joined(thread, out)
    else:
        url = request.getfixturevalue("pg_schema_url")
        with psycopg.connect(url) as conn:
            conn.execute(insert.format(", ".join("%s" for _ in row)), row)
            thread, out = run_in_thread(lambda: store.insert_trades(TradeColumns(BTC, data)))
            wait_for_a_backend_blocked_on_a_lock(conn)
            conn.commit()
            result = joined(thread, out)

    assert result == InsertResult(ROWS, ROWS - 1, 1)
    assert stored(store).tolist() == data.tolist()


def wait_for_a_backend_blocked_on_a_lock(conn: psycopg.Connection[Any]) -> None:
    """Until another session of this database waits for a lock (ours), or fail."""
    with psycopg.connect(conn.info.dsn, autocommit=True) as watcher:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s",
                (conn.info.backend_pid,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    pytest.fail("the batch never waited for the other writer's uncommitted trade")
