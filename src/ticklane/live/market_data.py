"""The market-data service of ``trading-core live``: collection, validation, cache, strategy.

    IpcExchange (reader thread) ─▶ bounded channel ─▶ processing task (event loop)
                                                        ├─ validate each trade (reasons counted)
                                                        ├─ paper trader: on_trade
                                                        └─ cache: put_many per batch

The channel is a ``queue.Queue``: the reader thread puts into it and blocks when it is full
(backpressure, which the ring turns into counted overrun), and the processing task takes
whole batches from it on the event loop without blocking; when the channel is empty the task
waits on an event the reader sets (``call_soon_threadsafe``) as the next trade arrives, so a
trade reaches the strategy after one thread hop, not two through an executor. The strategy
sees a batch before the cache's Redis round trip. Its fill is exported as channel
utilization, the figure of the backpressure alert. Shutdown: stop the reader, drain the
channel, then the caller flushes the cache and the strategy log.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Final

from ticklane.cache.base import TickCache
from ticklane.core.records import TradeRecord
from ticklane.live.ipc_exchange import IpcExchange

log = logging.getLogger(__name__)

_BATCH: Final = 1024
_WAIT_S: Final = 0.1  # longest wait for the first record of a batch
_RECENT_IDS: Final = 4096  # trade ids remembered per instrument for the duplicate check


class TickValidator:
    """Accepts a trade or names why not.

    Rules: price and quantity positive; the instrument one of ``instruments`` (exchange,
    symbol) or, given bare symbols, of ``symbols``; ``ts_event`` at most ``max_future_ns``
    ahead of the clock and at most ``max_age_ns`` behind it; a trade id not seen among the
    last ``_RECENT_IDS`` of its instrument (the ring never repeats one, but a data-manager
    restart with an overlapping feed could).
    """

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        max_future_ns: int,
        max_age_ns: int,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.symbols = frozenset(symbols)
        self.max_future_ns = max_future_ns
        self.max_age_ns = max_age_ns
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[set[int], deque[int]]] = {}

    def check(self, trade: TradeRecord) -> str | None:
        """None when ``trade`` is valid, else the reason (a metric label)."""
        if trade.price <= 0:
            return "non_positive_price"
        if trade.quantity <= 0:
            return "non_positive_quantity"
        if trade.symbol not in self.symbols:
            return "unknown_symbol"
        now = self._clock()
        if trade.ts_event > now + self.max_future_ns:
            return "future_timestamp"
        if trade.ts_event < now - self.max_age_ns:
            return "stale_timestamp"
        key = (trade.exchange, trade.symbol)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = (set(), deque())
        ids, order = seen
        if trade.trade_id in ids:
            return "duplicate"
        ids.add(trade.trade_id)
        order.append(trade.trade_id)
        if len(order) > _RECENT_IDS:
            ids.discard(order.popleft())
        return None


class MarketDataStats:
    __slots__ = ("accepted", "batches", "processed", "rejected")

    def __init__(self) -> None:
        self.processed = 0  # trades taken from the channel
        self.accepted = 0
        self.rejected: Counter[str] = Counter()  # reason -> trades
        self.batches = 0


class MarketDataService:
    """Takes trades from ``exchange`` through a bounded channel (see the module docstring)."""

    def __init__(
        self,
        exchange: IpcExchange,
        validator: TickValidator,
        *,
        capacity: int,
        cache: TickCache | None = None,
        on_trade: Callable[[TradeRecord], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.validator = validator
        self.capacity = capacity
        self.cache = cache
        self.stats = MarketDataStats()
        self._on_trade = on_trade
        self._channel: queue.Queue[TradeRecord] = queue.Queue(maxsize=capacity)
        self._closing = False
        # Set while the processing task waits for an empty channel to receive a trade.
        self._waiting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived = asyncio.Event()
        exchange.subscribe_trades(self._collect)

    @property
    def channel_depth(self) -> int:
        return self._channel.qsize()

    @property
    def channel_utilization(self) -> float:
        """How full the channel is, 0 to 1."""
        return self._channel.qsize() / self.capacity

    def _collect(self, trade: TradeRecord) -> None:
        """On the reader thread: blocks while the channel is full (backpressure)."""
        while not self._closing:
            try:
                self._channel.put(trade, timeout=_WAIT_S)
            except queue.Full:
                continue
            if self._waiting and self._loop is not None:
                self._waiting = False
                self._loop.call_soon_threadsafe(self._arrived.set)
            return

    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set, then stop the reader and drain the channel."""
        self._loop = asyncio.get_running_loop()
        self.exchange.start()
        while not stop.is_set():
            batch = await self._next_batch()
            if batch:
                await self._process(batch)
                await asyncio.sleep(0)  # under a flood, the other tasks still get their turn
            if self.exchange.error is not None:
                raise self.exchange.error
        self._closing = True
        await asyncio.to_thread(self.exchange.stop)
        while True:  # what was collected before the reader stopped is still processed
            batch = self._take(0.0)
            if not batch:
                break
            await self._process(batch)

    async def _next_batch(self) -> list[TradeRecord]:
        """What the channel holds, or, when it is empty, what arrives within ``_WAIT_S``."""
        batch = self._take(0.0)
        if batch:
            return batch
        self._arrived.clear()
        self._waiting = True
        try:
            batch = self._take(0.0)  # put before the reader could see the task waiting
            if batch:
                return batch
            try:
                async with asyncio.timeout(_WAIT_S):
                    await self._arrived.wait()
            except TimeoutError:
                return []
        finally:
            self._waiting = False
        return self._take(0.0)

    def _take(self, wait_s: float) -> list[TradeRecord]:
        """Up to ``_BATCH`` trades: waits ``wait_s`` for the first, takes what is there."""
        channel = self._channel
        try:
            first = channel.get(timeout=wait_s) if wait_s > 0 else channel.get_nowait()
        except queue.Empty:
            return []
        batch = [first]
        try:
            while len(batch) < _BATCH:
                batch.append(channel.get_nowait())
        except queue.Empty:
            pass
        return batch

    async def _process(self, batch: list[TradeRecord]) -> None:
        stats, check = self.stats, self.validator.check
        accepted: list[TradeRecord] = []
        for trade in batch:
            reason = check(trade)
            if reason is None:
                accepted.append(trade)
            else:
                stats.rejected[reason] += 1
        stats.processed += len(batch)
        stats.accepted += len(accepted)
        stats.batches += 1
        if not accepted:
            return
        # The strategy first: its decision does not wait for the cache's Redis round trip.
        if self._on_trade is not None:
            for trade in accepted:
                self._on_trade(trade)
        if self.cache is not None:
            await self.cache.put_many(accepted)  # failures are counted there, never raised
