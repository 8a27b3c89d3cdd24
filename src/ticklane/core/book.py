"""Order-book snapshots and deltas (L2, aggregated by price level)."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import BookSide, check_exchange, check_symbol
from ticklane.core.time import check_ts


class BookLevel(msgspec.Struct, frozen=True):
    """One price level: the total size resting at ``price``."""

    price: Decimal
    size: Decimal


class OrderBookSnapshot(msgspec.Struct, frozen=True):
    """The book as a whole: bids best (highest) first, asks best (lowest) first."""

    exchange: str
    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_event: int
    sequence: int = 0

    def __post_init__(self) -> None:
        # Store the canonical (lower-case) name so a tick is found by its own instrument.
        msgspec.structs.force_setattr(self, "exchange", check_exchange(self.exchange))
        check_symbol(self.symbol)
        check_ts(self.ts_event)
        for name, levels, descending in (("bids", self.bids, True), ("asks", self.asks, False)):
            prices = [level.price for level in levels]
            if prices != sorted(prices, reverse=descending) or len(set(prices)) != len(prices):
                best = "highest" if descending else "lowest"
                raise BadDataError(
                    f"{name}: levels must be unique and ordered {best} first", field=name
                )
            for level in levels:
                if level.price <= 0 or level.size < 0:
                    raise BadDataError(
                        f"{name}: level {level.price} x {level.size} has a non-positive price "
                        "or a negative size",
                        field=name,
                        value=level,
                    )


class OrderBookDelta(msgspec.Struct, frozen=True):
    """A change to one price level; ``size == 0`` removes the level."""

    exchange: str
    symbol: str
    side: BookSide
    price: Decimal
    size: Decimal
    ts_event: int
    sequence: int = 0

    def __post_init__(self) -> None:
        # Store the canonical (lower-case) name so a tick is found by its own instrument.
        msgspec.structs.force_setattr(self, "exchange", check_exchange(self.exchange))
        check_symbol(self.symbol)
        check_ts(self.ts_event)
        if not isinstance(self.side, BookSide):
            raise BadDataError(
                f"side: {self.side!r} is not a BookSide", field="side", value=self.side
            )
        if self.price <= 0:
            raise BadDataError(
                f"price: {self.price} is not positive", field="price", value=self.price
            )
        if self.size < 0:
            raise BadDataError(f"size: {self.size} is negative", field="size", value=self.size)

    @property
    def is_removal(self) -> bool:
        return self.size == 0
