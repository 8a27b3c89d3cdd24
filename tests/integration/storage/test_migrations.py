"""Schema migrations on real SQLite files and real PostgreSQL schemas: recorded with checksums,
edits of applied ones refused, failures rolled back whole, the PostgreSQL layout chosen once."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ticklane.core.errors import MigrationError
from ticklane.storage import postgres as postgres_module
from ticklane.storage import sqlite as sqlite_module
from ticklane.storage.base import TickStore
from ticklane.storage.migrations import Migration, load_migrations
from ticklane.storage.postgres import PostgresTickStore
from ticklane.storage.sqlite import SqliteTickStore

DAY_NS = 86_400 * 10**9


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TickStore]:
    """A store of each backend on an empty database, not yet migrated."""
    created: TickStore
    if request.param == "sqlite":
        created = SqliteTickStore(tmp_path / "fresh.sqlite3")
    else:
        created = PostgresTickStore(request.getfixturevalue("pg_schema_url"), max_connections=2)
    try:
        yield created
    finally:
        created.close()


def query(store: TickStore, request: pytest.FixtureRequest, statement: str) -> list[Any]:
    """Raw SQL on the store's database from a connection of its own (committed)."""
    if isinstance(store, SqliteTickStore):
        with closing(sqlite3.connect(store.path)) as conn:
            rows = conn.execute(statement).fetchall()
            conn.commit()
            return rows
    with psycopg.connect(request.getfixturevalue("pg_schema_url"), autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def table_exists(store: TickStore, request: pytest.FixtureRequest, name: str) -> bool:
    if isinstance(store, SqliteTickStore):
        sql = f"SELECT count(*) FROM sqlite_master WHERE name = '{name}'"
    else:
        sql = (
            f"SELECT count(*) FROM pg_tables WHERE tablename = '{name}' "
            "AND schemaname = current_schema()"
        )
    return bool(query(store, request, sql)[0][0])


def shipped(store: TickStore) -> list[Migration]:
    if store.backend == "sqlite":
        return load_migrations("sqlite", "sqlite", {})
    return load_migrations("postgres", store.layout, {"partition_interval_ns": DAY_NS})


def with_broken(store: TickStore, keep: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the store's migration list the first ``keep`` shipped ones plus one that fails
    half-way: its first statement works, its second reads a missing table."""
    broken_sql = (
        "CREATE TABLE half_done (x bigint);\nINSERT INTO half_done SELECT x FROM nowhere;\n"
    )
    broken = Migration(
        keep + 1, "broken", broken_sql, hashlib.sha256(broken_sql.encode()).hexdigest()
    )
    migrations = [*shipped(store)[:keep], broken]
    module = sqlite_module if store.backend == "sqlite" else postgres_module
    monkeypatch.setattr(module, "load_migrations", lambda *args: migrations)


def test_every_migration_is_recorded_with_its_checksum(
    fresh: TickStore, request: pytest.FixtureRequest
) -> None:
    applied = fresh.migrate()
    assert all(m.newly_applied for m in applied)
    recorded = query(
        fresh, request, "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    )
    expected = shipped(fresh)
    assert recorded == [(m.version, m.name, m.checksum) for m in expected]
    assert [(m.version, m.name) for m in applied] == [(m.version, m.name) for m in expected]
    assert all(len(m.checksum) == 64 for m in expected)


def test_migrating_twice_applies_nothing_the_second_time(fresh: TickStore) -> None:
    first = fresh.migrate()
    second = fresh.migrate()
    assert [(m.version, m.name, m.applied_at) for m in second] == [
        (m.version, m.name, m.applied_at) for m in first
    ]
    assert not any(m.newly_applied for m in second)


def test_editing_an_applied_migration_is_detected(
    fresh: TickStore, request: pytest.FixtureRequest
) -> None:
    fresh.migrate()
    query(fresh, request, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(MigrationError, match="0001"):
        fresh.migrate()
    assert len(query(fresh, request, "SELECT version FROM schema_migrations")) == len(
        shipped(fresh)
    )


def test_broken_first_run_leaves_no_table_behind(
    fresh: TickStore, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_broken(fresh, 1, monkeypatch)
    with pytest.raises(MigrationError, match="0002 broken"):
        fresh.migrate()
    # Neither 0001 (applied in the same run) nor the first half of the broken one survive.
    for table in ("symbols", "half_done"):
        assert not table_exists(fresh, request, table)
    if table_exists(fresh, request, "schema_migrations"):
        assert query(fresh, request, "SELECT version FROM schema_migrations") == []


def test_broken_migration_on_a_live_store_rolls_back_and_keeps_the_data(
    fresh: TickStore, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh.migrate()
    query(fresh, request, "INSERT INTO symbols (exchange, symbol) VALUES ('binance', 'BTCUSDT')")
    count = len(shipped(fresh))
    with_broken(fresh, count, monkeypatch)
    with pytest.raises(MigrationError, match="nothing of it was applied"):
        fresh.migrate()
    assert not table_exists(fresh, request, "half_done")
    versions = query(fresh, request, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, count + 1))
    assert [s.symbol for s in fresh.list_symbols()] == ["BTCUSDT"]
    monkeypatch.undo()
    assert not any(m.newly_applied for m in fresh.migrate())


def test_postgres_without_timescaledb_uses_native_partitions(pg_schema_url: str) -> None:
    store = PostgresTickStore(pg_schema_url, max_connections=2)
    try:
        assert store.layout == "partitioned"
        applied = store.migrate()
        assert [(m.version, m.name) for m in applied] == [
            (1, "common"),
            (2, "ticks.partitioned"),
            (3, "views"),
            (4, "gaps"),
            (5, "strategy_log_runs"),
            (6, "history"),
            (7, "bars"),
        ]
    finally:
        store.close()
    # A new store on the same database reads the layout back from what was recorded.
    with psycopg.connect(pg_schema_url, autocommit=True) as conn:
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c WHERE c.relname = 'tick_data' "
            "AND c.relnamespace = current_schema()::regnamespace"
        ).fetchone()
    assert kind == ("p",)  # a partitioned table
    again = PostgresTickStore(pg_schema_url, max_connections=2)
    try:
        assert again.layout == "partitioned"
        assert not any(m.newly_applied for m in again.migrate())
    finally:
        again.close()


def test_sqlite_migrations_are_the_shipped_ones(tmp_path: Path) -> None:
    store = SqliteTickStore(tmp_path / "a" / "b" / "ticks.sqlite3")  # folders created
    try:
        assert [(m.version, m.name) for m in store.migrate()] == [
            (1, "initial"),
            (2, "views"),
            (3, "gaps"),
            (4, "strategy_log_runs"),
            (5, "history"),
            (6, "bars"),
        ]
    finally:
        store.close()


def test_layout_without_a_variant_of_a_versioned_migration_is_refused() -> None:
    with pytest.raises(MigrationError) as refused:
        load_migrations("postgres", "columnar", {"partition_interval_ns": DAY_NS})
    assert "0002" in str(refused.value) and "'columnar'" in str(refused.value)


def test_migration_missing_a_setting_names_it() -> None:
    with pytest.raises(MigrationError, match="partition_interval_ns"):
        load_migrations("postgres", "timescaledb", {})


def test_checksum_is_of_the_file_as_written_not_of_the_filled_settings() -> None:
    daily = load_migrations("postgres", "timescaledb", {"partition_interval_ns": DAY_NS})
    hourly = load_migrations("postgres", "timescaledb", {"partition_interval_ns": DAY_NS // 24})
    assert [m.checksum for m in daily] == [m.checksum for m in hourly]
    assert str(DAY_NS) in daily[1].sql and str(DAY_NS // 24) in hourly[1].sql
