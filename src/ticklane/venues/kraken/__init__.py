"""Kraken spot: WS v2 (live) and v1 (recordings) parsing, checksummed books, REST.

The feed runner's entry points: ``KrakenParser`` (frames -> records, actions), ``KrakenBook``
(inside the parser, one per pair), ``subscribe`` (v2 and v1 frames) and ``KrakenRestClient``
(AssetPairs, Trades).
"""

from ticklane.venues.kraken.book import KrakenBook
from ticklane.venues.kraken.parse import KrakenParser
from ticklane.venues.kraken.rest import KrakenRestClient, TradesPage

__all__ = ["KrakenBook", "KrakenParser", "KrakenRestClient", "TradesPage"]
