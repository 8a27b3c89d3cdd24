"""A seeded synthetic Binance market: ``@trade``, ``@bookTicker`` and ``@depth@100ms`` frames.

Each symbol's book starts with ``levels`` levels a side around its own price and moves by a
random walk: trades take liquidity at the touch, quotes improve inside the spread, levels are
added, resized and pulled (pulling the best level moves the price). Every book change is a
diff-depth frame with contiguous update ids, every change at the top is followed by a
``@bookTicker`` carrying the same update id, and the generator starts with one REST depth
snapshot per symbol, so the venue's ``/api/v3/depth`` answers stay consistent with the frames.
The same seed gives the same frames, byte for byte; frame ``i`` is stamped ``i / rate`` seconds
after ``start_ns``, so at speed 1 the market runs at ``rate`` frames a second.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ticklane.venues.sim.recordings import ReceivedFrame, RecordingEvent, RestBody

PRICE_SCALE = 100  # two decimals of tick size 0.01
QTY_SCALE = 10**8  # Binance quantities carry eight decimals


@dataclass(frozen=True)
class SyntheticMarket:
    """What to generate.

    Options:
        seed: the random seed; the same seed gives the same frames.
        symbols: how many symbols (named ``SYN0USDT``, ``SYN1USDT``, ...) or their names.
        rate: frames a second at speed 1 (over all symbols).
        frames: how many frames in all; None runs until the venue is closed.
        levels: price levels a side in the starting book.
        start_ns: the time stamp of the first frame.
    """

    seed: int = 0
    symbols: int | tuple[str, ...] = 1
    rate: float = 100.0
    frames: int | None = 10_000
    levels: int = 20
    start_ns: int = 1_700_000_000_000_000_000

    def symbol_names(self) -> list[str]:
        if isinstance(self.symbols, int):
            return [f"SYN{number}USDT" for number in range(self.symbols)]
        return [name.upper() for name in self.symbols]

    def events(self) -> Iterator[RecordingEvent]:
        """The REST snapshots, then the frames."""
        rng = random.Random(self.seed)
        books = [
            _Book(name, (number + 1) * 1000 * PRICE_SCALE, self.levels, rng, number)
            for number, name in enumerate(self.symbol_names())
        ]
        for book in books:
            url = f"https://api.binance.com/api/v3/depth?symbol={book.symbol}&limit=1000"
            yield RestBody(self.start_ns, url, book.snapshot())
        produced = 0
        while self.frames is None or produced < self.frames:
            book = books[rng.randrange(len(books))]
            for stream, data in book.step(self._millis(produced)):
                if self.frames is not None and produced >= self.frames:
                    return
                frame = msgspec.json.encode({"stream": stream, "data": data}).decode()
                yield ReceivedFrame(self._stamp(produced), 0, frame)
                produced += 1

    def _stamp(self, number: int) -> int:
        return self.start_ns + round(number * 1_000_000_000 / self.rate)

    def _millis(self, number: int) -> int:
        return self._stamp(number) // 1_000_000


def _price(ticks: int) -> str:
    return f"{ticks // PRICE_SCALE}.{ticks % PRICE_SCALE:02d}000000"


def _qty(units: int) -> str:
    return f"{units // QTY_SCALE}.{units % QTY_SCALE:08d}"


@dataclass
class _Book:
    symbol: str
    mid: int
    levels: int
    rng: random.Random
    number: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    update_id: int = 0
    trade_id: int = 0

    def __post_init__(self) -> None:
        for offset in range(1, self.levels + 1):
            self.bids[self.mid - offset] = self._size()
            self.asks[self.mid + offset] = self._size()
        self.update_id = 1_000_000 * (self.number + 1)
        self.trade_id = 5_000_000 * (self.number + 1)

    def _size(self) -> int:
        return self.rng.randint(1, 500) * QTY_SCALE // 100

    def snapshot(self) -> str:
        bids = [[_price(p), _qty(self.bids[p])] for p in sorted(self.bids, reverse=True)]
        asks = [[_price(p), _qty(self.asks[p])] for p in sorted(self.asks)]
        body = {"lastUpdateId": self.update_id, "bids": bids, "asks": asks}
        return msgspec.json.encode(body).decode()

    def _top(self) -> tuple[int, int, int, int]:
        bid, ask = max(self.bids), min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]

    def step(self, millis: int) -> list[tuple[str, dict[str, Any]]]:
        """One market event: its frames, in the order the venue sends them."""
        before = self._top()
        changes: list[tuple[bool, int]] = []  # (is bid, price) touched, in order
        frames: list[tuple[str, dict[str, Any]]] = []
        if self.rng.random() < 0.3:
            frames.append(self._trade(millis, changes))
        else:
            self._quote(changes)
        self._refill(changes)
        frames.append(self._depth(millis, changes))
        after = self._top()
        if after != before:
            bid, bid_qty, ask, ask_qty = after
            ticker = {
                "u": self.update_id,
                "s": self.symbol,
                "b": _price(bid),
                "B": _qty(bid_qty),
                "a": _price(ask),
                "A": _qty(ask_qty),
            }
            frames.append((f"{self.symbol.lower()}@bookTicker", ticker))
        return frames

    def _trade(self, millis: int, changes: list[tuple[bool, int]]) -> tuple[str, dict[str, Any]]:
        buyer_takes = self.rng.random() < 0.5  # a buyer lifts the best ask, else hits the bid
        side = self.asks if buyer_takes else self.bids
        price = min(side) if buyer_takes else max(side)
        qty = self.rng.randint(1, side[price])
        side[price] -= qty
        if side[price] == 0:
            del side[price]
        changes.append((not buyer_takes, price))
        self.trade_id += 1
        data = {
            "e": "trade",
            "E": millis,
            "s": self.symbol,
            "t": self.trade_id,
            "p": _price(price),
            "q": _qty(qty),
            "T": millis,
            "m": not buyer_takes,  # the buyer is the maker when a seller hits the bid
            "M": True,
        }
        return f"{self.symbol.lower()}@trade", data

    def _quote(self, changes: list[tuple[bool, int]]) -> None:
        is_bid = self.rng.random() < 0.5
        side = self.bids if is_bid else self.asks
        best = max(side) if is_bid else min(side)
        spread = min(self.asks) - max(self.bids)
        roll = self.rng.random()
        if roll < 0.2 and spread > 1:
            price = best + 1 if is_bid else best - 1
            side[price] = self._size()
        elif roll < 0.45 and len(side) > 3:
            price = self.rng.choice(sorted(side)[:3] if not is_bid else sorted(side)[-3:])
            del side[price]
        elif roll < 0.85:
            price = self.rng.choice(sorted(side))
            side[price] = self._size()
        else:
            worst = min(side) if is_bid else max(side)
            price = worst - 1 if is_bid else worst + 1
            side[price] = self._size()
        changes.append((is_bid, price))

    def _refill(self, changes: list[tuple[bool, int]]) -> None:
        for is_bid, side in ((True, self.bids), (False, self.asks)):
            while len(side) < self.levels // 2 + 1:
                worst = min(side) if is_bid else max(side)
                price = worst - 1 if is_bid else worst + 1
                side[price] = self._size()
                changes.append((is_bid, price))

    def _depth(self, millis: int, changes: list[tuple[bool, int]]) -> tuple[str, dict[str, Any]]:
        first = self.update_id + 1
        self.update_id += len(changes)
        bids = [[_price(p), _qty(self.bids.get(p, 0))] for is_bid, p in changes if is_bid]
        asks = [[_price(p), _qty(self.asks.get(p, 0))] for is_bid, p in changes if not is_bid]
        data = {
            "e": "depthUpdate",
            "E": millis,
            "s": self.symbol,
            "U": first,
            "u": self.update_id,
            "b": bids,
            "a": asks,
        }
        return f"{self.symbol.lower()}@depth@100ms", data
