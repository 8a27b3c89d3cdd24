"""A local L2 order book kept in scaled integers, and the ``BookRecord`` framing rules.

Each side is a dict ``price -> size`` plus a sorted list of keys (bids keyed by ``-price``), so
the best level is ``keys[0]`` on both sides, an update is one dict write plus a ``bisect``
insert or delete, and the top N levels (Kraken's checksum, L1 checks) are a slice.

A level whose price cannot be represented (``core.fixed``: 9 decimals, about ±9.2e9; Kraken
has shown an ask at 9,999,999,997 CHF) is left out of the book, and counted by the parser: no
level at that price can ever be in our book, so the rest stays exact. A level whose size cannot
be represented is removed instead of being left at a stale size.

Records of one venue message are framed with ``BookFlags``: a snapshot starts with one
``CLEAR | SNAPSHOT`` record (side 0, price 0, size 0) followed by its levels flagged
``SNAPSHOT``; the last record of every message carries ``LAST``. A book found broken (gap,
checksum mismatch) is announced with a lone ``CLEAR | LAST`` record: consumers drop it until
the next snapshot.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from decimal import Decimal

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import BookSide
from ticklane.core.records import BookFlags, BookRecord
from ticklane.venues.numbers import price_raw, quantity_raw

BID = int(BookSide.BID)
ASK = int(BookSide.ASK)
_LAST = int(BookFlags.LAST)
_CLEAR_SNAPSHOT = int(BookFlags.CLEAR | BookFlags.SNAPSHOT)


class BookLevels:
    """One side of a book: sizes by price, best price first."""

    __slots__ = ("_keys", "_sign", "sizes")

    def __init__(self, *, bids: bool) -> None:
        self.sizes: dict[int, int] = {}
        self._keys: list[int] = []
        self._sign = -1 if bids else 1

    def __len__(self) -> int:
        return len(self.sizes)

    def set(self, price: int, size: int) -> None:
        """Set the size at ``price``; size 0 removes the level (absent or not)."""
        sizes = self.sizes
        if size:
            if price not in sizes:
                key = price * self._sign
                keys = self._keys
                keys.insert(bisect_left(keys, key), key)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            key = price * self._sign
            keys = self._keys
            del keys[bisect_left(keys, key)]

    def best(self) -> tuple[int, int] | None:
        """``(price, size)`` of the best level, or ``None`` when the side is empty."""
        if not self._keys:
            return None
        price = self._keys[0] * self._sign
        return price, self.sizes[price]

    def prices(self, count: int | None = None) -> list[int]:
        """The best ``count`` prices (all when ``None``), best first."""
        keys = self._keys if count is None else self._keys[:count]
        sign = self._sign
        return [key * sign for key in keys]

    def levels(self) -> Iterator[tuple[int, int]]:
        """Every ``(price, size)``, best first."""
        sizes = self.sizes
        for price in self.prices():
            yield price, sizes[price]

    def truncate(self, depth: int) -> list[int]:
        """Drop the levels beyond the best ``depth``; return the prices dropped."""
        if len(self._keys) <= depth:
            return []
        dropped = [key * self._sign for key in self._keys[depth:]]
        del self._keys[depth:]
        for price in dropped:
            del self.sizes[price]
        return dropped

    def clear(self) -> None:
        self.sizes.clear()
        self._keys.clear()


class Book:
    """Both sides of one instrument's book."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookLevels(bids=True)
        self.asks = BookLevels(bids=False)

    def side(self, side: int) -> BookLevels:
        return self.bids if side == BID else self.asks

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def is_crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid[0] >= ask[0]


def clear_record(
    exchange: str, symbol: str, ts_event: int, ts_recv: int, sequence: int, *, snapshot: bool
) -> BookRecord:
    """The record that clears a book: first of a snapshot, or alone when the book broke."""
    flags = _CLEAR_SNAPSHOT if snapshot else int(BookFlags.CLEAR | BookFlags.LAST)
    return BookRecord(exchange, symbol, ts_event, ts_recv, sequence, 0, 0, 0, flags)


def mark_last(records: list[BookRecord], start: int) -> None:
    """Set ``LAST`` on the final record of one message (records ``start:`` of the list)."""
    if len(records) > start:
        final = records[-1]
        records[-1] = msgspec.structs.replace(final, flags=final.flags | _LAST)


def book_level(price: str | Decimal, size: str | Decimal) -> tuple[int, int, bool]:
    """Scaled ``(price, size, ok)`` of one level; never raises (see the module docstring).

    Not ok: an unrepresentable or non-positive price gives price 0 (leave the level out); an
    unrepresentable or negative size gives size 0 (remove the level).
    """
    try:
        price_value = price_raw(price) if isinstance(price, str) else price_to_raw(price)
    except BadDataError:
        return 0, 0, False
    if price_value <= 0:
        return 0, 0, False
    try:
        size_value = quantity_raw(size) if isinstance(size, str) else quantity_to_raw(size)
    except BadDataError:
        return price_value, 0, False
    if size_value < 0:
        return price_value, 0, False
    return price_value, size_value, True
