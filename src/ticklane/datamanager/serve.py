"""``data-manager serve``: live venue feeds into the tick store and the shared-memory ring.

    venue WebSocket ─▶ FeedRunner (parse, books, gap recovery) ─┬─▶ StoreWriter (--persist)
    recording (--provider replay) ─▶ ReplayRunner ───────────────┤─▶ RingWriter (--ipc)
                                                                ├─▶ metrics
                                                                └─▶ RecordingWriter (--record)

One process may serve several providers, each with its symbols; each provider's adapter may
open several connections (Binance: 1024 streams each). Trades and L1 quotes are persisted,
every record (books included) goes to the ring. Gaps the feeds could not fill are stored
(with ``--persist``) and counted. SIGINT and SIGTERM stop it cleanly: the feeds stop reading,
the recording is closed, what is pending is written and the ring closed, within
``SHUTDOWN_SECS``.

``--record DIR`` writes every frame the feeds read, with the receive time the parser was
given, to ``DIR/<venue>/`` (format: ``ticklane.venues.sim.recorder``); each new connection of a
feed (a reconnect) is opened anew in it. The files are flushed every second while serving and
finished on a clean stop, so a recording replays at once. A replay (``ServeOptions.replay``,
``ticklane.datamanager.replay``) feeds such a recording through the same parser and sinks
and stops by itself at its end.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final, cast

import msgspec

from ticklane.config.settings import Settings
from ticklane.core.errors import ConfigError, TicklaneError
from ticklane.core.records import MarketRecord, QuoteRecord, TradeRecord
from ticklane.datamanager.metrics import ServeCollector, serve_metrics
from ticklane.datamanager.replay import ReplayRunner, open_recording
from ticklane.datamanager.writer import StoreWriter
from ticklane.storage.base import Gap, TickStore
from ticklane.venues.discovery import PROVIDERS, normalize_symbol
from ticklane.venues.feed import Backoff, ConnectionPlan, FeedRunner
from ticklane.venues.feed_adapters import VenueFeed, make_adapter
from ticklane.venues.sim.recorder import RecordingWriter
from ticklane.venues.sim.recordings import Recording

log = logging.getLogger(__name__)

SHUTDOWN_SECS: Final = 15.0  # longest a clean stop may take (the writer's flush included)
RECORD_FLUSH_SECS: Final = 1.0  # --record: at most this much is lost if the process dies


class FeedRequest(msgspec.Struct, frozen=True):
    """One provider and the symbols to stream from it, as the venue names them."""

    provider: str
    symbols: tuple[str, ...]


class ReplaySource(msgspec.Struct, frozen=True):
    """``--provider replay``: the recording to play and how.

    Options:
        file: a recording file, a directory of rotated ``--record`` files, or any format
            ``open_recording`` reads; the venue is the recording's.
        speed: 1 keeps the recorded pace, 0 plays as fast as the pipeline takes it.
        symbols: publish only these (as the venue's records name them); empty: all.
    """

    file: Path
    speed: float = 0.0
    symbols: tuple[str, ...] = ()


class ServeOptions(msgspec.Struct, frozen=True):
    """What ``data-manager serve`` runs.

    Options:
        feeds: the live providers and their symbols (empty for a replay).
        replay: play a recording instead of connecting to venues.
        ipc: write every record to the shared-memory ring.
        persist: store trades and quotes in the tick store.
        demo: the venues' test environments.
        record_dir: record every received frame under ``record_dir/<venue>/`` (live only).
        metrics_port: Prometheus port; None: the configured one, 0: none.
    """

    feeds: tuple[FeedRequest, ...] = ()
    replay: ReplaySource | None = None
    ipc: bool = False
    persist: bool = False
    demo: bool = False
    record_dir: Path | None = None
    metrics_port: int | None = None


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
    # A replay: requests a live feed would have sent the venue, recorded book snapshots used,
    # books left without one, and whether the whole recording was played.
    venue_requests: int = 0
    snapshots_replayed: int = 0
    unsynced_books: int = 0
    replay_finished: bool = False


class Server:
    """The running pipeline (see the module docstring); ``run`` until ``stop`` is set, or until
    the replay ends.

    ``recording``: the replay's recording when the caller already read it (to check it before
    anything is written); else ``options.replay.file`` is read here.
    """

    def __init__(
        self,
        settings: Settings,
        options: ServeOptions,
        store: TickStore | None = None,
        *,
        recording: Recording | None = None,
    ) -> None:
        if options.persist and store is None:
            raise ConfigError("serve --persist needs a tick store")
        if options.replay is not None and (options.feeds or options.record_dir is not None):
            raise ConfigError("serve: a replay takes no live feeds and no --record")
        if options.replay is None and not options.feeds:
            raise ConfigError("serve: no provider to stream from")
        self.settings = settings
        self.options = options
        self.store = store
        config = settings.data_manager
        feeds = options.feeds
        if options.replay is not None:
            if recording is None:
                recording = open_recording(options.replay.file)
            feeds = (FeedRequest(str(recording.venue), options.replay.symbols),)
        self.adapters: list[VenueFeed] = [
            make_adapter(
                feed.provider,
                feed.symbols,
                getattr(settings.venues, feed.provider),
                demo=options.demo,
            )
            for feed in feeds
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
        # plan name -> (its connection's number in the recording, the runner's session then)
        self._recorded: dict[str, tuple[int, int]] = {}
        if options.record_dir is not None:
            for adapter in self.adapters:
                self.recorders[adapter.exchange] = RecordingWriter(
                    options.record_dir / adapter.exchange, adapter.exchange
                )
        self.feed_runners = self._feed_runners() if options.replay is None else []
        self._feed_of = {runner.plan.name: runner for runner in self.feed_runners}
        self.replay_runner: ReplayRunner | None = None
        if options.replay is not None and recording is not None:
            self.replay_runner = ReplayRunner(
                self.adapters[0],
                recording,
                self._publish,
                speed=options.replay.speed,
                symbols=options.replay.symbols,
                hold=self._writer_behind,
            )
        self.runners: list[FeedRunner | ReplayRunner] = [*self.feed_runners]
        if self.replay_runner is not None:
            self.runners.append(self.replay_runner)
        self.gaps_stored = 0

    def _feed_runners(self) -> list[FeedRunner]:
        config = self.settings.data_manager
        return [
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
        # A runner counts a reconnect as each connection ends, so a new count means this frame
        # came on a new connection: it is opened anew in the recording, and a replay resets
        # the books there as the live runner did.
        session = self._feed_of[plan.name].stats.reconnects.total()
        known = self._recorded.get(plan.name)
        if known is not None and known[1] == session:
            connection = known[0]
        else:
            if known is not None:
                recorder.close_connection(known[0])
            connection = recorder.open_connection(plan.url, ts_recv)
            self._recorded[plan.name] = (connection, session)
        recorder.write_received(connection, frame, ts_recv)

    def _writer_behind(self) -> bool:
        """A replay waits while this holds: the store writer has several batches pending."""
        writer = self.writer
        if writer is None:
            return False
        config = self.settings.data_manager.writer
        return writer.stats.pending >= min(2 * config.batch_size, config.max_pending // 2)

    async def _flush_recordings(self) -> None:
        """Make the recording readable up to now, every ``RECORD_FLUSH_SECS`` (a gzip sync
        point: a replay or a reader can follow it while serving, and a crash loses little)."""
        while True:
            await asyncio.sleep(RECORD_FLUSH_SECS)
            for venue, recorder in self.recorders.items():
                try:
                    recorder.flush()
                except OSError as error:  # a full disk: the next write fails the feed anyway
                    log.error("%s: flushing the recording failed: %s", venue, error)

    # -- running ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> ServeSummary:
        began = time.monotonic()
        port = self.options.metrics_port
        port = self.settings.data_manager.metrics_port if port is None else port
        if port:
            serve_metrics(
                # The collector reads only ``stats`` and ``parser``, which both runners have.
                ServeCollector(
                    cast("list[FeedRunner]", self.runners),
                    self.writer.stats if self.writer is not None else None,
                    self.ring,
                ),
                port,
            )
            log.info("metrics on http://127.0.0.1:%d/metrics", port)
        writer_task = asyncio.create_task(self.writer.run()) if self.writer else None
        flusher = asyncio.create_task(self._flush_recordings()) if self.recorders else None
        tasks = [
            asyncio.create_task(runner.run(), name=runner.plan.name) for runner in self.runners
        ]
        for runner in self.feed_runners:
            log.info("%s: streaming %s", runner.plan.name, ", ".join(runner.plan.symbols))
        if self.replay_runner is not None:
            recording = self.replay_runner.recording
            log.info("%s: replaying %s (%s, %d events)", self.replay_runner.plan.name,
                     recording.path, recording.format, len(recording.events))  # fmt: skip
        stopping: asyncio.Task[object] = asyncio.create_task(stop.wait())
        # A live runner only ends by failing; a replay ends at the end of its recording.
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        ended = [task for task in done if task is not stopping]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each stops reading
        stopping.cancel()
        if flusher is not None:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
        try:
            async with asyncio.timeout(SHUTDOWN_SECS):
                await self._close(writer_task)
        except TimeoutError:
            log.error("stopping took longer than %.0f s: pending records lost", SHUTDOWN_SECS)
        summary = self.summary(time.monotonic() - began)
        for finished in ended:
            finished.result()  # a live runner that ended on its own raises its error here
        return summary

    async def _close(self, writer_task: asyncio.Task[None] | None) -> None:
        # The recording first: finishing its files is quick, and must not wait on a store
        # flush that may outlast SHUTDOWN_SECS.
        for recorder in self.recorders.values():
            recorder.close()
        if self.writer is not None and writer_task is not None:
            await self.writer.close(writer_task)
        if self.ring is not None:
            self.ring.close()
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
        if self.replay_runner is not None:
            replay = self.replay_runner.replay
            summary.venue_requests = replay.not_replayable.total()
            summary.snapshots_replayed = replay.snapshots_applied
            summary.unsynced_books = len(replay.unsynced_books)
            summary.replay_finished = replay.finished
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
