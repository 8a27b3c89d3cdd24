"""The server side of one WebSocket connection, watching what the client sends.

websockets answers pings by itself and hides ping and pong frames from the application; a
venue counts them (Binance: every frame counts toward 5 messages a second) and a silent client
is closed (Kraken Futures: no ping within 60 s). So frames are seen here, as they arrive.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Event, State
from websockets.typing import Data

log = logging.getLogger(__name__)

_COUNTED = (Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG)


class SimConnection(ServerConnection):
    """A ``ServerConnection`` that times inbound frames and enforces a message rate."""

    rate_limit: int | None = None
    """Close with 1008 once more than this many frames arrive within one second."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_inbound = self.loop.time()
        self.rate_limited = False
        self._recent: deque[float] = deque()

    def process_event(self, event: Event) -> None:
        if self.request is not None and isinstance(event, Frame) and event.opcode in _COUNTED:
            now = self.loop.time()
            self.last_inbound = now
            if self.rate_limit is not None and self._over_rate(now):
                return
        super().process_event(event)

    def _over_rate(self, now: float) -> bool:
        recent = self._recent
        recent.append(now)
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) <= (self.rate_limit or 0) or self.protocol.state is not State.OPEN:
            return False
        # Binance drops a connection that sends more than 5 messages a second.
        log.info("connection %s: more than %s messages/s; closing", self.id, self.rate_limit)
        self.rate_limited = True
        self.protocol.fail(CloseCode.POLICY_VIOLATION, "Too many messages")
        try:
            self.send_data()  # data_received already flushed before handing us the event
        except Exception:  # a closing transport; the close is logged by websockets
            log.debug("connection %s: could not flush the close frame", self.id, exc_info=True)
        return True

    def abort(self) -> None:
        """Cut the TCP connection without a close frame, like a network failure."""
        self.transport.abort()


def text_of(message: Data) -> str:
    """A client's message as text (venues speak JSON text; binary is decoded as UTF-8)."""
    return message if isinstance(message, str) else bytes(message).decode("utf-8", "replace")
