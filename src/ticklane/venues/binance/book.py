"""Binance's diff-depth + REST-snapshot book sync (protocols.md 1.3) as a state machine.

No I/O happens here: the parser feeds it diffs (``on_diff``) and the snapshots the feed runner
fetched (``on_snapshot``); ``needs_snapshot`` says when a (new) snapshot must be fetched. Every
accepted change is returned as ``BookRecord``s (framing: ``venues.book``).

States: ``WAITING`` (no valid book; diffs are buffered, a snapshot is needed) and ``SYNCED``.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Final

from ticklane.core.errors import BadDataError
from ticklane.core.records import BookFlags, BookRecord
from ticklane.venues.binance.schemas import DepthSnapshot, DepthUpdate, Level
from ticklane.venues.book import ASK, BID, Book, book_level, clear_record, mark_last
from ticklane.venues.numbers import NANOS_PER_MILLI, ScaledMemo, price_raw, quantity_raw

EXCHANGE: Final = "binance"
DEFAULT_MAX_BUFFER: Final = 10_000  # ~17 min of @depth@100ms while a snapshot is fetched
_SNAPSHOT = int(BookFlags.SNAPSHOT)


class SyncState(StrEnum):
    WAITING = "waiting"  # buffering diffs until a snapshot that connects to them arrives
    SYNCED = "synced"


class DiffOutcome(StrEnum):
    APPLIED = "applied"
    BUFFERED = "buffered"  # waiting for a snapshot
    STALE = "stale"  # u <= book id: already in the book
    GAP = "gap"  # U > book id + 1: updates were missed; the book was dropped


class SnapshotOutcome(StrEnum):
    SYNCED = "synced"
    TOO_OLD = "too_old"  # older than the first buffered diff: fetch another one
    IGNORED = "ignored"  # the book is already synced


class BinanceBookSync:
    """The local book of one symbol and the rules that keep it in step with Binance.

    ``time_unit_ns`` is 1,000,000 for the default millisecond stream times, 1,000 when the
    stream URL asked for ``timeUnit=MICROSECOND``.
    """

    def __init__(
        self,
        symbol: str,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        time_unit_ns: int = NANOS_PER_MILLI,
    ) -> None:
        self.symbol = symbol
        self.book = Book()
        self.state = SyncState.WAITING
        self.book_id = 0  # lastUpdateId of the snapshot, then u of the last applied diff
        self.snapshot_requested = False
        self.gaps = 0
        self.stale_snapshots = 0
        self.buffer_overflows = 0
        self.bad_levels = 0  # levels left out or removed: not representable (venues.book)
        self._buffer: deque[tuple[DepthUpdate, int]] = deque(maxlen=max_buffer)
        self._unit = time_unit_ns
        self._prices = ScaledMemo(price_raw)
        self._sizes = ScaledMemo(quantity_raw)

    @property
    def needs_snapshot(self) -> bool:
        """True when a snapshot is needed and has not been asked for since."""
        return self.state is SyncState.WAITING and not self.snapshot_requested

    def reset(self) -> None:
        """Forget the book (e.g. after a reconnect: 1.3 says re-sync from a new snapshot)."""
        self.book.clear()
        self.state = SyncState.WAITING
        self.snapshot_requested = False
        self._buffer.clear()

    def on_diff(self, diff: DepthUpdate, ts_recv: int, out: list[BookRecord]) -> DiffOutcome:
        """Buffer or apply one diff; append the records of an applied one to ``out``."""
        if self.state is SyncState.WAITING:
            self._buffer_diff(diff, ts_recv)
            return DiffOutcome.BUFFERED
        return self._apply_live(diff, ts_recv, out)

    def on_snapshot(
        self, snapshot: DepthSnapshot, ts_recv: int, out: list[BookRecord]
    ) -> SnapshotOutcome:
        """Start the book from a REST snapshot and replay the buffered diffs over it."""
        self.snapshot_requested = False
        if self.state is SyncState.SYNCED:
            return SnapshotOutcome.IGNORED
        last_id = snapshot.last_update_id
        buffer = self._buffer
        # 1.3 step 3/4: a snapshot older than the first buffered diff cannot be joined to
        # it. The step-5 gap rule decides (U > lastUpdateId + 1), which also accepts the
        # exact join U == lastUpdateId + 1.
        if buffer and buffer[0][0].first_update_id > last_id + 1:
            self.stale_snapshots += 1
            return SnapshotOutcome.TOO_OLD
        # 1.3 step 4: drop buffered events already contained in the snapshot (u <= lastUpdateId).
        while buffer and buffer[0][0].final_update_id <= last_id:
            buffer.popleft()
        bids, asks = self._levels(snapshot.bids), self._levels(snapshot.asks)
        self._load_snapshot(last_id, bids, asks, ts_recv, out)
        # 1.3 step 5: replay the rest under the live rules.
        pending = list(buffer)
        buffer.clear()
        for index, (diff, diff_recv) in enumerate(pending):
            if self._apply_live(diff, diff_recv, out) is DiffOutcome.GAP:
                # The book was dropped again; the later diffs may join the next snapshot.
                buffer.extend(pending[index + 1 :])
                break
        return SnapshotOutcome.SYNCED

    def _buffer_diff(self, diff: DepthUpdate, ts_recv: int) -> None:
        buffer = self._buffer
        # A break inside the buffer makes everything before it useless: no snapshot could
        # bridge it (the step-5 rule would fail while replaying).
        if buffer and diff.first_update_id > buffer[-1][0].final_update_id + 1:
            buffer.clear()
        if len(buffer) == buffer.maxlen:
            self.buffer_overflows += 1  # the oldest falls out; a snapshot covers it or is redone
        buffer.append((diff, ts_recv))

    def _apply_live(self, diff: DepthUpdate, ts_recv: int, out: list[BookRecord]) -> DiffOutcome:
        # 1.3 step 5: u <= book id -> already applied; U > book id + 1 -> gap, restart.
        if diff.final_update_id <= self.book_id:
            return DiffOutcome.STALE
        if diff.first_update_id > self.book_id + 1:
            self.gaps += 1
            self._drop(diff, ts_recv, out)
            return DiffOutcome.GAP
        bids, asks = self._levels(diff.bids), self._levels(diff.asks)
        sequence = diff.final_update_id
        ts_event = diff.event_time * self._unit
        start = len(out)
        symbol = self.symbol
        append = out.append
        for side, levels, book_side in ((BID, bids, self.book.bids), (ASK, asks, self.book.asks)):
            for price, size in levels:
                book_side.set(price, size)
                append(BookRecord(EXCHANGE, symbol, ts_event, ts_recv, sequence, side, price, size))
        mark_last(out, start)
        self.book_id = sequence
        return DiffOutcome.APPLIED

    def _levels(self, levels: list[Level]) -> list[tuple[int, int]]:
        """Scaled ``(price, size)`` pairs; unrepresentable ones handled as ``book_level`` says."""
        prices, sizes = self._prices, self._sizes
        out = []
        for price_text, size_text in levels:
            try:
                price, size = prices[price_text], sizes[size_text]
                if price > 0 and size >= 0:
                    out.append((price, size))
                    continue
            except BadDataError:
                pass
            price, size, _ = book_level(price_text, size_text)
            self.bad_levels += 1
            if price:
                out.append((price, size))
        return out

    def _drop(self, diff: DepthUpdate, ts_recv: int, out: list[BookRecord]) -> None:
        """Gap: announce the cleared book, wait for a new snapshot, keep ``diff`` buffered."""
        ts_event = diff.event_time * self._unit
        out.append(
            clear_record(EXCHANGE, self.symbol, ts_event, ts_recv, self.book_id, snapshot=False)
        )
        self.book.clear()
        self.state = SyncState.WAITING
        self.snapshot_requested = False
        self._buffer.clear()
        self._buffer.append((diff, ts_recv))

    def _load_snapshot(
        self,
        last_id: int,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        ts_recv: int,
        out: list[BookRecord],
    ) -> None:
        book = self.book
        book.clear()
        symbol = self.symbol
        start = len(out)
        # The REST snapshot has no event time: its receive time stands in for it.
        out.append(clear_record(EXCHANGE, symbol, ts_recv, ts_recv, last_id, snapshot=True))
        for side, levels, book_side in ((BID, bids, book.bids), (ASK, asks, book.asks)):
            for price, size in levels:
                if size:
                    book_side.set(price, size)
                    out.append(
                        BookRecord(
                            EXCHANGE,
                            symbol,
                            ts_recv,
                            ts_recv,
                            last_id,
                            side,
                            price,
                            size,
                            _SNAPSHOT,
                        )
                    )
        mark_last(out, start)
        self.book_id = last_id
        self.state = SyncState.SYNCED
