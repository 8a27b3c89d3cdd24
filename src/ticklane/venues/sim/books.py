"""The venue-side order book: price levels keyed by exact price, keeping the recorded text.

Prices and quantities stay the strings the venue sent (``"0.000022900"``), because Kraken's
checksum is computed over those strings and a snapshot made from this book must carry the same
digits the updates did. ``Decimal`` keys give the order.
"""

from __future__ import annotations

import heapq
import zlib
from decimal import Decimal, InvalidOperation

from ticklane.core.errors import BadDataError

Level = tuple[str, str, str]
"""(price text, quantity text, venue timestamp text or "")."""


def is_zero(quantity: str) -> bool:
    """Whether a decimal quantity string is zero (a deletion)."""
    if quantity.strip("0.+-") == "":
        return True
    # Plain digits that are not all zeros are not zero; only exponent forms need parsing.
    return ("e" in quantity or "E" in quantity) and _decimal(quantity) == 0


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadDataError(f"{text!r} is not a decimal number", value=text) from None


class LevelBook:
    """Bids and asks of one instrument; ``depth`` (if set) is kept by dropping the worst."""

    def __init__(self, depth: int | None = None) -> None:
        self.depth = depth
        self.bids: dict[Decimal, Level] = {}
        self.asks: dict[Decimal, Level] = {}

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def side(self, bid: bool) -> dict[Decimal, Level]:
        return self.bids if bid else self.asks

    def put(self, bid: bool, price: str, quantity: str, stamp: str = "") -> Decimal:
        """Set one level (a zero quantity deletes it); returns the price key."""
        key = _decimal(price)
        levels = self.side(bid)
        if is_zero(quantity):
            levels.pop(key, None)
        else:
            levels[key] = (price, quantity, stamp)
        return key

    def truncate(self) -> None:
        """Keep only ``depth`` levels a side: the venue stops tracking levels out of scope."""
        if self.depth is None:
            return
        for bid in (True, False):
            levels = self.side(bid)
            extra = len(levels) - self.depth
            if extra > 0:
                worst = heapq.nsmallest(extra, levels) if bid else heapq.nlargest(extra, levels)
                for key in worst:
                    del levels[key]

    def top(self, bid: bool, count: int | None = None) -> list[Level]:
        """The best ``count`` levels of a side, best first (all of them when None)."""
        levels = self.side(bid)
        if count is None or count >= len(levels):
            keys = sorted(levels, reverse=bid)
        elif bid:
            keys = heapq.nlargest(count, levels)
        else:
            keys = heapq.nsmallest(count, levels)
        return [levels[key] for key in keys]

    def top_keys(self, bid: bool, count: int) -> set[Decimal]:
        levels = self.side(bid)
        if count >= len(levels):
            return set(levels)
        return set(heapq.nlargest(count, levels) if bid else heapq.nsmallest(count, levels))


def kraken_checksum(asks: list[Level], bids: list[Level]) -> int:
    """Kraken's CRC32 over the top ten asks then bids (protocols.md 2.3)."""

    def part(levels: list[Level]) -> str:
        return "".join(
            price.replace(".", "").lstrip("0") + qty.replace(".", "").lstrip("0")
            for price, qty, _ in levels[:10]
        )

    return zlib.crc32((part(asks) + part(bids)).encode()) & 0xFFFFFFFF


def book_checksum(book: LevelBook) -> int:
    """Kraken's checksum of ``book`` as it stands."""
    return kraken_checksum(book.top(False, 10), book.top(True, 10))
