"""The replay clock: walks the timeline at recorded (or scaled, or unpaced) speed.

It is the venue's "now". Every connection sees the same position, so a client that reconnects
continues from where the replay is, and what was played while it was away is missed, as live.
Stalls shift the whole timeline (nothing is lost, it only arrives later).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from ticklane.venues.sim.venue import ReplayItem

log = logging.getLogger(__name__)

NANOS = 1_000_000_000


class ReplayHooks(Protocol):
    """What the replay asks of the server between items."""

    def has_subscribers(self) -> bool: ...

    def gap_open(self) -> bool:
        """A cut connection is still missing the frames of its gap (do not pause meanwhile)."""
        ...

    def cut_all(self, gap: int) -> None: ...

    def after_item(self) -> None: ...

    def after_end(self) -> None: ...

    def progressed(self) -> None: ...


class Replay:
    """Plays replay items through ``play`` under ``lock``, one at a time, in order.

    ``speed``: 1.0 keeps the recorded spacing, 10 plays ten times faster, 0 or ``inf`` sends as
    fast as the slowest subscribed client reads. ``autostart``: begin at the first subscription
    (else on :meth:`start`), ``start_delay`` seconds later. ``pause_when_idle``: wait while no
    connection is subscribed instead of playing to nobody.
    """

    def __init__(
        self,
        items: Iterable[ReplayItem],
        play: Callable[[ReplayItem], Awaitable[None]],
        lock: asyncio.Lock,
        hooks: ReplayHooks,
        *,
        speed: float,
        autostart: bool,
        start_delay: float,
        pause_when_idle: bool,
    ) -> None:
        self._items = items
        self._play = play
        self._lock = lock
        self._hooks = hooks
        self._speed = speed
        self.autostart = autostart
        self._start_delay = start_delay
        self.pause_when_idle = pause_when_idle
        self._started = asyncio.Event()
        self._wake = asyncio.Event()
        self.finished = asyncio.Event()
        self.position = 0
        """Items played so far (the index of the next one)."""
        self.stalled = False
        self.stalls: list[tuple[int, float]] = []
        """(position, seconds) of every stall so far."""
        self.held = False
        """Held by ``hold()``: no item is played until ``release()``."""
        self._stall_at: dict[int, float] = {}
        self._drop_at: dict[int, int] = {}
        self._pending_stall = 0.0
        self._anchor: tuple[float, int] | None = None  # (loop time, recorded ns) of one item
        self._last_ts: int | None = None

    # controls ----------------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def started(self) -> bool:
        return self._started.is_set()

    def start(self) -> None:
        self._started.set()

    def set_speed(self, speed: float) -> None:
        self._speed = speed
        if self._last_ts is not None:
            self._anchor = (asyncio.get_running_loop().time(), self._last_ts)
        self._wake.set()

    def hold(self) -> None:
        """Play nothing from the next item on (sockets stay open) until ``release``."""
        self.held = True

    def release(self) -> None:
        self.held = False
        self._wake.set()

    def stall_at(self, index: int, seconds: float) -> None:
        self._stall_at[index] = seconds

    def stall_soon(self, seconds: float) -> None:
        """Stall before the next item."""
        self._pending_stall = max(self._pending_stall, seconds)
        self._wake.set()

    def drop_at(self, index: int, gap: int) -> None:
        self._drop_at[index] = gap

    def notify(self) -> None:
        """Subscriptions changed: start (if autostarting) and re-check an idle pause."""
        if self.autostart and self._hooks.has_subscribers():
            self._started.set()
        self._wake.set()

    # the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._started.wait()
        if self._start_delay > 0:
            await asyncio.sleep(self._start_delay)
        unpaced = self._unpaced()
        for item in self._items:
            while True:
                await self._wait_turn(item)
                async with self._lock:
                    # Re-checked under the lock: the last subscriber may have left while this
                    # task waited for it, and the item would go to nobody.
                    if self._holding():
                        continue
                    await self._play(item)
                    break
            self.position = item.index + 1
            self._last_ts = item.ts_recv
            self._hooks.after_item()
            self._hooks.progressed()
            if unpaced or self._unpaced():
                await asyncio.sleep(0)  # let clients and REST requests in between frames
        self.finished.set()
        self._hooks.after_end()
        self._hooks.progressed()

    def _unpaced(self) -> bool:
        return self._speed <= 0 or not math.isfinite(self._speed)

    async def _wait_turn(self, item: ReplayItem) -> None:
        loop = asyncio.get_running_loop()
        while True:
            stall = self._stall_at.pop(item.index, 0.0)
            stall = max(stall, self._pending_stall)
            self._pending_stall = 0.0
            if stall > 0:
                await self._stall(stall)
                continue
            if item.index in self._drop_at:
                self._hooks.cut_all(self._drop_at.pop(item.index))
            self._wake.clear()
            if self._holding():
                paused = loop.time()
                await self._wake.wait()
                self._shift(loop.time() - paused)
                continue
            delay = self._delay(item, loop.time())
            if delay <= 0:
                return
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
                # that arrives as the wake-up does, and the venue's close() then waits forever.
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                return

    def _holding(self) -> bool:
        """Held by ``hold()``, or idle with ``pause_when_idle`` (and no cut gap to play)."""
        idle = not self._hooks.gap_open() and not self._hooks.has_subscribers()
        return self.held or (self.pause_when_idle and idle)

    async def _stall(self, seconds: float) -> None:
        log.info("replay stalls for %.3f s before item %d", seconds, self.position)
        self.stalled = True
        self.stalls.append((self.position, seconds))
        self._hooks.progressed()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.stalled = False
            self._hooks.progressed()
        self._shift(seconds)

    def _shift(self, seconds: float) -> None:
        """Move the timeline later: what was due during a stall or pause comes that much later."""
        if self._anchor is not None:
            self._anchor = (self._anchor[0] + seconds, self._anchor[1])

    def _delay(self, item: ReplayItem, now: float) -> float:
        if self._unpaced():
            return 0.0
        if self._anchor is None:
            self._anchor = (now, item.ts_recv)
            return 0.0
        wall, recorded = self._anchor
        return wall + (item.ts_recv - recorded) / NANOS / self._speed - now
