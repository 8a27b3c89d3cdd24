"""The batched writer of ``live_strategy_log``: paper-trading rows in, store transactions out,
without ever holding up trading.

The trader calls ``submit`` with a *unit*: the rows one event produced (a signal with its
order; a fill with the account state after it). ``submit`` returns at once. A flusher task
owned by the writer writes what is pending once ``batch_rows`` rows are waiting or
``flush_interval`` seconds have passed, in a worker thread (the store is synchronous), and
always whole units: a unit is never split across two store transactions, so a fill is stored
if and only if the state row written with it is.

A batch the store refused with a ``StorageError`` is retried after ``retry_delay`` seconds, up
to ``attempts`` tries; writing it again is harmless, because every row carries its session's
``(run_id, seq)`` and the store skips rows it already has (a commit whose answer was lost).
A batch the store keeps refusing is counted as failed and logged, and writing goes on with
the next. While the store is slow, rows wait in memory up to ``max_pending_rows``; beyond
that whole units are dropped, counted and logged at most once per ``log_interval`` seconds.

This is the flush loop of ``ticklane.datamanager.writer.StoreWriter`` (same options, same
``WriterStats``) for rows that must stay together, instead of trades grouped per instrument.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress

from ticklane.core.errors import StorageError, TicklaneError
from ticklane.datamanager.writer import WriterStats
from ticklane.storage.base import StrategyLogRow, TickStore

log = logging.getLogger(__name__)


class StrategyLogWriter:
    """Writes strategy-log units to ``store`` in batches (see the module docstring).

    Options:
        batch_rows: rows that trigger a write at once (a batch may exceed it by one unit).
        flush_interval: seconds after which pending rows are written anyway.
        max_pending_rows: rows kept waiting while the store is slow; more are dropped.
        retry_delay: seconds between tries of a batch the store refused.
        attempts: tries per batch before it is given up (counted in ``stats.failed``).
        log_interval: seconds between two log lines about dropped rows.
    """

    def __init__(
        self,
        store: TickStore,
        *,
        batch_rows: int = 500,
        flush_interval: float = 1.0,
        max_pending_rows: int = 100_000,
        retry_delay: float = 1.0,
        attempts: int = 3,
        log_interval: float = 10.0,
    ) -> None:
        if batch_rows < 1 or max_pending_rows < batch_rows:
            raise ValueError("strategy log: need 1 <= batch_rows <= max_pending_rows")
        if attempts < 1:
            raise ValueError("strategy log: need attempts >= 1")
        self._store = store
        self._batch_rows = batch_rows
        self._flush_interval = flush_interval
        self._max_pending = max_pending_rows
        self._retry_delay = retry_delay
        self._attempts = attempts
        self._log_interval = log_interval
        self._units: deque[tuple[StrategyLogRow, ...]] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last_drop_log = 0.0
        self._dropped_since_log = 0
        # Counts rows; ``pending`` is rows not yet written or given up (in flight included).
        self.stats = WriterStats()

    # -- what the trader calls -------------------------------------------------------------------

    def submit(self, rows: Sequence[StrategyLogRow]) -> bool:
        """Queue one unit (stored in one transaction); False when it was dropped (queue full)."""
        if not rows:
            return True
        stats = self.stats
        if stats.pending + len(rows) > self._max_pending:
            self._drop(len(rows))
            return False
        self._units.append(tuple(rows))
        stats.pending += len(rows)
        if stats.pending >= self._batch_rows:
            self._wake.set()
        return True

    def start(self) -> None:
        """Start the flusher task (in the running event loop); the writer owns it."""
        if self._task is not None:
            raise RuntimeError("strategy log writer already started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="strategy-log-writer")
        self._task.add_done_callback(_log_failure)

    async def close(self) -> None:
        """Write everything pending (retrying as usual), then stop the flusher task."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            await self._run()  # never started: write what is pending here
        else:
            await self._task

    @property
    def pending_rows(self) -> int:
        return self.stats.pending

    # -- the flusher -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not (self._closing and not self._units):
            if not self._closing and self.stats.pending < self._batch_rows:
                with suppress(TimeoutError):  # a full batch wakes it early
                    async with asyncio.timeout(self._flush_interval):
                        await self._wake.wait()
            self._wake.clear()
            due = len(self._units)  # what is pending now; later units wait their turn
            while due > 0 and self._units:
                due -= await self._flush_one_batch()

    async def _flush_one_batch(self) -> int:
        """Write the oldest whole units, up to ``batch_rows`` rows; return how many units."""
        units = self._units
        batch: list[StrategyLogRow] = list(units.popleft())
        taken = 1
        while units and len(batch) + len(units[0]) <= self._batch_rows:
            batch.extend(units.popleft())
            taken += 1
        try:
            await self._write(batch)
        finally:  # rows count as pending until written or given up
            self.stats.pending -= len(batch)
        return taken

    async def _write(self, batch: list[StrategyLogRow]) -> None:
        stats = self.stats
        for attempt in range(1, self._attempts + 1):
            try:
                inserted = await asyncio.to_thread(self._store.append_strategy_log, batch)
            except StorageError as error:
                if attempt == self._attempts:
                    stats.failed += len(batch)
                    log.error(
                        "strategy log: gave up %d rows of %s after %d tries: %s",
                        len(batch),
                        batch[0].strategy_id,
                        attempt,
                        error,
                    )
                    return
                log.warning("strategy log: %s; retrying in %.1f s", error, self._retry_delay)
                await asyncio.sleep(self._retry_delay)
            except TicklaneError as error:  # bad rows: retrying would not help
                stats.failed += len(batch)
                log.error("strategy log: %d rows refused: %s", len(batch), error)
                return
            else:
                stats.written += inserted
                stats.duplicates += len(batch) - inserted
                stats.batches += 1
                return

    def _drop(self, rows: int) -> None:
        self.stats.dropped += rows
        self._dropped_since_log += rows
        now = time.monotonic()
        if now - self._last_drop_log >= self._log_interval:
            log.error(
                "strategy log: %d rows dropped (%d in all): the store is %d rows behind",
                self._dropped_since_log,
                self.stats.dropped,
                self.stats.pending,
            )
            self._last_drop_log = now
            self._dropped_since_log = 0


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("strategy log writer stopped: %r", error, exc_info=error)
