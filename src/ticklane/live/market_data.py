"""The market-data service of ``trading-core live``: collection, validation, cache, strategy.

    IpcExchange (reader thread) ─▶ bounded channel ─▶ processing (event loop callback)
                                                        ├─ validate each trade (reasons counted)
                                                        ├─ paper trader: on_trade
                                                        └─▶ cache writer task: put_many

The channel is a ``queue.Queue``: the reader thread puts into it and blocks when it is full
(backpressure, which the ring turns into counted overrun). A trade put into an empty channel
schedules one call on the event loop (``call_soon_threadsafe``), which takes whole batches
from the channel without blocking and processes them right there: a trade reaches the strategy
in the loop iteration that wakes up for it, with no task to switch to. When the event loop
polls the ring itself (``ipc.loop``, trading-core live's loop), the trades are put on the
loop's own thread, never more than the channel has room for, and processed in the same loop
iteration. The channel's fill is
exported as channel utilization, the figure of the backpressure alert.

The strategy sees a batch before the cache does, and processing never waits for Redis: the
accepted trades go to a cache-writer task that runs one ``put_many`` at a time, of everything
accepted while the previous one was in flight (order kept, fewer and larger writes when the
feed is busy). Shutdown: stop the reader, drain the channel, wait for the cache writer; the
caller then closes the cache and the strategy log.
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
        self._closing = False  # the reader is being stopped: it no longer waits for room
        self._stopped = False  # run() drains the channel itself: callbacks do nothing
        # A call of _on_arrival is scheduled and has not yet taken from the channel.
        self._scheduled = False
        self._failure: Exception | None = None  # what stopped processing, for run() to raise
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unwritten: list[TradeRecord] = []  # accepted, not yet handed to the cache
        self._writer: asyncio.Task[None] | None = None
        exchange.subscribe_trades(self._collect)
        exchange.accepting = self._room  # read by an exchange the event loop polls

    def _room(self) -> int:
        """Trades the channel can take now (an exchange the loop polls reads no more)."""
        return self.capacity - self._channel.qsize()

    @property
    def channel_depth(self) -> int:
        return self._channel.qsize()

    @property
    def channel_utilization(self) -> float:
        """How full the channel is, 0 to 1."""
        return self._channel.qsize() / self.capacity

    def _collect(self, trade: TradeRecord) -> None:
        """On the reader thread: blocks while the channel is full (backpressure). On the loop's
        thread (an exchange the loop polls, which reads only what fits): never blocks."""
        if self.exchange.polled_by_loop:
            if self._closing:
                return
            self._channel.put_nowait(trade)
            if not self._scheduled and self._loop is not None:
                self._scheduled = True
                self._loop.call_soon(self._on_arrival)
            return
        while not self._closing:
            try:
                self._channel.put(trade, timeout=_WAIT_S)
            except queue.Full:
                continue
            if not self._scheduled and self._loop is not None:
                self._scheduled = True
                self._loop.call_soon_threadsafe(self._on_arrival)
            return

    def _on_arrival(self) -> None:
        """On the event loop, as a callback the reader scheduled: process what arrived.

        The trades reach the strategy in the loop iteration that wakes up for them, without a
        task switch (one iteration less than waking a waiting task). Under a flood one call
        takes one batch and schedules the next behind whatever else the loop has to do.
        """
        # Cleared before taking: a trade put after the take schedules another call.
        self._scheduled = False
        if self._failure is not None or self._stopped:
            return
        batch = self._take()
        if not batch:
            return
        try:
            self._process(batch)
        except Exception as error:  # reported by run(), which stops
            self._failure = error
            return
        if len(batch) == _BATCH and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._on_arrival)

    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set, then stop the reader, drain the channel and wait for
        the cache writes."""
        self._loop = asyncio.get_running_loop()
        self.exchange.start()
        try:
            while not stop.is_set():
                if self._failure is not None:
                    raise self._failure
                if self.exchange.error is not None:
                    raise self.exchange.error
                try:
                    async with asyncio.timeout(_WAIT_S):
                        await stop.wait()
                except TimeoutError:
                    pass
            self._closing = True
            if self.exchange.polled_by_loop:
                self.exchange.stop()  # no thread to wait for: no poll runs before it takes
            else:
                await asyncio.to_thread(self.exchange.stop)
            self._stopped = True  # from here on this task processes, not the callback
            if self._failure is not None:
                raise self._failure
            while True:  # what was collected before the reader stopped is still processed
                batch = self._take()
                if not batch:
                    break
                self._process(batch)
            await self.flush()
        finally:
            self._stopped = True
            self._closing = True
            self.exchange.stop(timeout=0.0)  # failing or cancelled: stop reading the ring too
            if self._writer is not None and not self._writer.done():
                self._writer.cancel()  # only when failing or cancelled: a clean stop flushed

    async def flush(self) -> None:
        """Wait until every accepted trade was written to the cache (or counted as failed
        there); raises what made the cache writer fail, if anything did."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        if self._writer is not None:
            self._writer.result()

    def _take(self) -> list[TradeRecord]:
        """Up to ``_BATCH`` trades, whatever the channel holds, taken under one lock."""
        channel = self._channel
        with channel.mutex:  # queue.Queue's own lock and deque: one acquisition per batch
            held = channel.queue
            count = min(len(held), _BATCH)
            if not count:
                return []
            batch = [held.popleft() for _ in range(count)]
            channel.not_full.notify(count)  # wake the reader if it waits for room
        return batch

    def _process(self, batch: list[TradeRecord]) -> None:
        """Validate a batch, show the accepted trades to the strategy, hand them to the cache."""
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
        # The strategy first: its decision waits for no cache write.
        if self._on_trade is not None:
            for trade in accepted:
                self._on_trade(trade)
        if self.cache is not None:
            self._write_behind(self.cache, accepted)

    def _write_behind(self, cache: TickCache, accepted: list[TradeRecord]) -> None:
        """Hand trades to the cache writer: one ``put_many`` at a time, of everything accepted
        while the one before was in flight, so processing never waits for a Redis round trip
        and a busy feed makes fewer, larger writes. Their order is kept."""
        self._unwritten += accepted
        writer = self._writer
        if writer is None or writer.done():
            if writer is not None:
                writer.result()  # a writer that failed (not Redis: that is counted) stops us
            self._writer = asyncio.create_task(self._write_cache(cache), name="market-data-cache")

    async def _write_cache(self, cache: TickCache) -> None:
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            await cache.put_many(batch)  # failures are counted there, never raised
