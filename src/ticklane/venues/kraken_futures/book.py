"""Kraken Futures book upkeep: ``book_snapshot`` then ``book`` deltas checked by ``seq``.

Futures books carry no checksum; ``seq`` is the only integrity check (protocols.md 3, derived
rule): each delta must be the snapshot's (or the previous delta's) ``seq + 1``. A step back is
a repeat and ignored; a jump is a gap: the book is dropped until a new snapshot, which only a
resubscription brings. No I/O here: the parser asks the runner to resubscribe.
"""

from __future__ import annotations

from enum import StrEnum

from ticklane.core.records import BookFlags, BookRecord
from ticklane.venues.book import ASK, BID, Book, book_level, clear_record, mark_last
from ticklane.venues.kraken_futures.schemas import BookDelta, BookSnapshot, Level
from ticklane.venues.numbers import NANOS_PER_MILLI

EXCHANGE = "kraken_futures"
_SIDES = {"buy": BID, "sell": ASK}
_SNAPSHOT = int(BookFlags.SNAPSHOT)
_LAST = int(BookFlags.LAST)


class DeltaOutcome(StrEnum):
    APPLIED = "applied"
    UNSYNCED = "unsynced"  # no snapshot yet (or since the last gap): ignored
    STALE = "stale"  # seq <= the book's: ignored
    GAP = "gap"  # seq jumped: the book was dropped; resubscribe
    BAD_VALUE = "bad_value"  # side, price or size not usable: ignored (level left as it was)


class FuturesBookSync:
    """One product's book and its sequence state."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = Book()
        self.synced = False
        self.seq = 0
        self.gaps = 0
        self.bad_levels = 0

    def reset(self) -> None:
        self.book.clear()
        self.synced = False

    def on_snapshot(self, snapshot: BookSnapshot, ts_recv: int, out: list[BookRecord]) -> None:
        """Replace the book; levels with qty 0 (Kraken sends some) are left out."""
        book = self.book
        book.clear()
        symbol, seq = self.symbol, snapshot.seq
        ts_event = snapshot.timestamp * NANOS_PER_MILLI
        start = len(out)
        out.append(clear_record(EXCHANGE, symbol, ts_event, ts_recv, seq, snapshot=True))
        for side, levels in ((BID, snapshot.bids), (ASK, snapshot.asks)):
            for price, size in self._levels(levels):
                if size:
                    book.side(side).set(price, size)
                    out.append(
                        BookRecord(
                            EXCHANGE, symbol, ts_event, ts_recv, seq, side, price, size, _SNAPSHOT
                        )
                    )
        mark_last(out, start)
        self.seq = seq
        self.synced = True

    def on_delta(self, delta: BookDelta, ts_recv: int, out: list[BookRecord]) -> DeltaOutcome:
        """Apply one delta under the ``seq`` rule of the module docstring."""
        if not self.synced:
            return DeltaOutcome.UNSYNCED
        if delta.seq <= self.seq:
            return DeltaOutcome.STALE
        ts_event = delta.timestamp * NANOS_PER_MILLI
        if delta.seq != self.seq + 1:
            self.gaps += 1
            self.reset()
            out.append(
                clear_record(EXCHANGE, self.symbol, ts_event, ts_recv, delta.seq, snapshot=False)
            )
            return DeltaOutcome.GAP
        self.seq = delta.seq
        side = _SIDES.get(delta.side)
        price, size, ok = book_level(delta.price, delta.qty)
        if side is None or not price:
            self.bad_levels += 1
            return DeltaOutcome.BAD_VALUE
        self.book.side(side).set(price, size)
        out.append(
            BookRecord(
                EXCHANGE, self.symbol, ts_event, ts_recv, delta.seq, side, price, size, _LAST
            )
        )
        if not ok:
            self.bad_levels += 1
            return DeltaOutcome.BAD_VALUE
        return DeltaOutcome.APPLIED

    def _levels(self, levels: list[Level]) -> list[tuple[int, int]]:
        converted = []
        for level in levels:
            price, size, ok = book_level(level.price, level.qty)
            if not ok:
                self.bad_levels += 1
                if not price:
                    continue
            converted.append((price, size))
        return converted
