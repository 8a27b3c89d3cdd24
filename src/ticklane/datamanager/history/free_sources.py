"""The free history sources, built from configuration, cheapest first.

"Cheapest" here means fewest requests for a day of trades: the Binance archive (one zip a
day or a month), then the REST histories (1,000 trades a request). Each source says itself
which venues it serves (``unsupported``), so a caller takes the first that serves the
instrument and falls back to the next when it reports a day missing.
"""

from __future__ import annotations

import httpx

from ticklane.config.settings import BackfillConfig, VenuesConfig
from ticklane.datamanager.history.binance_archive_source import BinanceArchiveSource
from ticklane.datamanager.history.rest_sources import (
    BinanceRestSource,
    KrakenFuturesRestSource,
    KrakenRestSource,
)
from ticklane.datamanager.history.source import HistorySource
from ticklane.venues.binance.archive import ArchiveKind

__all__ = [
    "ArchiveKind",
    "BinanceArchiveSource",
    "BinanceRestSource",
    "KrakenFuturesRestSource",
    "KrakenRestSource",
    "make_free_sources",
]


def make_free_sources(
    backfill: BackfillConfig,
    venues: VenuesConfig,
    client: httpx.AsyncClient | None = None,
    *,
    archive_kind: ArchiveKind = ArchiveKind.TRADES,
) -> list[HistorySource]:
    """Every free source, cheapest first; ``client`` is shared by all when given (the caller
    closes it), else each source opens and closes its own."""
    pace = backfill.requests_per_second  # a venue not in it gets its source's default
    retries = backfill.retries
    return [
        BinanceArchiveSource(
            backfill.binance_archive_url, kind=archive_kind, retries=retries, client=client
        ),
        BinanceRestSource(
            venues.binance.rest_url,
            requests_per_second=pace.get("binance"),
            retries=retries,
            client=client,
        ),
        KrakenRestSource(
            venues.kraken.rest_url,
            requests_per_second=pace.get("kraken"),
            retries=retries,
            client=client,
        ),
        KrakenFuturesRestSource(
            venues.kraken_futures.rest_url,
            requests_per_second=pace.get("kraken_futures"),
            retries=retries,
            client=client,
        ),
    ]
