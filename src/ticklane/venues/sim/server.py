"""``LocalVenue``: a WebSocket + HTTP server speaking one venue's protocol from a recording.

One port serves both: a request asking for a WebSocket upgrade opens a stream connection, any
other GET is answered as the venue's REST API (websockets' ``process_request`` hook).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from http import HTTPStatus
from itertools import chain, islice
from pathlib import Path
from types import TracebackType
from typing import cast
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ticklane.core.errors import ConfigError
from ticklane.venues.sim.binance import BinanceVenue
from ticklane.venues.sim.connection import SimConnection, text_of
from ticklane.venues.sim.hub import SessionHub
from ticklane.venues.sim.kraken import KrakenVenue
from ticklane.venues.sim.kraken_futures import KrakenFuturesVenue
from ticklane.venues.sim.recordings import Recording, RecordingEvent, merge_events, read_recording
from ticklane.venues.sim.replay import Replay
from ticklane.venues.sim.synthetic import SyntheticMarket
from ticklane.venues.sim.venue import (
    ConnectionStats,
    HttpAnswer,
    ReplayItem,
    Session,
    VenueHandler,
    VenueOptions,
)

log = logging.getLogger(__name__)

VENUES: dict[str, type[VenueHandler]] = {
    "binance": BinanceVenue,
    "kraken": KrakenVenue,
    "kraken_futures": KrakenFuturesVenue,
}


class LocalVenue:
    """A local venue replaying recorded sessions (or, for Binance, a synthetic market).

    Use it as ``async with LocalVenue("binance", [path]) as venue:`` and point a client at
    ``venue.ws_url`` / ``venue.http_url`` (the venue's own paths below them; ``venue.endpoints``
    lists the full URLs).

    Options:
        venue: ``binance``, ``kraken`` or ``kraken_futures``.
        recordings: recording files (any format ``read_recording`` knows) or ``Recording``s,
            merged by time; REST dumps among them (exchangeInfo, AssetPairs, instruments) answer
            the matching REST endpoints.
        synthetic: a ``SyntheticMarket`` to generate instead of (after) the recordings; Binance.
        host, port: where to listen (port 0: any free port; see ``port`` once started).
        speed: 1.0 keeps the recorded pace, 10 is ten times faster, 0 or ``inf`` sends as fast
            as the slowest subscribed client reads.
        autostart: start the replay at the first subscription (else call ``start()``).
        start_delay: seconds between that first subscription and the first frame (lets a
            client that subscribes channel by channel finish before data flows).
        pause_when_idle: hold the replay while no connection is subscribed (so a test loses
            nothing it did not choose to lose); off, the replay runs on, as a venue does.
        ping_interval, ping_timeout: WebSocket pings sent by the server, and how long a pong
            may take before the connection is dropped; None takes the venue's habit (Binance
            20 s / 60 s; the Kraken venues send none); 0 turns pings off.
        max_lifetime: close every connection (code 1001) this many seconds after it opened,
            like Binance's 24 h limit.
        rate_limit: Binance: more incoming frames than this in one second (text, ping and pong
            alike) closes the connection with 1008. None: no limit.
        idle_timeout: close a connection whose client sent nothing (not even a ping) for this
            long; None takes the venue's habit (Kraken Futures 60 s), 0 turns it off.
        heartbeat_interval: Kraken heartbeat frames after this many idle seconds on a
            subscribed connection (Kraken Futures: the ``heartbeat`` feed's period).
        reject_symbols: names refused at subscribe time with the venue's error answer.
    """

    def __init__(
        self,
        venue: str,
        recordings: Sequence[str | Path | Recording] = (),
        *,
        synthetic: SyntheticMarket | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        autostart: bool = True,
        start_delay: float = 0.0,
        pause_when_idle: bool = False,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_lifetime: float | None = None,
        rate_limit: int | None = 5,
        idle_timeout: float | None = None,
        heartbeat_interval: float | None = 1.0,
        reject_symbols: Iterable[str] = (),
    ) -> None:
        if venue not in VENUES:
            raise ConfigError(f"venue {venue!r} is not one of {', '.join(VENUES)}")
        if synthetic is not None and venue != "binance":
            raise ConfigError("a synthetic market is only generated for binance")
        if not recordings and synthetic is None:
            raise ConfigError("give recordings or a synthetic market to serve")
        if speed < 0 or math.isnan(speed):
            raise ConfigError(f"speed must be >= 0 (0 or inf: unpaced), not {speed}")
        self.venue = venue
        self.host = host
        self.port = port
        self._recordings = list(recordings)
        self._synthetic = synthetic
        handler_type = VENUES[venue]
        default_ping = handler_type.ping_interval_default
        self._ping_interval = _or_default(ping_interval, default_ping)
        self._ping_timeout = _or_default(ping_timeout, 60.0) if self._ping_interval else None
        self._max_lifetime = max_lifetime
        default_idle = 60.0 if venue == "kraken_futures" else None
        self._idle_timeout = _or_default(idle_timeout, default_idle)
        self._options = VenueOptions(
            rate_limit=rate_limit if venue == "binance" else None,
            heartbeat_interval=heartbeat_interval,
        )
        self._hub = SessionHub(reject_symbols)
        self._handler: VenueHandler = handler_type(self._hub, self._options)
        self._items: list[ReplayItem] | None = None
        self._replay_options = (speed, autostart, start_delay, pause_when_idle)
        self._replay: Replay | None = None
        self._task: asyncio.Task[None] | None = None
        self._server: Server | None = None
        self.http_requests: Counter[str] = Counter()
        """REST requests answered, per path."""
        self.replay_error: Exception | None = None
        """Why the replay stopped early, if it failed."""

    # lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> LocalVenue:
        await self.open()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Load the recordings and start listening."""
        items: Iterator[ReplayItem] = self._handler.load(self._events())
        if self._synthetic is not None:
            self._handler.note_symbols(self._synthetic.symbol_names())
        if self._synthetic is None or self._synthetic.frames is not None:
            self._items = list(items)
            items = iter(self._items)
        else:
            # Endless: load the leading REST snapshots now, so depth answers before the start.
            head = list(islice(items, len(self._synthetic.symbol_names())))
            items = chain(head, items)
        speed, autostart, start_delay, pause_when_idle = self._replay_options
        self._replay = Replay(
            items,
            self._handler.play,
            self._hub.lock,
            self._hub,
            speed=speed,
            autostart=autostart,
            start_delay=start_delay,
            pause_when_idle=pause_when_idle,
        )
        self._hub.replay = self._replay
        self._server = await serve(
            self._serve_ws,
            self.host,
            self.port,
            process_request=self._process_request,
            create_connection=SimConnection,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            compression=None,
            max_size=2**22,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._task = asyncio.create_task(self._run_replay(), name=f"sim-{self.venue}-replay")
        log.info("local %s venue on %s, %s", self.venue, self.ws_url, self.http_url)

    async def close(self) -> None:
        """Stop the replay and the server (open connections are closed with 1001)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _run_replay(self) -> None:
        try:
            await self.replay.run()
        except Exception as error:  # kept for wait_finished to raise, and logged once here
            log.exception("local %s venue: the replay failed", self.venue)
            self.replay_error = error
            self._hub.progressed()

    def _events(self) -> Iterator[RecordingEvent]:
        loaded = [r if isinstance(r, Recording) else read_recording(r) for r in self._recordings]
        yield from merge_events(loaded)
        if self._synthetic is not None:
            yield from self._synthetic.events()

    # addresses ---------------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """``ws://host:port``: the venue's WebSocket paths hang below it."""
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """``http://host:port``: the venue's REST paths hang below it."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoints(self) -> dict[str, str]:
        """Full URLs of what is served, by name (e.g. ``ws``, ``ws_v1``, ``rest``, ``demo_ws``)."""
        return self._handler.endpoints(self.ws_url, self.http_url)

    # state -------------------------------------------------------------------------------------

    @property
    def replay(self) -> Replay:
        if self._replay is None:
            raise RuntimeError("the venue is not open yet")
        return self._replay

    @property
    def handler(self) -> VenueHandler:
        return self._handler

    @property
    def position(self) -> int:
        """Timeline items played so far (the index of the next one)."""
        return self.replay.position

    @property
    def finished(self) -> bool:
        """Whether the whole timeline was played."""
        return self.replay.finished.is_set()

    @property
    def items(self) -> list[ReplayItem]:
        """The replay timeline (not for an endless synthetic market)."""
        if self._items is None:
            raise RuntimeError("an endless synthetic market has no finite timeline")
        return self._items

    @property
    def connections(self) -> list[ConnectionStats]:
        """Every connection so far, oldest first, open or closed."""
        return list(self._hub.history)

    def sent_counts(self, by: str = "stream", connection: int | None = None) -> Counter[str]:
        """Data frames sent per stream key (or per ``channel``), over all or one connection."""
        total: Counter[str] = Counter()
        for stats in self._hub.history:
            if connection is None or stats.id == connection:
                total.update(stats.sent)
        return self._group(total, by)

    def recorded_counts(self, by: str = "stream") -> Counter[str]:
        """Frames in the timeline per stream key (or per ``channel``)."""
        return self._group(Counter(item.key for item in self.items if item.key), by)

    def _group(self, counts: Counter[str], by: str) -> Counter[str]:
        if by == "stream":
            return counts
        if by != "channel":
            raise ValueError(f"count by 'stream' or 'channel', not {by!r}")
        grouped: Counter[str] = Counter()
        for key, number in counts.items():
            grouped[self._handler.channel_of(key)] += number
        return grouped

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate()`` holds (re-checked as frames go out and connections change)."""
        await self._hub.wait_for(predicate, timeout)

    async def wait_finished(self, timeout: float = 60.0) -> None:
        """Wait until the whole timeline was played (raises if the replay failed)."""
        await self.wait_for(lambda: self.finished or self.replay_error is not None, timeout)
        if self.replay_error is not None:
            raise RuntimeError("the replay failed") from self.replay_error

    async def wait_subscribed(self, streams: int = 1, timeout: float = 30.0) -> None:
        """Wait until open connections hold at least ``streams`` subscriptions in all."""
        await self.wait_for(lambda: self.subscription_count() >= streams, timeout)

    def subscription_count(self) -> int:
        """Subscriptions held by open connections."""
        return self._hub.subscription_count()

    # controls ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the replay now (with ``autostart=False``, or before anyone subscribed)."""
        self.replay.start()

    def pause(self) -> None:
        """Hold the replay before its next item until ``resume()`` (sockets stay open)."""
        self.replay.hold()

    def resume(self) -> None:
        self.replay.release()

    def set_speed(self, speed: float) -> None:
        """Change the pace from the next frame on (0 or inf: unpaced)."""
        self.replay.set_speed(speed)

    def stall_now(self, seconds: float) -> None:
        """Send no frame for ``seconds`` (sockets stay open, pings are answered); nothing lost."""
        self.replay.stall_soon(seconds)

    def stall_at(self, index: int, seconds: float) -> None:
        """Stall for ``seconds`` before timeline item ``index``."""
        self.replay.stall_at(index, seconds)

    def stall_after(self, frames: int, seconds: float) -> None:
        """Stall once a connection has been sent ``frames`` data frames (one-shot)."""
        self._hub.stall_after = (frames, seconds)

    def drop_now(self, gap: int = 0) -> None:
        """Cut every connection without a close frame, ``gap`` timeline items from now."""
        self._hub.cut_all(gap)

    def drop_at(self, index: int, gap: int = 0) -> None:
        """Cut every connection at timeline item ``index``: it and the ``gap - 1`` items after
        it are not sent to them (the socket stays silent), then the socket is aborted."""
        self.replay.drop_at(index, gap)

    def drop_after(self, frames: int, gap: int = 0) -> None:
        """Cut the first connection that has been sent ``frames`` data frames (one-shot): it
        misses the next ``gap`` timeline items in silence, then its socket is aborted."""
        self._hub.drop_after = (frames, gap)

    async def close_connections(self, code: int = 1001, reason: str = "") -> None:
        """Close every connection with a close frame (a venue restart, say)."""
        await self._hub.close_all(code, reason)

    def reject_symbol(self, symbol: str) -> None:
        """Refuse ``symbol`` at subscribe time from now on, with the venue's error answer."""
        self._hub.rejected.add(symbol.lower())

    def accept_symbol(self, symbol: str) -> None:
        self._hub.rejected.discard(symbol.lower())

    # WebSocket connections ---------------------------------------------------------------------

    async def _serve_ws(self, connection: ServerConnection) -> None:
        ws = cast(SimConnection, connection)
        target = ws.request.path if ws.request is not None else "/"
        path, query, demo = _split_target(target)
        ws.rate_limit = self._options.rate_limit
        session = self._hub.register(ws, path, query, target)
        session.props["demo"] = demo
        stats = session.stats
        monitor = asyncio.create_task(self._monitor(session), name=f"sim-conn-{session.id}")
        try:
            async with self._hub.lock:
                await self._handler.on_open(session)
            async for message in ws:
                stats.received += 1
                async with self._hub.lock:
                    if session.live:
                        await self._handler.on_message(session, text_of(message))
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("local %s venue: connection %d failed", self.venue, session.id)
        finally:
            if not session.props.get("closing_by_server"):
                monitor.cancel()  # else it is the one closing: let it finish
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            stats.closed = True
            stats.close_code = 1006 if stats.dropped else ws.close_code
            stats.close_reason = "Too many messages" if ws.rate_limited else ws.close_reason or ""
            self._hub.unregister(session)

    async def _monitor(self, session: Session) -> None:
        """Connection lifetime, idle timeout and heartbeats of one connection."""
        lifetime, idle = self._max_lifetime, self._idle_timeout
        beat = self._options.heartbeat_interval if self._handler.heartbeats else None
        if not (lifetime or idle or beat):
            return
        loop = asyncio.get_running_loop()
        checked = loop.time()
        try:
            while session.live:
                deadlines = []
                if lifetime:
                    deadlines.append(session.opened_at + lifetime)
                if idle:
                    deadlines.append(session.ws.last_inbound + idle)
                if beat:
                    deadlines.append(max(session.last_sent, checked) + beat)
                await asyncio.sleep(max(0.0, min(deadlines) - loop.time()))
                now = loop.time()
                if lifetime and now >= session.opened_at + lifetime:
                    await self._hub.close_session(session, 1001, "connection lifetime exceeded")
                elif idle and now >= session.ws.last_inbound + idle:
                    await self._hub.close_session(session, 1001, "no message or ping; idle timeout")
                elif beat and now >= max(session.last_sent, checked) + beat:
                    checked = now
                    await self._heartbeat(session)
        except Exception:
            log.exception("local %s venue: connection %d monitor failed", self.venue, session.id)

    async def _heartbeat(self, session: Session) -> None:
        if not session.subs or self.replay.stalled:
            return
        frame = self._handler.heartbeat(session)
        if frame is not None:
            async with self._hub.lock:
                await self._hub.send_control(session, frame)

    # HTTP --------------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, query, _ = _split_target(request.path)
        if "websocket" in request.headers.get("Upgrade", "").lower():
            if not self._handler.ws_path_ok(path):
                return _response(HttpAnswer.json({"error": f"no stream at {path}"}, 404))
            refusal = self._handler.handshake_error(path, query)
            return None if refusal is None else _response(refusal)
        self.http_requests[path] += 1
        try:
            answer = self._handler.http(path, query)
        except Exception:
            log.exception("local %s venue: REST %s failed", self.venue, request.path)
            answer = HttpAnswer.json({"error": "internal error"}, 500)
        return _response(answer)


def _split_target(target: str) -> tuple[str, dict[str, str], bool]:
    """Path, query and whether the ``/demo`` prefix (a demo environment) was used."""
    parts = urlsplit(target)
    path = parts.path or "/"
    demo = path == "/demo" or path.startswith("/demo/")
    if demo:
        path = path[len("/demo") :] or "/"
    return path, dict(parse_qsl(parts.query, keep_blank_values=True)), demo


def _response(answer: HttpAnswer) -> Response:
    status = HTTPStatus(answer.status)
    headers = Headers(
        [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, answer.body)


def _or_default(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return value if value > 0 else None
