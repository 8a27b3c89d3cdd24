"""``data-manager serve``: live venue feeds into the tick store and the shared-memory ring.

    venue WebSocket ─▶ FeedRunner (parse, books, gap recovery) ─┬─▶ StoreWriter (--persist)
                                                                ├─▶ RingWriter (--ipc)
                                                                └─▶ RecordingWriter (--record)

One process may serve several providers, each with its symbols; each provider's adapter may
open several connections (Binance: 1024 streams each). Trades and L1 quotes are persisted,
every record (books included) goes to the ring. Gaps the feeds could not fill are stored
(with ``--persist``) and counted. SIGINT and SIGTERM stop it cleanly: the feeds stop reading,
what is pending is written, the ring and the recording are closed, within ``shutdown_secs``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import msgspec

from ticklane.config.settings import Settings
from ticklane.core.errors import ConfigError, TicklaneError
from ticklane.core.records import MarketRecord, QuoteRecord, TradeRecord
from ticklane.datamanager.metrics import ServeCollector, serve_metrics
from ticklane.datamanager.writer import StoreWriter
from ticklane.storage.base import Gap, TickStore
from ticklane.venues.discovery import PROVIDERS, normalize_symbol
from ticklane.venues.feed import Backoff, ConnectionPlan, FeedRunner
from ticklane.venues.feed_adapters import VenueFeed, make_adapter
from ticklane.venues.sim.recorder import RecordingWriter

log = logging.getLogger(__name__)

SHUTDOWN_SECS: Final = 15.0  # longest a clean stop may take (the writer's flush included)


class FeedRequest(msgspec.Struct, frozen=True):
    """One provider and the symbols to stream from it, as the venue names them."""

    provider: str
    symbols: tuple[str, ...]


class ServeOptions(msgspec.Struct, frozen=True):
    feeds: tuple[FeedRequest, ...]
    ipc: bool = False
    persist: bool = False
    demo: bool = False
    record_dir: Path | None = None
    metrics_port: int | None = None  # None: the configured port


class ServeSummary(msgspec.Struct):
    """What a serve run did, printed when it stops."""

    frames: int = 0
    trades: int = 0
    quotes: int = 0
    book_updates: int = 0
    reconnects: int = 0
    gaps: int = 0
    recovered: int = 0
    written: int = 0
    duplicates: int = 0
    dropped: int = 0
    ipc_records: int = 0
    seconds: float = 0.0


class Server:
    """The running pipeline (see the module docstring); ``run`` until ``stop`` is set."""

    def __init__(
        self, settings: Settings, options: ServeOptions, store: TickStore | None = None
    ) -> None:
        if options.persist and store is None:
            raise ConfigError("serve --persist needs a tick store")
        self.settings = settings
        self.options = options
        self.store = store
        config = settings.data_manager
        self.adapters: list[VenueFeed] = [
            make_adapter(
                feed.provider,
                feed.symbols,
                getattr(settings.venues, feed.provider),
                demo=options.demo,
            )
            for feed in options.feeds
        ]
        self.writer = (
            StoreWriter(
                store,
                batch_size=config.writer.batch_size,
                flush_interval=config.writer.flush_interval_secs,
                max_pending=config.writer.max_pending,
            )
            if options.persist and store is not None
            else None
        )
        self.ring = None
        if options.ipc:
            from ticklane.ipc.writer import RingWriter  # only a serve --ipc maps the segment

            self.ring = RingWriter(config.ipc.name, capacity=config.ipc.capacity)
        self.recorders: dict[str, RecordingWriter] = {}  # venue -> its recording (--record)
        self._recorded: dict[str, int] = {}  # connection plan -> its number in the recording
        if options.record_dir is not None:
            for adapter in self.adapters:
                self.recorders[adapter.exchange] = RecordingWriter(
                    options.record_dir / adapter.exchange, adapter.exchange
                )
        self.runners = [
            FeedRunner(
                adapter,
                plan,
                self._publish,
                watchdog_secs=config.watchdog_secs,
                backoff=Backoff(config.reconnect_initial_secs, config.reconnect_max_secs),
                on_gap=self._store_gap,
                on_frame=self._record if self.recorders else None,
            )
            for adapter in self.adapters
            for plan in adapter.plans()
        ]
        self.gaps_stored = 0

    # -- sinks ---------------------------------------------------------------------------------

    def _publish(self, records: list[MarketRecord]) -> None:
        writer = self.writer
        if writer is not None:
            for record in records:
                if type(record) is TradeRecord or type(record) is QuoteRecord:
                    writer.submit(record)
        if self.ring is not None:
            self.ring.write_batch(records)

    async def _store_gap(self, gap: Gap) -> None:
        if self.store is not None and self.options.persist:
            await asyncio.to_thread(self.store.record_gap, gap)
            self.gaps_stored += 1

    def _record(self, plan: ConnectionPlan, frame: bytes | str, ts_recv: int) -> None:
        recorder = self.recorders[plan.name.partition("#")[0]]
        connection = self._recorded.get(plan.name)
        if connection is None:
            connection = self._recorded[plan.name] = recorder.open_connection(plan.url, ts_recv)
        recorder.write_received(connection, frame, ts_recv)

    # -- running ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> ServeSummary:
        began = time.monotonic()
        port = self.options.metrics_port
        port = self.settings.data_manager.metrics_port if port is None else port
        if port:
            serve_metrics(
                ServeCollector(
                    self.runners,
                    self.writer.stats if self.writer is not None else None,
                    self.ring,
                ),
                port,
            )
            log.info("metrics on http://127.0.0.1:%d/metrics", port)
        writer_task = asyncio.create_task(self.writer.run()) if self.writer else None
        tasks = [
            asyncio.create_task(runner.run(), name=runner.plan.name) for runner in self.runners
        ]
        for runner in self.runners:
            log.info("%s: streaming %s", runner.plan.name, ", ".join(runner.plan.symbols))
        stopping: asyncio.Task[object] = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [task for task in done if task is not stopping]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each stops reading
        stopping.cancel()
        try:
            async with asyncio.timeout(SHUTDOWN_SECS):
                await self._close(writer_task)
        except TimeoutError:
            log.error("stopping took longer than %.0f s: pending records lost", SHUTDOWN_SECS)
        summary = self.summary(time.monotonic() - began)
        for ended in failed:
            ended.result()  # a runner that ended on its own has an error to raise
        return summary

    async def _close(self, writer_task: asyncio.Task[None] | None) -> None:
        if self.writer is not None and writer_task is not None:
            await self.writer.close(writer_task)
        if self.ring is not None:
            self.ring.close()
        for recorder in self.recorders.values():
            recorder.close()
        for adapter in self.adapters:
            await adapter.aclose()

    def summary(self, seconds: float) -> ServeSummary:
        summary = ServeSummary(seconds=seconds, gaps=self.gaps_stored)
        for runner in self.runners:
            stats = runner.stats
            summary.frames += stats.frames
            summary.reconnects += sum(
                count for reason, count in stats.reconnects.items() if reason != "rotated"
            )
            summary.gaps = max(summary.gaps, sum(stats.gaps.values()))
            summary.recovered += sum(stats.recovered.values())
            for (_, kind), count in stats.records.items():
                if kind == "trade":
                    summary.trades += count
                elif kind == "quote":
                    summary.quotes += count
                else:
                    summary.book_updates += count
        if self.writer is not None:
            stats_w = self.writer.stats
            summary.written, summary.duplicates = stats_w.written, stats_w.duplicates
            summary.dropped = stats_w.dropped + stats_w.failed
        if self.ring is not None:
            summary.ipc_records = self.ring.records_written
        return summary


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (a second SIGINT still interrupts at once)."""
    loop = asyncio.get_running_loop()

    def first(sig: signal.Signals) -> None:
        log.info("%s: stopping", sig.name)
        stop.set()
        loop.remove_signal_handler(sig)  # the next one falls back to the default

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first, sig)


def check_symbols(provider: str, symbols: Sequence[str], known: set[str] | None) -> list[str]:
    """The symbols as the venue's adapter takes them, or ConfigError naming what is wrong:
    a malformed name, or (when the venue's instruments were discovered) an unknown one."""
    if provider not in PROVIDERS:
        raise ConfigError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    if not symbols:
        raise ConfigError(f"--symbols for {provider}: no symbol given")
    names = []
    for symbol in symbols:
        try:
            name = normalize_symbol(provider, symbol)
        except TicklaneError as error:
            raise ConfigError(f"--symbols: {error}") from None
        if known is not None and name not in known:
            close = sorted(k for k in known if k.startswith(name[:3]))[:8]
            hint = f"; similar: {', '.join(close)}" if close else ""
            raise ConfigError(
                f"--symbols: {symbol!r} is not a {provider} instrument "
                f"(from `data-manager symbol discover --provider {provider}`){hint}"
            )
        names.append(name)
    return names
