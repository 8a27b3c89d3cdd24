"""What every simulated venue shares: replay items, sessions, options and the handler base.

A :class:`VenueHandler` speaks one venue's protocol. The server (``server.py``) owns the
sockets, the replay clock and the controls; it hands the handler each WebSocket message, each
REST request and each replay item, and the handler answers through the :class:`Transport`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from ticklane.venues.sim.recordings import RecordingEvent

if TYPE_CHECKING:
    from ticklane.venues.sim.connection import SimConnection


class ReplayItem(msgspec.Struct):
    """One step of the replay timeline: a recorded frame (or REST snapshot) and its routing.

    ``key`` names the stream it belongs to, in the venue's own terms (Binance
    ``btcusdt@trade``, Kraken ``book:XBT/USD``, Kraken Futures ``book:PI_XBTUSD``); an item with
    an empty key is never sent (a REST snapshot the venue applies to its book).
    """

    index: int
    ts_recv: int
    key: str
    frame: str
    data: Any = None
    extra: Any = None


@dataclass
class ConnectionStats:
    """What one WebSocket connection was sent and how it ended (read-only for callers)."""

    id: int
    path: str
    sent: Counter[str] = field(default_factory=Counter)
    """Data frames sent, per stream key (snapshots synthesized on subscribe included)."""
    synthesized: int = 0
    """Of those, frames made by the venue rather than taken from the recording."""
    control_sent: int = 0
    """Acks, errors, pongs, status and heartbeat frames."""
    received: int = 0
    """Text frames the client sent."""
    subscriptions: set[str] = field(default_factory=set)
    closed: bool = False
    dropped: bool = False
    """Closed by a drop control: the socket was cut without a close frame."""
    close_code: int | None = None
    close_reason: str = ""

    @property
    def frames_sent(self) -> int:
        """All data frames sent."""
        return sum(self.sent.values())


@dataclass
class Session:
    """One client WebSocket connection as a venue handler sees it."""

    id: int
    ws: SimConnection
    path: str
    query: dict[str, str]
    opened_at: float
    stats: ConnectionStats
    subs: dict[str, Any] = field(default_factory=dict)
    """Active subscriptions: stream key -> the venue's per-subscription state."""
    props: dict[str, Any] = field(default_factory=dict)
    last_sent: float = 0.0
    closed: bool = False
    """No frame may be sent any more (closing, cut by a drop, or gone)."""

    @property
    def live(self) -> bool:
        return not self.closed

    def subscribe(self, key: str, state: Any = True) -> None:
        self.subs[key] = state
        self.stats.subscriptions.add(key)

    def unsubscribe(self, key: str) -> None:
        self.subs.pop(key, None)
        self.stats.subscriptions.discard(key)


@dataclass(frozen=True)
class HttpAnswer:
    """A REST response: status and body (JSON unless ``content_type`` says otherwise)."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> HttpAnswer:
        return cls(status, msgspec.json.encode(value))

    @classmethod
    def raw(cls, text: str, status: int = 200) -> HttpAnswer:
        return cls(status, text.encode())


@dataclass(frozen=True)
class VenueOptions:
    """The options a venue handler reads (see ``LocalVenue`` for what each means)."""

    rate_limit: int | None = 5
    heartbeat_interval: float | None = 1.0


class Transport(Protocol):
    """What a handler may ask of the server."""

    @property
    def sessions(self) -> Iterable[Session]:
        """The connections that may still be sent to."""
        ...

    async def send_data(
        self, session: Session, key: str, text: str, *, synthesized: bool = False
    ) -> None:
        """Send a data frame of stream ``key`` (counted, and subject to drop/stall controls)."""
        ...

    async def send_control(self, session: Session, text: str) -> None:
        """Send an ack, error, pong, status or heartbeat frame."""
        ...

    def subscriptions_changed(self) -> None:
        """Wake the replay: a subscription was added or removed."""
        ...

    def is_rejected(self, *symbols: str) -> bool:
        """Whether a test asked to refuse any of these names (compared without case)."""
        ...


class VenueHandler(ABC):
    """One venue's protocol: subscriptions, frames, REST answers and book/trade state."""

    name: str = ""
    ping_interval_default: float | None = None
    """WebSocket ping frames the venue sends, in seconds (None: it sends none)."""
    heartbeats: bool = False
    """Whether the venue sends heartbeat frames on idle connections (see ``heartbeat``)."""

    def __init__(self, transport: Transport, options: VenueOptions) -> None:
        self.transport = transport
        self.options = options

    @abstractmethod
    def load(self, events: Iterable[RecordingEvent]) -> Iterator[ReplayItem]:
        """Keep the static REST dumps and turn the rest into replay items, in order."""

    @abstractmethod
    def ws_path_ok(self, path: str) -> bool:
        """Whether a WebSocket may open on ``path``."""

    def handshake_error(self, path: str, query: dict[str, str]) -> HttpAnswer | None:
        """An HTTP answer refusing the WebSocket handshake, or None to accept it."""
        return None

    @abstractmethod
    async def on_open(self, session: Session) -> None:
        """A connection opened (send the venue's greeting, subscribe from the URL...)."""

    @abstractmethod
    async def on_message(self, session: Session, text: str) -> None:
        """A text frame arrived from the client."""

    @abstractmethod
    async def play(self, item: ReplayItem) -> None:
        """Apply ``item`` to the venue's state and send it to the subscribed sessions."""

    def heartbeat(self, session: Session) -> str | None:
        """The heartbeat frame for an idle session, if the venue sends one."""
        return None

    @abstractmethod
    def http(self, path: str, query: dict[str, str]) -> HttpAnswer:
        """Answer a REST GET."""

    @abstractmethod
    def channel_of(self, key: str) -> str:
        """The channel part of a stream key (``btcusdt@trade`` -> ``trade``)."""

    @abstractmethod
    def endpoints(self, ws: str, http: str) -> dict[str, str]:
        """Full URLs of the venue's endpoints below the server's ``ws://`` and ``http://``."""

    def note_symbols(self, symbols: Iterable[str]) -> None:  # noqa: B027 (optional hook)
        """Symbols known before the timeline shows them (a synthetic market's)."""


def json_text(value: Any) -> str:
    """Compact JSON text of ``value`` (msgspec; keeps ``msgspec.Raw`` numbers as written)."""
    return msgspec.json.encode(value).decode()


def loads(text: str) -> Any:
    """Decode a client's JSON message; raises ``ValueError`` when it is not JSON."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise ValueError(str(error)) from None
