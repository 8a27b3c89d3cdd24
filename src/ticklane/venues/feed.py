"""The live feed runner: one venue connection kept alive, its frames turned into records.

A ``FeedRunner`` owns one connection plan (a URL and the frames that subscribe it) of one
venue, and runs until it is cancelled:

- **connect** with the ``websockets`` client (it answers the venue's pings, and its own
  protocol pings every 20 s keep Kraken Futures' 60 s idle limit away), send the subscribe
  frames paced under the venue's control-message rate, then read frames;
- **normalize** each frame with the venue's parser (one per runner, kept across reconnects so
  that its trade-id and sequence state spans them) and hand the records to the sink;
- **act** on what the parser asks (``FeedAction``): a book snapshot to fetch, a book to
  resubscribe, trades to backfill from the venue's REST history, a reconnect;
- **watchdog**: a connection silent for ``watchdog_secs`` (up to 1/8 more) is dropped and
  reconnected;
- **refused**: a handshake the venue refuses is logged with the venue's answer; when it refuses
  the request itself (HTTP 4xx) the adapter finds what it refuses (Binance: a symbol it does
  not list, in the stream URL) and the connection goes on without it;
- **reconnect** after any failure with capped exponential backoff and full jitter; the books
  are then rebuilt (``reset_books``) and the trades missed meanwhile are found by the parser
  (a jump in trade ids) and fetched; what cannot be fetched becomes a ``Gap`` (reported to
  ``on_gap``, which stores it) and is counted;
- **rotate** a connection before the venue's lifetime limit (Binance: 24 h): a new connection
  is opened while the old one still runs, and the old one closes once the new one delivers;
  trades from both are de-duplicated by trade id in the shared parser.

Nothing here is venue-specific: a ``VenueAdapter`` says how to connect and how to carry out
the actions (``ticklane.venues.feed_adapters`` has one per venue).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Protocol

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ticklane.core.errors import ConfigError, TicklaneError
from ticklane.core.records import BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.storage.base import Gap
from ticklane.venues.common import FeedAction, FrameParser

log = logging.getLogger(__name__)

_OPEN_TIMEOUT_S: Final = 10.0
_MAX_FRAME_BYTES: Final = 16 * 2**20  # a Binance depth snapshot frame is about 1 MB
_ROTATE_OVERLAP_S: Final = 30.0  # longest wait for the new connection before closing the old
_WATCHDOG_SLACK: Final = 0.125  # the watchdog is moved forward at most every 1/8 of its period
_MAX_QUEUED_FRAMES: Final = 256  # frames websockets buffers before it stops reading the socket
_ANSWER_CHARS: Final = 300  # of a venue's refusal, in the log

RecordSink = Callable[[list[MarketRecord]], None]
GapSink = Callable[[Gap], Awaitable[None]]
FrameSink = Callable[["ConnectionPlan", bytes | str, int], None]  # --record: (plan, frame, ts)


class ConnectionPlan(msgspec.Struct, frozen=True):
    """One connection: where to connect and what to send once connected."""

    name: str  # for logs and metrics, e.g. "binance#0"
    url: str
    subscribe: tuple[bytes, ...] = ()
    symbols: tuple[str, ...] = ()


class ActionResult(msgspec.Struct, frozen=True):
    """What carrying out a ``FeedAction`` produced: records to publish, gaps it could not fill,
    and frames to send on the connection (a resubscription)."""

    records: list[MarketRecord] = []
    gaps: list[Gap] = []
    send: list[bytes] = []
    recovered: int = 0  # trades fetched from the venue's history
    reconnect: bool = False  # the venue announced it will close this connection


class VenueAdapter(Protocol):
    """What the runner needs to know about a venue."""

    exchange: str
    control_rate: float  # control frames per second the venue allows
    max_lifetime_s: float | None  # rotate before this; None: no limit

    def new_parser(self) -> FrameParser: ...

    def after_connect(self, parser: FrameParser) -> list[MarketRecord]:
        """Reset what a reconnect invalidates (books); records to publish (book clears)."""
        ...

    async def perform(self, action: FeedAction, parser: FrameParser) -> ActionResult: ...

    async def narrow(self, plan: ConnectionPlan, answer: str) -> ConnectionPlan | None:
        """After the venue refused ``plan``'s handshake with ``answer``: the plan without what
        it refuses (each refused symbol logged), or None to retry it as it is. ConfigError
        when the venue refuses every symbol of the plan."""
        ...


class FeedStats:
    """Counters of one runner; the metrics endpoint reads them at scrape time."""

    def __init__(self, exchange: str, name: str) -> None:
        self.exchange = exchange
        self.name = name
        self.connected = False
        self.frames = 0
        self.records: Counter[tuple[str, str]] = Counter()  # (symbol, kind) -> records
        self.reconnects: Counter[str] = Counter()  # reason -> count
        self.gaps: Counter[str] = Counter()  # symbol -> gaps recorded
        self.recovered: Counter[str] = Counter()  # symbol -> trades fetched after a gap
        self.actions: Counter[str] = Counter()  # action kind -> count
        self.last_trade_ns: dict[str, int] = {}  # symbol -> ts_event of the latest trade
        self.last_frame_ns = 0

    def count(self, records: Sequence[MarketRecord]) -> None:
        counts = self.records
        for record in records:
            if type(record) is TradeRecord:
                counts[record.symbol, "trade"] += 1
                self.last_trade_ns[record.symbol] = record.ts_event
            elif type(record) is QuoteRecord:
                counts[record.symbol, "quote"] += 1
            elif type(record) is BookRecord:
                counts[record.symbol, "book"] += 1


class Backoff:
    """Capped exponential backoff with full jitter: attempt n waits a random time in
    ``[0, min(cap, initial * 2**n)]`` (spreads many clients' reconnects; AWS's analysis)."""

    def __init__(self, initial_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.initial_s * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 30)
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class _Silent(Exception):
    """The watchdog fired: no frame for ``watchdog_secs``."""


class FeedRunner:
    """Keeps one connection of one venue alive (see the module docstring)."""

    def __init__(
        self,
        adapter: VenueAdapter,
        plan: ConnectionPlan,
        sink: RecordSink,
        *,
        watchdog_secs: float = 30.0,
        backoff: Backoff | None = None,
        on_gap: GapSink | None = None,
        on_frame: FrameSink | None = None,
    ) -> None:
        self.adapter = adapter
        self.plan = plan
        self.parser = adapter.new_parser()
        self.stats = FeedStats(adapter.exchange, plan.name)
        self._sink = sink
        self._watchdog_secs = watchdog_secs
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._on_gap = on_gap
        self._on_frame = on_frame
        self._last_control = 0.0
        self._burst: list[MarketRecord] = []  # records not yet published (see ``_flush``)
        self._sink_error: Exception | None = None

    async def run(self) -> None:
        """Connect, read, reconnect, until cancelled."""
        first = True
        while True:
            reason = "rotated"
            try:
                await self._session(reconnected=not first)
            except _Silent:
                reason = "silent"
                log.warning("%s: no frame for %.0f s: reconnecting", self.plan.name,
                            self._watchdog_secs)  # fmt: skip
            except ConnectionClosed as closed:
                reason = "closed"
                log.warning("%s: connection closed (%s): reconnecting", self.plan.name, closed)
            except InvalidStatus as refusal:
                reason = "refused"
                await self._refused(refusal)
            except (OSError, TimeoutError, InvalidHandshake) as error:
                reason = "connect_failed"
                log.warning("%s: cannot connect (%s): retrying", self.plan.name, error)
            except InvalidURI as error:
                raise ConfigError(f"{self.plan.name}: bad URL {self.plan.url!r}: {error}") from None
            finally:
                self.stats.connected = False
            first = False
            self.stats.reconnects[reason] += 1
            if reason != "rotated":
                await asyncio.sleep(self._backoff.next_delay())

    # -- one connection ------------------------------------------------------------------------

    async def _session(self, *, reconnected: bool) -> None:
        """One connection, and the ones that replace it at each rotation, until one fails."""
        connection = await self._connect()
        try:
            self._publish(self.adapter.after_connect(self.parser) if reconnected else [])
            await self._subscribe(connection)
            self.stats.connected = True
            while True:  # a loop, not a recursion: a feed may rotate for months
                await self._read(connection, deadline=self._deadline())
                connection = await self._rotate(connection)
        finally:
            await connection.close()

    def _connect(self) -> connect:
        return connect(
            self.plan.url,
            open_timeout=_OPEN_TIMEOUT_S,
            max_size=_MAX_FRAME_BYTES,
            max_queue=_MAX_QUEUED_FRAMES,
            compression=None,  # deflate costs CPU per frame; the venues do not require it
        )

    def _deadline(self) -> float | None:
        lifetime = self.adapter.max_lifetime_s
        return None if lifetime is None else time.monotonic() + lifetime

    async def _read(self, connection: ClientConnection, *, deadline: float | None) -> None:
        """Read and publish frames until ``deadline`` (then return: time to rotate); raise
        ``_Silent`` after ``watchdog_secs`` without a frame."""
        parser, stats = self.parser, self.stats
        on_frame, backoff, plan = self._on_frame, self._backoff, self.plan
        call_soon = asyncio.get_running_loop().call_soon
        clock = time.monotonic  # the event loop's clock (asyncio.timeout's)
        rearm_after = self._watchdog_secs * _WATCHDOG_SLACK
        armed = clock()
        # One timeout over the whole loop, moved forward at most every watchdog_secs / 8 while
        # frames arrive: arming one per frame cost ~15 % of the loop. Silence trips it after
        # watchdog_secs to 1.125 x watchdog_secs. Frames are read as bytes: the parsers take
        # bytes, and decoding them to str first cost a decode and an encode per frame.
        scope = asyncio.timeout(self._expiry(armed, deadline))
        try:
            async with scope:
                while True:
                    frame = await connection.recv(decode=False)
                    ts_recv = time.time_ns()
                    stats.frames += 1
                    stats.last_frame_ns = ts_recv
                    if on_frame is not None:
                        on_frame(plan, frame, ts_recv)
                    if backoff.attempt:
                        backoff.reset()  # a frame arrived: the connection works
                    now = clock()
                    if now - armed >= rearm_after:
                        armed = now
                        scope.reschedule(self._expiry(now, deadline))
                    records = parser.parse(frame, ts_recv)
                    if records:
                        if not self._burst:
                            if self._sink_error is not None:
                                self._raise_sink_error()
                            call_soon(self._flush_soon)
                        self._burst += records
                    actions = parser.take_actions()
                    if actions:
                        self._flush()  # what came before an action is published before it
                        scope.reschedule(None)  # a REST call may outlast the watchdog
                        for action in actions:
                            await self._perform(action, connection)
                        armed = clock()
                        scope.reschedule(self._expiry(armed, deadline))
        except TimeoutError:
            if not scope.expired():
                raise  # not ours: a send timed out, say
            if deadline is not None and clock() >= deadline:
                return
            raise _Silent from None
        finally:
            self._flush()

    def _expiry(self, now: float, deadline: float | None) -> float:
        expiry = now + self._watchdog_secs * (1.0 + _WATCHDOG_SLACK)
        return expiry if deadline is None else min(expiry, deadline)

    async def _rotate(self, old: ClientConnection) -> ClientConnection:
        """Open a new connection before the old one reaches the venue's lifetime limit; read
        both until the new one delivers a frame, then close the old one and return the new
        one. The shared parser drops the trades seen twice (by trade id)."""
        log.info("%s: rotating the connection before the venue's lifetime limit", self.plan.name)
        new = await self._connect()
        first: asyncio.Task[bytes] | None = None
        try:
            await self._subscribe(new)
            first = asyncio.ensure_future(new.recv(decode=False))
            give_up = time.monotonic() + _ROTATE_OVERLAP_S
            while not first.done() and time.monotonic() < give_up:
                try:
                    async with asyncio.timeout(0.05):
                        frame = await old.recv(decode=False)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    break
                ts_recv = time.time_ns()
                self.stats.frames += 1
                if self._on_frame is not None:
                    self._on_frame(self.plan, frame, ts_recv)
                # Only trades: the new connection's queue holds the rest from its subscription
                # on, and the books start afresh on it (below).
                self._publish([r for r in self.parser.parse(frame, ts_recv)
                               if type(r) is TradeRecord])  # fmt: skip
            await old.close()
            # The books continue on the new connection from a fresh start: its diffs overlap
            # the old ones', which a diff chain cannot take twice.
            self._publish(self.adapter.after_connect(self.parser))
            try:
                async with asyncio.timeout(self._watchdog_secs):
                    frame = await first
            except TimeoutError:
                raise _Silent from None
            ts_recv = time.time_ns()
            self.stats.frames += 1
            if self._on_frame is not None:
                self._on_frame(self.plan, frame, ts_recv)
            records = self.parser.parse(frame, ts_recv)
            if records:
                self._publish(records)
            self.stats.reconnects["rotated"] += 1
            return new
        except BaseException:
            if first is not None and not first.done():
                first.cancel()
            await new.close()
            raise

    async def _refused(self, refusal: InvalidStatus) -> None:
        """The venue refused the handshake: log its answer; a refusal of the request itself
        (4xx but 429) lets the adapter drop what the venue refuses from the plan."""
        status = refusal.response.status_code
        answer = bytes(refusal.response.body).decode("utf-8", "replace")[:_ANSWER_CHARS]
        log.warning("%s: the venue refused the connection: HTTP %d %s", self.plan.name, status,
                    answer)  # fmt: skip
        if not 400 <= status < 500 or status == 429:
            return  # the venue's trouble or its rate limit: retried with backoff
        try:
            narrowed = await self.adapter.narrow(self.plan, answer)
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as error:
            log.warning("%s: cannot find what the venue refuses (%s): retrying", self.plan.name,
                        error)  # fmt: skip
            return
        if narrowed is not None:
            log.warning("%s: streaming %s without what the venue refuses", self.plan.name,
                        ", ".join(narrowed.symbols))  # fmt: skip
            self.plan = narrowed

    async def _subscribe(self, connection: ClientConnection) -> None:
        for frame in self.plan.subscribe:
            await self._send(connection, frame)

    async def _send(self, connection: ClientConnection, frame: bytes) -> None:
        """Send a control frame, paced under the venue's rate (Binance: 5 per second)."""
        gap = 1.0 / self.adapter.control_rate
        wait = self._last_control + gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await connection.send(frame.decode())
        self._last_control = time.monotonic()

    async def _perform(self, action: FeedAction, connection: ClientConnection) -> None:
        self.stats.actions[action.kind.value] += 1
        try:
            result = await self.adapter.perform(action, self.parser)
        except TicklaneError as error:
            # The venue's REST API failed: what the action was for is lost, and said so.
            log.warning("%s: %s for %s failed: %s", self.plan.name, action.kind.value,
                        action.symbol, error)  # fmt: skip
            result = ActionResult(gaps=_gaps_of(action, f"{action.kind.value} failed: {error}"))
        if result.records:
            self._publish(result.records)
        if result.recovered:
            self.stats.recovered[action.symbol] += result.recovered
        for frame in result.send:
            await self._send(connection, frame)
        if result.reconnect:
            await connection.close()  # the read loop then reconnects
        for gap in result.gaps:
            self.stats.gaps[gap.symbol] += 1
            log.warning("%s: gap in %s from %d to %d: %s", self.plan.name, gap.symbol,
                        gap.from_ns, gap.to_ns, gap.reason)  # fmt: skip
            if self._on_gap is not None:
                await self._on_gap(gap)

    def _publish(self, records: list[MarketRecord]) -> None:
        if records:
            self.stats.count(records)
            self._sink(records)

    # Frames that were already waiting when the read loop took the first of them are read
    # without the loop waiting in between; their records go to the sink in one call, made as
    # soon as the loop waits for the socket again. The sinks' cost is mostly per call (the
    # ring publishes a block at a time): one call per frame cost a third of the loop at
    # 40,000 frames/s. A frame read on its own is published on the next turn of the loop.

    def _flush(self) -> None:
        burst = self._burst
        if burst:
            self._burst = []
            self._publish(burst)

    def _flush_soon(self) -> None:
        try:
            self._flush()
        except Exception as error:  # raised in the read loop: a callback's error is only logged
            self._sink_error = error

    def _raise_sink_error(self) -> None:
        error, self._sink_error = self._sink_error, None
        if error is not None:
            raise error


def _gaps_of(action: FeedAction, reason: str) -> list[Gap]:
    """The gap a failed backfill leaves: after the last trade seen, up to now."""
    if action.kind.value != "backfill_trades":
        return []
    return [Gap(action.exchange, action.symbol, action.after_ts, time.time_ns(), reason)]
