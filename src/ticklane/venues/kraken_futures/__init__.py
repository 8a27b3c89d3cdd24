"""Kraken Futures: WS v1 parsing, seq-checked books, subscriptions, REST.

The feed runner's entry points: ``KrakenFuturesParser`` (frames -> records, actions),
``FuturesBookSync`` (inside the parser, one per product), ``subscribe`` and
``KrakenFuturesRestClient`` (instruments, history, executions).
"""

from ticklane.venues.kraken_futures.book import DeltaOutcome, FuturesBookSync
from ticklane.venues.kraken_futures.parse import KrakenFuturesParser
from ticklane.venues.kraken_futures.rest import ExecutionsPage, KrakenFuturesRestClient

__all__ = [
    "DeltaOutcome",
    "ExecutionsPage",
    "FuturesBookSync",
    "KrakenFuturesParser",
    "KrakenFuturesRestClient",
]
