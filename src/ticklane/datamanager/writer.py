"""The batched store writer of ``data-manager serve --persist``: live trades and quotes in,
rows in the tick store out, without ever holding up the feed.

The feed calls ``submit`` for each record; it returns at once. A flusher task writes what is
pending once ``batch_size`` records are waiting or ``flush_interval`` seconds have passed,
grouped per instrument into the columnar batches the store ingests fastest, in a worker
thread (the store is synchronous) so the event loop and its sockets keep running.

When the store falls behind or fails, records wait in memory up to ``max_pending``; beyond
that ``submit`` drops the record, counts it and logs the drops at most once per
``log_interval`` seconds: the feed keeps flowing and the loss is reported, never silent. A
batch the store refused with a transient error is retried after ``retry_delay`` seconds; one
it keeps refusing is counted as failed and logged, and writing goes on with the next.

While it runs the writer lowers the interpreter's thread switch interval to
``switch_interval`` (restored when it stops). A store write is a dozen round trips to the
database, and after each one the worker thread waits for the GIL, which a busy event loop
hands over only every switch interval (5 ms by default): at 40,000 frames/s serve's store fell
behind at 14,000 rows/s with the default, and kept up at 0.5 ms (``benchmarks/bench_serve``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import defaultdict, deque
from contextlib import suppress
from typing import Final

import numpy as np

from ticklane.core.columnar import QUOTE_DTYPE, TRADE_DTYPE, QuoteColumns, TradeColumns
from ticklane.core.errors import StorageError, TicklaneError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.records import QuoteRecord, TradeRecord
from ticklane.datamanager.live_provenance import LiveProvenance
from ticklane.storage.base import InsertResult, TickStore

log = logging.getLogger(__name__)

_ATTEMPTS: Final = 3  # tries per batch before it is given up (and counted as failed)


class WriterStats:
    """What the writer did; the metrics endpoint exports these."""

    __slots__ = ("batches", "dropped", "duplicates", "failed", "pending", "rejected", "written")

    def __init__(self) -> None:
        self.written = 0  # rows the store stored
        self.duplicates = 0  # rows the store already had (a replay, an overlap)
        self.rejected = 0  # rows the store refused as invalid
        self.failed = 0  # rows given up after the store kept failing
        self.dropped = 0  # records never queued: the queue was full
        self.batches = 0  # successful store writes
        self.pending = 0  # records waiting now


class StoreWriter:
    """Batches trades and quotes into ``store`` (see the module docstring)."""

    def __init__(
        self,
        store: TickStore,
        *,
        batch_size: int = 5_000,
        flush_interval: float = 0.5,
        max_pending: int = 1_000_000,
        retry_delay: float = 1.0,
        log_interval: float = 10.0,
        switch_interval: float | None = 0.0005,
    ) -> None:
        if batch_size < 1 or max_pending < batch_size:
            raise ValueError("writer: need 1 <= batch_size <= max_pending")
        self._store = store
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._retry_delay = retry_delay
        self._log_interval = log_interval
        self._switch_interval = switch_interval  # None: the interpreter's is left alone
        self._pending: deque[TradeRecord | QuoteRecord] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._last_drop_log = 0.0
        self._dropped_since_log = 0
        self._provenance = LiveProvenance(store)
        self.stats = WriterStats()

    def submit(self, record: TradeRecord | QuoteRecord) -> bool:
        """Queue ``record`` for the store; False when the queue is full (it is then dropped)."""
        pending = self._pending
        if len(pending) >= self._max_pending:
            self._drop()
            return False
        pending.append(record)
        self.stats.pending = len(pending)
        if len(pending) >= self._batch_size:
            self._wake.set()
        return True

    async def run(self) -> None:
        """Flush until ``close`` is called, then flush what is left."""
        previous = sys.getswitchinterval()
        if self._switch_interval is not None:
            sys.setswitchinterval(min(previous, self._switch_interval))
        try:
            while not (self._closing and not self._pending):
                if not self._closing and len(self._pending) < self._batch_size:
                    with suppress(TimeoutError):  # a full batch wakes it early
                        async with asyncio.timeout(self._flush_interval):
                            await self._wake.wait()
                self._wake.clear()
                due = len(self._pending)  # what is pending now; later arrivals wait their turn
                while due > 0 and self._pending:
                    due -= await self._flush_one_batch()
        finally:
            sys.setswitchinterval(previous)
            await asyncio.to_thread(self._provenance.close)

    async def close(self, runner: asyncio.Task[None]) -> None:
        """Write everything pending and let ``runner`` (the task of ``run``) finish."""
        self._closing = True
        self._wake.set()
        await runner

    # -- writing -------------------------------------------------------------------------------

    async def _flush_one_batch(self) -> int:
        """Write up to ``batch_size`` of the oldest records; return how many were taken."""
        pending = self._pending
        count = min(len(pending), self._batch_size)
        batch = [pending.popleft() for _ in range(count)]
        self.stats.pending = len(pending)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                result = await asyncio.to_thread(_write, self._store, batch, self._provenance)
            except StorageError as error:
                if attempt == _ATTEMPTS:
                    self.stats.failed += len(batch)
                    log.error(
                        "store writer: gave up %d records after %d tries: %s",
                        len(batch),
                        attempt,
                        error,
                    )
                    return count
                log.warning("store writer: %s; retrying in %.1f s", error, self._retry_delay)
                await asyncio.sleep(self._retry_delay)
            except TicklaneError as error:  # bad data: retrying would not help
                self.stats.failed += len(batch)
                log.error("store writer: %d records refused: %s", len(batch), error)
                return count
            else:
                self.stats.written += result.inserted
                self.stats.duplicates += result.duplicates
                self.stats.rejected += len(result.rejected)
                self.stats.batches += 1
                for row_error in result.rejected[:3]:
                    log.warning("store writer: row refused: %s", row_error)
                return count
        return count

    def _drop(self) -> None:
        self.stats.dropped += 1
        self._dropped_since_log += 1
        now = time.monotonic()
        if now - self._last_drop_log >= self._log_interval:
            log.error(
                "store writer: %d records dropped (%d in all): the store is %d records behind",
                self._dropped_since_log,
                self.stats.dropped,
                len(self._pending),
            )
            self._last_drop_log = now
            self._dropped_since_log = 0


def _write(
    store: TickStore, batch: list[TradeRecord | QuoteRecord], provenance: LiveProvenance
) -> InsertResult:
    """Write one batch, as columnar batches per instrument (runs in a worker thread)."""
    trades: defaultdict[InstrumentId, list[tuple[int, int, int, int, int, bool]]] = defaultdict(
        list
    )
    quotes: defaultdict[InstrumentId, list[tuple[int, int, int, int, int, int]]] = defaultdict(list)
    for record in batch:
        instrument = InstrumentId(record.exchange, record.symbol)
        if isinstance(record, TradeRecord):
            trades[instrument].append(
                (
                    record.ts_event,
                    record.trade_id,
                    record.price,
                    record.quantity,
                    record.side,
                    record.side == Side.SELL,  # the seller was the aggressor: the buyer made
                )
            )
        else:
            quotes[instrument].append(
                (
                    record.ts_event,
                    record.sequence,
                    record.bid_price,
                    record.bid_size,
                    record.ask_price,
                    record.ask_size,
                )
            )
    result = InsertResult(0, 0, 0)
    for instrument, trade_rows in trades.items():
        data = np.array(trade_rows, dtype=TRADE_DTYPE)
        stored = store.insert_trades(TradeColumns(instrument, data))
        times = data["ts_event"]
        provenance.stored(instrument, int(times.min()), int(times.max()), stored.inserted)
        result = result + stored
    for instrument, quote_rows in quotes.items():
        data = np.array(quote_rows, dtype=QUOTE_DTYPE)
        result = result + store.insert_quotes(QuoteColumns(instrument, data))
    return result
