"""The connections of a local venue: sending, counting, and the drop and stall triggers.

``SessionHub`` is what venue handlers send through (the ``Transport``) and what the replay
consults between items (the ``ReplayHooks``). One lock orders everything that writes frames:
the replay holds it for a whole item, a handler for a whole client message, so a subscription
and its snapshot always fall between two items.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from itertools import count

from websockets.exceptions import ConnectionClosed

from ticklane.venues.sim.connection import SimConnection
from ticklane.venues.sim.replay import Replay
from ticklane.venues.sim.venue import ConnectionStats, Session

log = logging.getLogger(__name__)


class SessionHub:
    """Open sessions, every connection's stats, and the one-shot drop/stall triggers."""

    def __init__(self, rejected: Iterable[str] = ()) -> None:
        self.lock = asyncio.Lock()
        self.replay: Replay | None = None
        self.history: list[ConnectionStats] = []
        self.rejected = {symbol.lower() for symbol in rejected}
        self.drop_after: tuple[int, int] | None = None
        """(frames, gap): cut the first connection sent that many data frames."""
        self.stall_after: tuple[int, float] | None = None
        """(frames, seconds): stall the replay once a connection was sent that many."""
        self._open: dict[int, Session] = {}
        self._cuts: dict[int, tuple[Session, int]] = {}
        self._ids = count(1)
        self._changed = asyncio.Event()

    # sessions ----------------------------------------------------------------------------------

    def register(self, ws: SimConnection, path: str, query: dict[str, str], target: str) -> Session:
        now = asyncio.get_running_loop().time()
        stats = ConnectionStats(id=next(self._ids), path=target)
        session = Session(stats.id, ws, path, query, now, stats, last_sent=now)
        self._open[session.id] = session
        self.history.append(stats)
        self.progressed()
        return session

    def unregister(self, session: Session) -> None:
        session.closed = True
        self._open.pop(session.id, None)
        self.subscriptions_changed()

    @property
    def sessions(self) -> list[Session]:
        """The sessions that may still be sent to."""
        return [session for session in self._open.values() if session.live]

    def subscription_count(self) -> int:
        return sum(len(session.subs) for session in self.sessions)

    # Transport ---------------------------------------------------------------------------------

    async def send_data(
        self, session: Session, key: str, text: str, *, synthesized: bool = False
    ) -> None:
        if not await self._send(session, text):
            return
        stats = session.stats
        stats.sent[key] += 1
        if synthesized:
            stats.synthesized += 1
        frames = stats.frames_sent
        if self.drop_after is not None and frames >= self.drop_after[0]:
            gap = self.drop_after[1]
            self.drop_after = None
            self.cut(session, gap + 1)  # this item completes first, then ``gap`` more
        if self.stall_after is not None and frames >= self.stall_after[0]:
            if self.replay is not None:
                self.replay.stall_soon(self.stall_after[1])
            self.stall_after = None

    async def send_control(self, session: Session, text: str) -> None:
        if await self._send(session, text):
            session.stats.control_sent += 1

    async def _send(self, session: Session, text: str) -> bool:
        if session.closed:
            return False
        try:
            await session.ws.send(text)
        except ConnectionClosed:
            session.closed = True
            self.subscriptions_changed()
            return False
        session.last_sent = asyncio.get_running_loop().time()
        return True

    def subscriptions_changed(self) -> None:
        if self.replay is not None:
            self.replay.notify()
        self.progressed()

    def is_rejected(self, *symbols: str) -> bool:
        return any(symbol.lower() in self.rejected for symbol in symbols)

    # ReplayHooks -------------------------------------------------------------------------------

    def has_subscribers(self) -> bool:
        return any(session.subs for session in self.sessions)

    def gap_open(self) -> bool:
        return bool(self._cuts)

    def cut_all(self, gap: int) -> None:
        for session in self.sessions:
            self.cut(session, gap)

    def after_item(self) -> None:
        for key, (session, remaining) in list(self._cuts.items()):
            if remaining <= 1:
                del self._cuts[key]
                session.ws.abort()
            else:
                self._cuts[key] = (session, remaining - 1)

    def after_end(self) -> None:
        for session, _ in self._cuts.values():
            session.ws.abort()
        self._cuts.clear()

    def progressed(self) -> None:
        """Wake everything waiting in ``wait_for``."""
        self._changed.set()
        self._changed = asyncio.Event()

    # drops and closes --------------------------------------------------------------------------

    def cut(self, session: Session, items: int) -> None:
        """Send ``session`` nothing more; abort its socket once ``items`` more items played.

        Until then the socket stays open and silent, as when a network path dies and the
        client has not noticed yet.
        """
        log.info("connection %d: cut (network drop simulated)", session.id)
        session.closed = True
        session.stats.dropped = True
        replay = self.replay
        running = replay is not None and replay.started and not replay.finished.is_set()
        if items <= 0 or not running:
            session.ws.abort()
        else:
            self._cuts[session.id] = (session, items)
        self.subscriptions_changed()

    async def close_session(self, session: Session, code: int, reason: str) -> None:
        """Close with a close frame, between two replay items (nothing half-sent)."""
        async with self.lock:
            if session.closed:
                return
            session.closed = True
            session.props["closing_by_server"] = True
        log.info("connection %d: closing (%d %s)", session.id, code, reason)
        self.subscriptions_changed()
        await session.ws.close(code, reason)

    async def close_all(self, code: int, reason: str) -> None:
        for session in list(self._open.values()):
            await self.close_session(session, code, reason)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()
