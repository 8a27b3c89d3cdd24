"""``IpcExchange``: the trading process's view of the market, read from data-manager's ring.

The exchange attaches to the shared-memory ring ``data-manager serve --ipc`` writes (waiting
while there is none: data-manager may start later), reads records in batches and calls the
subscribed callbacks with each record, synchronously, in ring order. It follows the writer: a
restarted writer (new generation) or a writer that died and came back counts one
reconnection; while no writer is alive the exchange reports itself disconnected. Records a
slow consumer let the ring overwrite are counted (``lost``), never invented.

Who reads, chosen by ``start``:

- started inside an event loop made by ``ipc.loop.polling_loop`` (trading-core live's), the
  loop's selector polls the ring while the loop waits, and the callbacks run on the loop's
  thread: no thread hand-off, no wake-up per record (see ``ipc.loop``). No more records are
  read than ``accepting`` says the consumer has room for: the rest wait in the ring, and a
  consumer that stays behind shows up as ring overrun, counted.
- anywhere else, a reader thread polls and the callbacks run on it. The market-data service
  hands the records to its event loop from there (``loop.call_soon_threadsafe``) into a
  bounded channel; when that channel is full the callback blocks the reader thread, so a slow
  consumer shows up as ring overrun as well, never as unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Final, Literal

from ticklane.core.errors import TransientError
from ticklane.core.records import BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.ipc.loop import PollingSelector, selector_of
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
        self._poll_mode = poll
        self._waiting_logged = False
        self._start = start
        self._trades: list[TradeCallback] = []
        self._quotes: list[QuoteCallback] = []
        self._books: list[BookCallback] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._selector: PollingSelector | None = None  # polled by the event loop instead
        self._reader: RingReader | None = None  # the loop's reader, once attached
        self._next_attach = 0.0  # monotonic time of the loop's next attach attempt
        self._next_check = 0.0  # ... and of its next look at the writer (liveness)
        self._alive_before = False
        self._restarts_before = 0
        self.error: BaseException | None = None  # why reading ended, if it failed
        # Polled by the event loop: how many records the consumer takes now (None: any).
        self.accepting: Callable[[], int] | None = None

    def subscribe_trades(self, callback: TradeCallback) -> None:
        self._trades.append(callback)

    def subscribe_quotes(self, callback: QuoteCallback) -> None:
        self._quotes.append(callback)

    def subscribe_book(self, callback: BookCallback) -> None:
        self._books.append(callback)

    @property
    def polled_by_loop(self) -> bool:
        """Whether the event loop reads the ring (callbacks on its thread), not a thread."""
        return self._selector is not None

    def start(self) -> None:
        """Start reading: by the running event loop's selector when it is a polling one,
        else by a reader thread (see the module docstring)."""
        if self._thread is not None or self._selector is not None:
            return
        try:
            selector = selector_of(asyncio.get_running_loop())
        except RuntimeError:  # no running loop
            selector = None
        if selector is not None:
            self._selector = selector
            selector.add_poller(self._poll)
            return
        self._thread = threading.Thread(target=self._run, name=f"ipc-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading (a callback in progress finishes first). From any thread: a polling
        loop's selector drops the exchange at its next poll."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- polled by the event loop ----------------------------------------------------------------

    def _poll(self) -> bool:
        """One look at the ring, on the loop's thread: True when records were handed out."""
        if self._stop.is_set():
            self._end_polling()
            return False
        try:
            reader = self._reader
            if reader is None:
                reader = self._reader = self._attach_now()
                if reader is None:
                    return False
            room = _BATCH if self.accepting is None else min(_BATCH, self.accepting())
            if room <= 0:
                return False  # the consumer is full: the records wait in the ring
            batch = reader.read_batch(room, 0)
            if batch:
                self.stats.records += len(batch)
                self._dispatch(batch, self._trades, self._quotes, self._books)
                self._after_batch(reader)
                return True
            now = time.monotonic()
            if now >= self._next_check:  # writer liveness costs system calls: not every poll
                self._next_check = now + _READ_TIMEOUT_S
                self._after_batch(reader)
                self._after_empty_read(reader)
            return False
        except Exception as error:  # reported by the owner, who watches `error`
            self.error = error
            log.exception("ipc %s: reading stopped", self.name)
            self._end_polling()
            return False

    def _attach_now(self) -> RingReader | None:
        """Attach without waiting, at most every ``_ATTACH_RETRY_S``."""
        now = time.monotonic()
        if now < self._next_attach:
            return None
        self._next_attach = now + _ATTACH_RETRY_S
        reader = self._try_attach()
        if reader is not None:
            self._begin(reader)
        return reader

    def _end_polling(self) -> None:
        if self._selector is not None:
            self._selector.remove_poller(self._poll)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.stats.connected = False

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
        while not self._stop.is_set():
            reader = self._try_attach()
            if reader is not None:
                return reader
            time.sleep(_ATTACH_RETRY_S)
        return None

    def _read(self, reader: RingReader) -> None:
        self._begin(reader)
        trades, quotes, books = self._trades, self._quotes, self._books
        while not self._stop.is_set():
            batch = reader.read_batch(_BATCH, _READ_TIMEOUT_S)
            if batch:
                self.stats.records += len(batch)
                self._dispatch(batch, trades, quotes, books)
            self._after_batch(reader)
            if not batch:
                self._after_empty_read(reader)

    # -- following the writer (both ways of reading) ---------------------------------------------

    def _try_attach(self) -> RingReader | None:
        """A reader on the ring, or None while there is none (said once per wait)."""
        try:
            # No spinning before the short sleeps: a spin holds the GIL, and right after a
            # record the event loop thread needs it to act on that record.
            reader = RingReader(
                self.name, start=self._start, attach_timeout=0.0, poll=self._poll_mode, spin_us=0.0
            )
        except TransientError:  # no segment yet: data-manager has not started
            if not self._waiting_logged:
                log.info("ipc %s: waiting for data-manager serve --ipc", self.name)
                self._waiting_logged = True
            return None
        self._waiting_logged = False
        log.info("ipc %s: attached (writer pid %d)", self.name, reader.writer_pid)
        return reader

    def _begin(self, reader: RingReader) -> None:
        self._alive_before = self.stats.connected = reader.writer_alive
        self._restarts_before = reader.restarts

    def _after_batch(self, reader: RingReader) -> None:
        stats = self.stats
        stats.lost = reader.lost
        if reader.restarts != self._restarts_before:
            stats.reconnections += reader.restarts - self._restarts_before
            stats.restarts = self._restarts_before = reader.restarts
            log.warning("ipc %s: data-manager restarted; following it", self.name)

    def _after_empty_read(self, reader: RingReader) -> None:
        """Nothing came: is the writer still there, or back?"""
        alive = reader.writer_alive
        if alive != self._alive_before:
            if alive:  # a restart is counted once, by the new ring generation (_after_batch)
                log.info("ipc %s: data-manager is back", self.name)
            else:
                log.warning("ipc %s: data-manager is gone; waiting", self.name)
            self._alive_before = alive
        self.stats.connected = alive

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
