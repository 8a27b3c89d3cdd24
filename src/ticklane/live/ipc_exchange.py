"""``IpcExchange``: the trading process's view of the market, read from data-manager's ring.

A reader thread attaches to the shared-memory ring ``data-manager serve --ipc`` writes
(waiting while there is none: data-manager may start later), reads records in batches and
calls the subscribed callbacks with each record, synchronously, in ring order. The thread
follows the writer: a restarted writer (new generation) or a writer that died and came back
counts one reconnection; while no writer is alive the exchange reports itself disconnected.
Records a slow consumer let the ring overwrite are counted (``lost``), never invented.

The callbacks run on the reader thread. The market-data service hands the records to its
event loop from there (``loop.call_soon_threadsafe``) into a bounded channel; when that
channel is full the callback blocks the reader thread, so a slow consumer shows up as ring
overrun at the reader, counted, and never as unbounded memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, Literal

from ticklane.core.errors import TransientError
from ticklane.core.records import BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.ipc.reader import RingReader
from ticklane.ipc.wait import PollMode

log = logging.getLogger(__name__)

_BATCH: Final = 256  # records per read: amortises the reader's per-call cost
_READ_TIMEOUT_S: Final = 0.1  # how often the thread looks up from waiting (stop, liveness)
_ATTACH_RETRY_S: Final = 0.2

TradeCallback = Callable[[TradeRecord], None]
QuoteCallback = Callable[[QuoteRecord], None]
BookCallback = Callable[[BookRecord], None]


class IpcStats:
    """What the exchange saw; trading-core's metrics and alert rules read these."""

    __slots__ = ("connected", "lost", "reconnections", "records", "restarts")

    def __init__(self) -> None:
        self.connected = False  # a writer is alive and the ring is attached
        self.reconnections = 0  # writer restarts or returns after being gone
        self.records = 0
        self.lost = 0  # records overwritten before they were read
        self.restarts = 0


class IpcExchange:
    """Market data from the shared-memory ring (see the module docstring).

    Options:
        name: the ring's segment name or path (``[data_manager.ipc] name``).
        poll: ``PollMode.ADAPTIVE`` (default: spins briefly, then naps) or ``PollMode.BUSY``
            (lowest latency, a whole core).
        start: ``"latest"`` (only what arrives from now on) or ``"oldest"`` (what the ring
            still holds first).
    """

    def __init__(
        self,
        name: str,
        *,
        poll: PollMode = PollMode.ADAPTIVE,
        start: Literal["latest", "oldest"] = "latest",
    ) -> None:
        self.name = name
        self.stats = IpcStats()
        self._poll = poll
        self._start = start
        self._trades: list[TradeCallback] = []
        self._quotes: list[QuoteCallback] = []
        self._books: list[BookCallback] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # why the reader thread ended, if it failed

    def subscribe_trades(self, callback: TradeCallback) -> None:
        self._trades.append(callback)

    def subscribe_quotes(self, callback: QuoteCallback) -> None:
        self._quotes.append(callback)

    def subscribe_book(self, callback: BookCallback) -> None:
        self._books.append(callback)

    def start(self) -> None:
        """Start the reader thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"ipc-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading (a callback in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the reader thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                reader = self._attach()
                if reader is None:
                    return
                try:
                    self._read(reader)
                finally:
                    reader.close()
        except BaseException as error:  # reported by the owner, who watches `error`
            self.error = error
            log.exception("ipc %s: the reader stopped", self.name)
        finally:
            self.stats.connected = False

    def _attach(self) -> RingReader | None:
        waited = False
        while not self._stop.is_set():
            try:
                # No spinning before the short sleeps: a spin holds the GIL, and right after a
                # record the event loop thread needs it to act on that record.
                reader = RingReader(
                    self.name, start=self._start, attach_timeout=0.0, poll=self._poll, spin_us=0.0
                )
            except TransientError:  # no segment yet: data-manager has not started
                if not waited:
                    log.info("ipc %s: waiting for data-manager serve --ipc", self.name)
                    waited = True
                time.sleep(_ATTACH_RETRY_S)
                continue
            log.info("ipc %s: attached (writer pid %d)", self.name, reader.writer_pid)
            return reader
        return None

    def _read(self, reader: RingReader) -> None:
        stats = self.stats
        alive_before = reader.writer_alive
        stats.connected = alive_before
        restarts_before = reader.restarts
        trades, quotes, books = self._trades, self._quotes, self._books
        while not self._stop.is_set():
            batch = reader.read_batch(_BATCH, _READ_TIMEOUT_S)
            if batch:
                stats.records += len(batch)
                self._dispatch(batch, trades, quotes, books)
            stats.lost = reader.lost
            if reader.restarts != restarts_before:
                stats.reconnections += reader.restarts - restarts_before
                stats.restarts = reader.restarts
                restarts_before = reader.restarts
                log.warning("ipc %s: data-manager restarted; following it", self.name)
            if not batch:
                alive = reader.writer_alive
                if alive != alive_before:
                    if alive:
                        stats.reconnections += 1
                        log.info("ipc %s: data-manager is back", self.name)
                    else:
                        log.warning("ipc %s: data-manager is gone; waiting", self.name)
                    alive_before = alive
                stats.connected = alive

    @staticmethod
    def _dispatch(
        batch: list[MarketRecord],
        trades: list[TradeCallback],
        quotes: list[QuoteCallback],
        books: list[BookCallback],
    ) -> None:
        for record in batch:
            kind = type(record)
            if kind is TradeRecord:
                for trade_callback in trades:
                    trade_callback(record)  # type: ignore[arg-type]
            elif kind is QuoteRecord:
                for quote_callback in quotes:
                    quote_callback(record)  # type: ignore[arg-type]
            else:
                for book_callback in books:
                    book_callback(record)  # type: ignore[arg-type]
