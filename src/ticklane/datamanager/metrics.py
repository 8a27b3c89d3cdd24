"""The Prometheus endpoint of ``data-manager serve``.

The feed, the writer and the IPC ring count in plain integers (a prometheus-client counter
costs about a microsecond per increment, too much per record at 200,000 frames a second);
this collector reads those integers when Prometheus scrapes. Names follow the conventions of
protocols.md 5.1: one ``ticklane_`` prefix, base units, counters ending in ``_total``, labels
bounded (venue, symbol, kind, reason; never ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ticklane.core.errors import ConfigError
from ticklane.datamanager.writer import WriterStats
from ticklane.venues.feed import FeedRunner


class IpcCounters(Protocol):
    records_written: int


class ServeCollector(Collector):
    """Metrics of the feeds, the store writer and the IPC ring, read at scrape time."""

    def __init__(
        self,
        runners: Sequence[FeedRunner],
        writer: WriterStats | None = None,
        ipc: IpcCounters | None = None,
    ) -> None:
        self._runners = runners
        self._writer = writer
        self._ipc = ipc

    def collect(self) -> Iterable[Metric]:
        yield from self._feed_metrics()
        if self._writer is not None:
            yield from _writer_metrics(self._writer)
        if self._ipc is not None:
            written = CounterMetricFamily(
                "ticklane_ipc_records_written", "Records written to the shared-memory ring."
            )
            written.add_metric([], self._ipc.records_written)
            yield written

    def _feed_metrics(self) -> Iterable[Metric]:
        frames = CounterMetricFamily(
            "ticklane_ws_frames_received",
            "WebSocket frames received.",
            labels=["venue", "connection"],
        )
        records = CounterMetricFamily(
            "ticklane_records", "Normalized records published.", labels=["venue", "symbol", "kind"]
        )
        reconnects = CounterMetricFamily(
            "ticklane_ws_reconnects", "Reconnects by reason.", labels=["venue", "reason"]
        )
        connected = GaugeMetricFamily(
            "ticklane_ws_connected",
            "1 while the connection is open.",
            labels=["venue", "connection"],
        )
        gaps = CounterMetricFamily(
            "ticklane_feed_gaps", "Gaps the feed could not fill.", labels=["venue", "symbol"]
        )
        recovered = CounterMetricFamily(
            "ticklane_trades_recovered",
            "Trades fetched from the venue's history after a gap.",
            labels=["venue", "symbol"],
        )
        actions = CounterMetricFamily(
            "ticklane_feed_actions",
            "Snapshots fetched, books resubscribed, backfills run.",
            labels=["venue", "action"],
        )
        parse_errors = CounterMetricFamily(
            "ticklane_parse_errors",
            "Frames or parts of frames rejected, by reason (checksum: book checksum failures).",
            labels=["venue", "reason"],
        )
        last_trade = GaugeMetricFamily(
            "ticklane_last_trade_timestamp_seconds",
            "Venue time of the latest trade.",
            labels=["venue", "symbol"],
        )
        reasons: dict[tuple[str, str], int] = {}
        for runner in self._runners:
            stats = runner.stats
            venue = stats.exchange
            frames.add_metric([venue, stats.name], stats.frames)
            connected.add_metric([venue, stats.name], 1.0 if stats.connected else 0.0)
            for (symbol, kind), count in sorted(stats.records.items()):
                records.add_metric([venue, symbol, kind], count)
            for reason, count in sorted(stats.reconnects.items()):
                reconnects.add_metric([venue, reason], count)
            for symbol, count in sorted(stats.gaps.items()):
                gaps.add_metric([venue, symbol], count)
            for symbol, count in sorted(stats.recovered.items()):
                recovered.add_metric([venue, symbol], count)
            for action, count in sorted(stats.actions.items()):
                actions.add_metric([venue, action], count)
            for symbol, ts in sorted(stats.last_trade_ns.items()):
                last_trade.add_metric([venue, symbol], ts / 1e9)
            for reason, count in runner.parser.errors.counts.items():
                reasons[venue, reason] = reasons.get((venue, reason), 0) + count
        for (venue, reason), count in sorted(reasons.items()):
            parse_errors.add_metric([venue, reason], count)
        yield from (frames, records, reconnects, connected, gaps, recovered, actions)
        yield from (parse_errors, last_trade)


def _writer_metrics(stats: WriterStats) -> Iterable[Metric]:
    rows = CounterMetricFamily(
        "ticklane_writer_rows", "Rows the store writer handled, by outcome.", labels=["outcome"]
    )
    for outcome in ("written", "duplicates", "rejected", "failed"):
        rows.add_metric([outcome], getattr(stats, outcome))
    dropped = CounterMetricFamily(
        "ticklane_writer_dropped_records", "Records dropped because the store fell behind."
    )
    dropped.add_metric([], stats.dropped)
    depth = GaugeMetricFamily("ticklane_writer_queue_depth", "Records waiting for the store.")
    depth.add_metric([], stats.pending)
    yield from (rows, dropped, depth)


def serve_metrics(collector: Collector, port: int, host: str = "127.0.0.1") -> CollectorRegistry:
    """Expose ``collector`` on ``http://host:port/metrics`` (a daemon thread); its registry.
    ConfigError when the port cannot be had (another process holds it, say)."""
    registry = CollectorRegistry()
    registry.register(collector)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise ConfigError(
            f"metrics port {port} on {host}: {error.strerror or error}; choose another "
            "(data_manager.metrics_port or --metrics-port; 0 turns the endpoint off)"
        ) from None
    return registry
