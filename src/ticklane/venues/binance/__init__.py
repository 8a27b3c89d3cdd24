"""Binance spot: wire schemas, frame parser, diff-depth book sync, subscriptions, REST.

The feed runner's entry points: ``BinanceParser`` (frames -> records, actions),
``BinanceBookSync`` (inside the parser, one per symbol), ``subscribe`` (stream names and
URLs) and ``BinanceRestClient`` (depth snapshots, trade history, exchangeInfo).
"""

from ticklane.venues.binance.book import BinanceBookSync, DiffOutcome, SnapshotOutcome, SyncState
from ticklane.venues.binance.parse import BinanceParser
from ticklane.venues.binance.rest import BinanceRestClient

__all__ = [
    "BinanceBookSync",
    "BinanceParser",
    "BinanceRestClient",
    "DiffOutcome",
    "SnapshotOutcome",
    "SyncState",
]
