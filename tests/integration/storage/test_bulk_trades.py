"""Bulk loads through ``store.bulk_trades()``, as history backfills store whole days.

On both backends the counts and the stored trades are those of ``insert_trades``. On
PostgreSQL (native partitions) a day with no partition yet is staged in a table of its own,
keyed and attached as the day's partition when the load ends; these tests also check what that
leaves in the catalog: the partition with its primary key and BRIN index, and no staging table,
whether the load ended normally, by an exception, or met a partition made meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from ticklane.core.columnar import TradeColumns
from ticklane.core.errors import StorageError
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, NANOS_PER_DAY
from ticklane.storage.base import InsertResult, TickStore
from ticklane.storage.postgres import PostgresTickStore

from test_bulk_insert import BTC, DAY, ETH, ROWS, history, stored

NEXT_DAY = DAY + NANOS_PER_DAY


class Interrupted(Exception):
    """What a backfill's own code raises midway (a source failing, a job cancelled)."""


def load(store: TickStore, *batches: TradeColumns) -> InsertResult:
    with store.bulk_trades() as sink:
        for batch in batches:
            sink.add(batch)
    return sink.result


def in_batches(data: np.ndarray, rows: int = 5_000, instrument: Any = BTC) -> list[TradeColumns]:
    return [
        TradeColumns(instrument, data[first : first + rows]) for first in range(0, len(data), rows)
    ]


def two_days(count: int = 6_000) -> np.ndarray:
    """``count`` trades, half on DAY and half on the next day, a few around midnight."""
    data = history(count)
    data["ts_event"] = NEXT_DAY + (np.arange(count) - count // 2) * 1_000_000
    return data


@pytest.fixture
def pg_store(pg_schema_url: str) -> Iterator[PostgresTickStore]:
    created = PostgresTickStore(pg_schema_url, min_connections=1, max_connections=3)
    created.migrate()
    try:
        yield created
    finally:
        created.close()


def catalog(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows about this test's schema (the URL's search path)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def partitions(url: str) -> list[tuple[str, str]]:
    return catalog(
        url,
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tick_data'::regclass "
        "ORDER BY c.relname",
    )


def staging_tables(url: str) -> list[str]:
    return [
        name
        for (name,) in catalog(
            url,
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND starts_with(relname, 'tick_data_bulk_')",
        )
    ]


def indexes(url: str, table: str) -> list[tuple[str, str, bool]]:
    return catalog(
        url,
        "SELECT i.relname, a.amname, x.indisprimary FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam "
        "WHERE x.indrelid = %s::regclass ORDER BY i.relname",
        (table,),
    )


def day_bound(start: int) -> str:
    return f"FOR VALUES FROM ('{start}') TO ('{start + NANOS_PER_DAY}')"


# -- both backends ----------------------------------------------------------------------------


def test_day_of_history_loaded_in_bulk_is_stored_whole_and_in_order(store: TickStore) -> None:
    data = history()
    assert load(store, *in_batches(data)) == InsertResult(ROWS, ROWS, 0)
    assert stored(store).tolist() == data.tolist()
    assert store.get_ticks(BTC, MIN_TS_NS, MAX_TS_NS) == TradeColumns(BTC, data).to_ticks()


def test_day_loaded_again_in_bulk_counts_every_trade_as_duplicate(store: TickStore) -> None:
    data = history()
    load(store, *in_batches(data))
    assert load(store, *in_batches(data)) == InsertResult(ROWS, 0, ROWS)
    assert stored(store).tolist() == data.tolist()


def test_trades_repeated_within_one_bulk_day_are_stored_once_and_counted(
    store: TickStore,
) -> None:
    # The day's archive and the next day's file both carry the trades around midnight, and
    # one batch repeats a trade next to itself.
    data = history()
    batches = [
        *in_batches(data),
        TradeColumns(BTC, data[-300:]),
        TradeColumns(BTC, np.insert(data[:5], 2, data[1])),
    ]
    assert load(store, *batches) == InsertResult(ROWS + 306, ROWS, 306)
    assert stored(store).tolist() == data.tolist()


def test_bulk_load_over_a_stored_day_and_a_new_day_stores_only_the_new_trades(
    store: TickStore,
) -> None:
    data = two_days()
    first_day = data[data["ts_event"] < NEXT_DAY]
    store.insert_trades(TradeColumns(BTC, first_day[::3]))  # the live feed had some
    already = len(first_day[::3])

    # Batches of 1,000 around midnight: one of them holds trades of both days.
    result = load(store, *in_batches(data, 1_000))

    assert result == InsertResult(len(data), len(data) - already, already)
    assert stored(store).tolist() == data.tolist()


def test_two_instruments_on_the_same_new_day_are_both_stored(store: TickStore) -> None:
    btc, eth = history(), history(seed=8)
    result = load(store, *in_batches(btc), *in_batches(eth, instrument=ETH))
    assert result == InsertResult(2 * ROWS, 2 * ROWS, 0)
    assert stored(store, BTC).tolist() == btc.tolist()
    assert stored(store, ETH).tolist() == eth.tolist()


def test_invalid_trades_in_a_bulk_load_are_rejected_by_position_in_their_batch(
    store: TickStore,
) -> None:
    data = history(4_000)
    data["price"][10] = 0
    data["side"][2_500] = 9
    result = load(store, *in_batches(data, 2_000))
    assert (result.received, result.inserted, result.duplicates) == (4_000, 3_998, 0)
    assert [(e.position, e.field) for e in result.rejected] == [(10, "price"), (500, "side")]
    assert stored(store).tolist() == np.delete(data, [10, 2_500]).tolist()


def test_result_of_a_bulk_load_is_not_known_before_it_ends_on_postgres(
    pg_store: PostgresTickStore,
) -> None:
    with pg_store.bulk_trades() as sink:
        sink.add(TradeColumns(BTC, history(100)))
        with pytest.raises(StorageError, match="once its with block has ended"):
            _ = sink.result
    assert sink.result == InsertResult(100, 100, 0)


# -- PostgreSQL: what the staging leaves in the catalog ------------------------------------------


def test_new_day_is_attached_as_its_partition_with_primary_key_and_brin_index(
    pg_store: PostgresTickStore, pg_schema_url: str
) -> None:
    data = history()
    load(pg_store, *in_batches(data))

    assert partitions(pg_schema_url) == [("tick_data_20240603", day_bound(DAY))]
    assert indexes(pg_schema_url, "tick_data_20240603") == [
        ("tick_data_20240603_pkey", "btree", True),
        ("tick_data_20240603_ts_event_idx", "brin", False),
    ]
    # The range CHECK that spared ATTACH its scan is gone; the table's own checks remain.
    checks = catalog(
        pg_schema_url,
        "SELECT conname FROM pg_constraint WHERE conrelid = 'tick_data_20240603'::regclass "
        "AND contype = 'c' ORDER BY conname",
    )
    assert checks == [
        ("tick_data_price_check",),
        ("tick_data_quantity_check",),
        ("tick_data_side_check",),
    ]
    assert catalog(
        pg_schema_url, "SELECT reloptions FROM pg_class WHERE relname = 'tick_data_20240603'"
    ) == [(None,)]
    assert staging_tables(pg_schema_url) == []
    # The store knows the partition: a live batch of that day goes straight to it.
    assert pg_store.insert_trades(TradeColumns(BTC, data[:10])) == InsertResult(10, 0, 10)


def test_exception_inside_a_bulk_load_leaves_no_trades_partition_or_staging_table(
    pg_store: PostgresTickStore, pg_schema_url: str
) -> None:
    # Two days: the first day's COPY has ended (committed) when the second day starts.
    data = two_days()
    with pytest.raises(Interrupted), pg_store.bulk_trades() as sink:
        for batch in in_batches(data, 1_000):
            sink.add(batch)
        assert len(staging_tables(pg_schema_url)) == 2  # the second day's COPY is open
        raise Interrupted("source failed")

    assert len(stored(pg_store)) == 0
    assert partitions(pg_schema_url) == []
    assert staging_tables(pg_schema_url) == []
    # The next load stores the days in full.
    assert load(pg_store, *in_batches(data)) == InsertResult(len(data), len(data), 0)


def test_exception_keeps_trades_of_days_whose_partition_existed(
    pg_store: PostgresTickStore, pg_schema_url: str
) -> None:
    data = two_days()
    first_day = data[data["ts_event"] < NEXT_DAY]
    pg_store.insert_trades(TradeColumns(BTC, first_day[:1]))
    with pytest.raises(Interrupted), pg_store.bulk_trades() as sink:
        for batch in in_batches(data, 1_000):
            sink.add(batch)
        raise Interrupted("job cancelled")

    assert stored(pg_store).tolist() == first_day.tolist()
    assert [name for name, _ in partitions(pg_schema_url)] == ["tick_data_20240603"]
    assert staging_tables(pg_schema_url) == []


def test_partition_made_by_the_live_writer_while_staging_gets_the_staged_trades(
    pg_store: PostgresTickStore, pg_schema_url: str
) -> None:
    # The data-manager's live writer, another process, stores trades of the same day while
    # the backfill stages it: the partition exists by the end, so the staged trades go in
    # duplicate-safe instead of being attached.
    data = history()
    live = PostgresTickStore(pg_schema_url, min_connections=1, max_connections=1)
    try:
        with pg_store.bulk_trades() as sink:
            sink.add(TradeColumns(BTC, data[:10_000]))
            live.insert_trades(TradeColumns(BTC, data[::100]))
            sink.add(TradeColumns(BTC, data[10_000:]))
    finally:
        live.close()

    already = len(data[::100])
    assert sink.result == InsertResult(ROWS, ROWS - already, already)
    assert stored(pg_store).tolist() == data.tolist()
    assert partitions(pg_schema_url) == [("tick_data_20240603", day_bound(DAY))]
    assert staging_tables(pg_schema_url) == []


def test_partition_made_over_plain_sql_while_staging_gets_the_staged_trades(
    pg_store: PostgresTickStore, pg_schema_url: str
) -> None:
    # A writer that knows nothing of the store's advisory lock, with another partition size.
    data = history()
    with pg_store.bulk_trades() as sink:
        sink.add(TradeColumns(BTC, data[:10_000]))
        with psycopg.connect(pg_schema_url, autocommit=True) as other:
            other.execute(
                "CREATE TABLE tick_data_early PARTITION OF tick_data "
                f"FOR VALUES FROM ({DAY}) TO ({DAY + 6 * 3600 * 10**9})"
            )
        sink.add(TradeColumns(BTC, data[10_000:]))

    assert sink.result == InsertResult(ROWS, ROWS, 0)
    assert stored(pg_store).tolist() == data.tolist()
    # The rest of the day became a partition of its own, as insert_trades would make it.
    assert [bound for _, bound in partitions(pg_schema_url)] == [
        f"FOR VALUES FROM ('{DAY + 6 * 3600 * 10**9}') TO ('{NEXT_DAY}')",
        f"FOR VALUES FROM ('{DAY}') TO ('{DAY + 6 * 3600 * 10**9}')",
    ]
    assert staging_tables(pg_schema_url) == []


def test_staging_table_of_a_bulk_load_that_died_is_dropped_by_the_next(
    pg_store: PostgresTickStore, pg_schema_url: str
) -> None:
    with psycopg.connect(pg_schema_url, autocommit=True) as conn:
        live = {pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity")}
        dead = next(pid for pid in range(4_000_000, 4_100_000) if pid not in live)
        conn.execute(f"CREATE TABLE tick_data_bulk_{dead}_20240603 (LIKE tick_data)")

    assert load(pg_store, TradeColumns(BTC, history(100))) == InsertResult(100, 100, 0)
    assert staging_tables(pg_schema_url) == []
