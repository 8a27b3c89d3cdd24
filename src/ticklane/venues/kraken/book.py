"""Kraken spot book upkeep and its CRC32 checksum (protocols.md 2.3; same for v1 and v2).

After all levels of a message are applied, the book is truncated to the subscribed depth
(Kraken sends no removal for levels pushed out of scope), then the checksum is taken over the
top 10 asks (price ascending) and top 10 bids (price descending): for each level the price text
and the quantity text with ``.`` removed and leading zeros stripped, concatenated, asks first.
The texts are kept as received (v1 strings; v2 numbers rendered with ``format(d, "f")``, which
keeps their full precision and trailing zeros), one token per level.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Final

from ticklane.core.errors import ConfigError
from ticklane.venues.book import ASK, BID, Book

BOOK_DEPTHS: Final = (10, 25, 100, 500, 1000)
CHECKSUM_LEVELS: Final = 10


def level_token(price: str, quantity: str) -> str:
    """One level's checksum text: ``"0.05000", "0.00000304"`` -> ``"5000304"``."""
    return price.replace(".", "").lstrip("0") + quantity.replace(".", "").lstrip("0")


def decimal_text(value: Decimal) -> str:
    """A v2 number as Kraken wrote it: plain notation, every digit (``5.1E-5`` -> ``0.000051``)."""
    return format(value, "f")


def check_depth(depth: int) -> int:
    """``depth`` if Kraken offers it, else ``ConfigError``."""
    if depth not in BOOK_DEPTHS:
        raise ConfigError(f"kraken: book depth {depth} is not one of {BOOK_DEPTHS}")
    return depth


class KrakenBook:
    """One pair's book at a subscribed depth, with the text each level needs for checksums."""

    __slots__ = ("_tokens", "book", "depth", "synced")

    def __init__(self, depth: int) -> None:
        self.depth = check_depth(depth)
        self.book = Book()
        self.synced = False  # a snapshot was loaded and no checksum has failed since
        self._tokens: dict[int, dict[int, str]] = {BID: {}, ASK: {}}

    def clear(self) -> None:
        self.book.clear()
        self._tokens[BID].clear()
        self._tokens[ASK].clear()

    def set(self, side: int, price: int, size: int, token: str) -> None:
        """Set one level (size 0 removes it); ``token`` is its ``level_token``."""
        self.book.side(side).set(price, size)
        tokens = self._tokens[side]
        if size:
            tokens[price] = token
        else:
            tokens.pop(price, None)

    def truncate(self) -> list[tuple[int, int]]:
        """Cut both sides to the depth; the ``(side, price)`` of every level cut."""
        cut: list[tuple[int, int]] = []
        for side, levels in ((BID, self.book.bids), (ASK, self.book.asks)):
            dropped = levels.truncate(self.depth)
            tokens = self._tokens[side]
            for price in dropped:
                del tokens[price]
                cut.append((side, price))
        return cut

    def checksum(self) -> int:
        """CRC32 of the top 10 levels as 2.3 describes."""
        asks, bids = self._tokens[ASK], self._tokens[BID]
        text = "".join([asks[p] for p in self.book.asks.prices(CHECKSUM_LEVELS)]) + "".join(
            [bids[p] for p in self.book.bids.prices(CHECKSUM_LEVELS)]
        )
        return zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF
