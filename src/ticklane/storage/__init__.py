"""Tick storage: one ``TickStore`` interface, SQLite (embedded default) and PostgreSQL backends.

``open_store`` picks the backend from the settings: PostgreSQL when a database URL is set
(``DATABASE_URL``), otherwise the SQLite file under the user's data directory.
"""

from __future__ import annotations

from ticklane.config import DatabaseConfig, StorageConfig
from ticklane.core.time import NANOS_PER_SECOND
from ticklane.storage.base import (
    AppliedMigration,
    CompressResult,
    Gap,
    InsertResult,
    Order,
    PartitionInfo,
    SeriesStats,
    StoreStats,
    SymbolInfo,
    TickStore,
)


def open_store(database: DatabaseConfig, storage: StorageConfig) -> TickStore:
    """The configured tick store, connected (PostgreSQL) or opened (SQLite); not migrated."""
    url = database.url_value()
    if url is None:
        from ticklane.storage.sqlite import SqliteTickStore

        return SqliteTickStore(database.sqlite_file())
    from ticklane.storage.postgres import PostgresTickStore

    return PostgresTickStore(
        url,
        min_connections=database.min_connections,
        max_connections=database.max_connections,
        partition_interval_ns=int(storage.partition_interval.total_seconds()) * NANOS_PER_SECOND,
    )


__all__ = [
    "AppliedMigration",
    "CompressResult",
    "Gap",
    "InsertResult",
    "Order",
    "PartitionInfo",
    "SeriesStats",
    "StoreStats",
    "SymbolInfo",
    "TickStore",
    "open_store",
]
