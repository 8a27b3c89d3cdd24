"""An asyncio event loop that polls the IPC ring itself while it waits for I/O.

A ring reader has nothing to block on (the writer makes no system call), so it polls. Polling
in a thread of its own and handing each record to the event loop (``call_soon_threadsafe``)
costs a wake-up of the loop's thread per record: a write to the loop's self-pipe, and an
``epoll_wait`` that returns on a core that had gone idle, which on this VM takes longer than
everything else a trade goes through (from the ring write to the paper trader, p50 168 us
through a reader thread, 93 us polled by the loop itself: ``benchmarks.bench_live`` with
``--loop asyncio`` and without, one after the other on the same machine).

``PollingSelector`` is the loop's selector: where a plain loop would block in ``epoll_wait``
until a socket is ready or a timer is due, it alternates a non-blocking ``epoll_wait`` with
its pollers (``IpcExchange`` registers one) and a short sleep (``sleep_us``), as the reader
thread's adaptive wait did; after ``idle_ms`` without work it blocks in ``epoll_wait`` for
``idle_wait_ms`` at a time between polls, so a quiet feed costs almost nothing. Records a
poller reads are handled in the same loop iteration, right after the selector returns.

A reply awaited on a socket is the other thing worth not sleeping for. A Redis round trip on
this machine takes 21 us when the waiting thread spins on a non-blocking ``epoll_wait`` and
56-68 us when it blocks (the idle core's wake-up again; a ``time.sleep`` of 3 us lasts ~100 us
on a quiet day): so when a client says it has sent requests and awaits their replies
(``awaiting``, as the cache's RESP connection does), the selector spins until they have come,
for at most ``spin_us`` after the latest request, then goes back to its naps or to blocking. A
reply that is late (a Redis that hangs) costs one spin, not one per wake-up of the loop.

Build the loop with ``polling_loop`` (``asyncio.Runner(loop_factory=polling_loop)``);
``selector_of`` finds the selector of a running loop built that way.
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from ticklane.ipc.wait import lower_timer_slack

log = logging.getLogger(__name__)

Poll = Callable[[], bool]  # True when it found work (records), False when there was none

_SELECTORS: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollingSelector]] = (
    weakref.WeakKeyDictionary()
)


class PollingSelector(selectors.BaseSelector):
    """A selector that runs pollers while it waits (see the module docstring)."""

    def __init__(
        self,
        *,
        sleep_us: float = 3.0,
        idle_ms: float = 50.0,
        idle_wait_ms: float = 1.0,
        spin_us: float = 1000.0,
    ) -> None:
        self._inner = selectors.DefaultSelector()
        self._pollers: list[Poll] = []
        self._awaited = 0  # replies clients await on sockets: the selector spins meanwhile
        self._spin_s = spin_us / 1e6
        self._spin_until = 0.0  # no spinning after this (monotonic): spin_us after a request
        self._sleep_s = sleep_us / 1e6
        self._idle_s = idle_ms / 1e3
        self._idle_wait_s = idle_wait_ms / 1e3
        self._last_work = time.monotonic()

    def add_poller(self, poll: Poll) -> None:
        """Call ``poll`` while waiting; on the loop's thread only."""
        lower_timer_slack()  # short sleeps stay short on this thread (see ipc.wait)
        self._pollers.append(poll)
        self._last_work = time.monotonic()

    def remove_poller(self, poll: Poll) -> None:
        if poll in self._pollers:
            self._pollers.remove(poll)

    def awaiting(self, replies: int) -> None:
        """A client sent requests and awaits ``replies`` more (negative: it has them, or gave
        up): while any are awaited, for at most ``spin_us`` after the latest request, the
        selector spins rather than sleeps."""
        self._awaited += replies
        if replies > 0:
            self._spin_until = time.monotonic() + self._spin_s

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if not self._pollers and not self._awaited:
            return self._inner.select(timeout)
        clock = time.monotonic
        deadline = None if timeout is None else clock() + timeout
        while True:
            worked = self._poll() if self._pollers else False
            ready = self._inner.select(0)
            now = clock()
            if worked:
                self._last_work = now
            if ready or worked or (deadline is not None and now >= deadline):
                return ready
            if self._awaited and now < self._spin_until:
                continue  # a reply is due within microseconds: spinning sees it at once
            if not self._pollers:
                return self._inner.select(None if deadline is None else deadline - now)
            if now - self._last_work < self._idle_s:
                time.sleep(self._sleep_s)
                continue
            wait = self._idle_wait_s if deadline is None else min(self._idle_wait_s, deadline - now)
            ready = self._inner.select(wait)
            if ready:
                return ready

    def _poll(self) -> bool:
        worked = False
        for poll in list(self._pollers):
            try:
                worked = poll() or worked
            except Exception:  # a poller's own failures are its to report; never the loop's
                log.exception("poller %r failed and was removed", poll)
                self.remove_poller(poll)
        return worked

    # -- the rest of the selector is the inner one ----------------------------------------------

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._pollers.clear()
        self._inner.close()


def polling_loop() -> asyncio.AbstractEventLoop:
    """A new event loop whose selector is a ``PollingSelector``."""
    selector = PollingSelector()
    loop = asyncio.SelectorEventLoop(selector)
    _SELECTORS[loop] = selector
    return loop


def selector_of(loop: asyncio.AbstractEventLoop) -> PollingSelector | None:
    """The ``PollingSelector`` of a loop made by ``polling_loop``; None for any other loop."""
    return _SELECTORS.get(loop)
