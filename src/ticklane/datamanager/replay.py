"""``data-manager serve --provider replay``: a recorded session fed through the live pipeline.

    recording (--file) ─▶ ReplayRunner (the venue's parser, books) ─┬─▶ StoreWriter (--persist)
                                                                     ├─▶ RingWriter (--ipc)
                                                                     └─▶ metrics

A ``ReplayRunner`` stands where a ``FeedRunner`` stands in ``Server``: it has the same
``plan``, ``parser`` and ``stats``, and hands records to the same sink, so what a replay stores
is what the live feed stored. Each received frame is parsed with the ``ts_recv`` it was recorded
with; the runner ends when the recording does.

What a live feed asks of the venue (book snapshots, resubscriptions, trade backfills) cannot be
asked of a recording: such requests are counted and logged once per kind. A Binance book is
started from the REST depth snapshot bodies the recording holds (``rest`` events of a
``--record`` recording, lines without ``stream`` of a recv-ns capture, ``->`` lines of a
cryptofeed session); without one it stays unsynced, and is counted.

Recordings read: a ``--record`` file or directory of rotated files, and every format
``ticklane.venues.sim.recordings.read_recording`` knows whose venue it can tell.
``open_recording`` checks one before anything is written and says what is wrong with it.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import zlib
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urlsplit

import msgspec

from ticklane.core.errors import BadDataError
from ticklane.core.records import MarketRecord
from ticklane.venues.binance.book import SyncState
from ticklane.venues.binance.parse import BinanceParser
from ticklane.venues.common import ActionKind, FeedAction
from ticklane.venues.feed import ConnectionPlan, FeedStats, RecordSink, VenueAdapter
from ticklane.venues.sim.recorder import SUFFIX
from ticklane.venues.sim.recordings import (
    ConnectionOpened,
    ReceivedFrame,
    Recording,
    RestBody,
    read_recording,
)

log = logging.getLogger(__name__)

REPLAY_PROVIDERS: Final = ("binance", "kraken", "kraken_futures")
_YIELD_EVERY: Final = 500  # frames between turns given to the writer and the signal handlers
_MIN_SLEEP_S: Final = 0.001  # a paced replay this close to due plays on instead of sleeping
_HOLD_POLL_S: Final = 0.01
_FORMATS: Final = (
    "a --record recording (file or directory), a recv-ns capture, a cryptofeed session "
    "or a Kraken book JSON"
)


def open_recording(path: Path) -> Recording:
    """The recording at ``path``, checked for replay, or ``BadDataError`` naming the file and
    what is wrong: missing, unreadable, corrupt gzip, a format not known, no received frames,
    or a venue that cannot be told.

    ``path`` may be a recording file, a directory of rotated ``--record`` files, or the
    ``--record`` directory itself when it holds one venue's folder.
    """
    source = path
    try:
        source = _recording_path(path)
        recording = read_recording(source)
    except FileNotFoundError:
        raise BadDataError(f"{path}: no such file or directory") from None
    except PermissionError:
        raise BadDataError(f"{source}: cannot be read: permission denied") from None
    except (gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise BadDataError(f"{source}: corrupt gzip data: {error}") from None
    except UnicodeDecodeError:
        raise BadDataError(
            f"{source}: not a text recording (not UTF-8); expected {_FORMATS}"
        ) from None
    except OSError as error:
        raise BadDataError(f"{source}: cannot be read: {error.strerror or error}") from None
    except (ValueError, msgspec.MsgspecError) as error:  # BadDataError is a ValueError
        raise BadDataError(
            f"{source}: not a recording ticklane can replay ({_detail(error, source)}); "
            f"expected {_FORMATS}"
        ) from None
    if not any(type(event) is ReceivedFrame for event in recording.events):
        what = "a REST dump" if recording.format == "rest-dump" else f"a {recording.format} file"
        raise BadDataError(f"{source}: holds no received frames to replay ({what})")
    if recording.venue not in REPLAY_PROVIDERS:
        found = f"it says {recording.venue!r}" if recording.venue else "no venue URL in it"
        raise BadDataError(
            f"{source}: cannot tell which venue this recording is from ({found}); "
            f"replay reads {', '.join(REPLAY_PROVIDERS)}"
        )
    return recording


def _detail(error: Exception, source: Path) -> str:
    """The readers' message without the file name it starts with (the caller's names it)."""
    text = str(error).removeprefix(f"{source}:").strip()
    number, colon, rest = text.partition(":")
    return f"line {number}:{rest}" if colon and number.isdigit() else text


def _recording_path(path: Path) -> Path:
    """``path``, or the one venue folder below a ``--record DIR`` given whole."""
    if not path.is_dir() or any(path.glob(f"*{SUFFIX}")):
        return path
    venues = sorted(sub for sub in path.iterdir() if sub.is_dir() and any(sub.glob(f"*{SUFFIX}")))
    if len(venues) > 1:
        names = ", ".join(str(sub) for sub in venues)
        raise BadDataError(f"{path}: holds recordings of several venues; give one of {names}")
    return venues[0] if venues else path


class ReplayStats:
    """What a replay could not do as the live feed did; ``Server.summary`` reads it."""

    def __init__(self) -> None:
        self.not_replayable: Counter[str] = Counter()  # action kind -> requests not carried out
        self.snapshots_applied = 0  # recorded REST depth snapshots given to a book
        self.unsynced_books: list[str] = []  # symbols whose book had no snapshot at the end
        self.finished = False  # the whole recording was played (not stopped early)


class ReplayRunner:
    """Feeds one recording through ``adapter``'s parser into ``sink``; ends with the file.

    Options:
        adapter: the venue's feed adapter; only its parser and ``after_connect`` are used
            (nothing is ever sent to the venue).
        recording: what ``open_recording`` returned.
        sink: where records go, as for ``FeedRunner``.
        speed: 1 keeps the recorded pace, 10 plays ten times faster, 0 as fast as it goes.
        symbols: publish only these symbols (as the records name them); empty: all.
        hold: while it returns True (the store writer is behind), the replay waits, so that
            an unpaced replay loses nothing to a full queue.
    """

    def __init__(
        self,
        adapter: VenueAdapter,
        recording: Recording,
        sink: RecordSink,
        *,
        speed: float = 0.0,
        symbols: Collection[str] = (),
        hold: Callable[[], bool] | None = None,
    ) -> None:
        if speed < 0 or math.isnan(speed):
            raise ValueError(f"speed must be >= 0 (0: as fast as possible), not {speed}")
        self.adapter = adapter
        self.recording = recording
        self.plan = ConnectionPlan(
            f"{adapter.exchange}#replay", recording.path, symbols=tuple(symbols)
        )
        self.parser = adapter.new_parser()
        self.stats = FeedStats(adapter.exchange, self.plan.name)
        self.replay = ReplayStats()
        self._sink = sink
        self._speed = 0.0 if math.isinf(speed) else speed
        self._symbols = frozenset(symbols)
        self._hold = hold
        self._snapshots: dict[str, tuple[str, int]] = {}  # symbol -> recorded body not yet used
        self._urls: set[str] = set()
        self._since_yield = 0
        self._start: tuple[float, int] | None = None  # (loop time, ts_recv) of the first frame

    async def run(self) -> None:
        """Play every event of the recording in order; return at its end."""
        self.stats.connected = True
        try:
            for event in self.recording.events:
                if type(event) is ReceivedFrame:
                    await self._pace(event.ts_recv)
                    self._frame(event)
                elif type(event) is RestBody:
                    self._rest(event)
                elif type(event) is ConnectionOpened:
                    self._opened(event)
                # Sent frames are what the recorder asked for: nothing to replay.
            self.replay.finished = True
        finally:
            self.stats.connected = False
            self._finish()

    # -- events --------------------------------------------------------------------------------

    def _frame(self, event: ReceivedFrame) -> None:
        stats = self.stats
        stats.frames += 1
        stats.last_frame_ns = event.ts_recv
        # The recorded receive time, not now: the records are those the live feed made.
        records = self.parser.parse(event.frame, event.ts_recv)
        if records:
            self._publish(records)
        for action in self.parser.take_actions():
            self._act(action)

    def _opened(self, event: ConnectionOpened) -> None:
        if event.url in self._urls:
            # The recorder reconnected: live, the runner then reset its books (after_connect).
            # One parser serves every connection of the recording, so with several connections
            # this resets the books of the others too; they wait for their next snapshot.
            self.stats.reconnects["recorded"] += 1
            self._publish(self.adapter.after_connect(self.parser))
        self._urls.add(event.url)

    def _rest(self, event: RestBody) -> None:
        symbol = _depth_symbol(event.url)
        if symbol is None or not isinstance(self.parser, BinanceParser):
            return  # other REST bodies (discovery, trade history) have no place in the feed
        if self._symbols and symbol not in self._symbols:
            return
        sync = self.parser.books.get(symbol)
        if sync is None:
            # Recorded before the symbol's first diff: kept for the book's first request.
            self._snapshots[symbol] = (event.body, event.ts_recv)
        elif sync.state is SyncState.WAITING:
            self._apply_snapshot(self.parser, symbol, event.body, event.ts_recv)
        # else the book is synced: live, the snapshot would be ignored too.

    def _act(self, action: FeedAction) -> None:
        if action.kind is ActionKind.RECONNECT:
            return  # the recording goes on as the venue and the recorder went on
        if self._symbols and action.symbol not in self._symbols:
            return
        kind = action.kind.value
        self.replay.not_replayable[kind] += 1
        if self.replay.not_replayable[kind] == 1:
            log.warning(
                "%s: %s: the feed asks for %s (%s), which a replay cannot ask of the venue; "
                "such requests are counted, not logged again",
                self.plan.name, action.symbol or "-", kind, action.reason,
            )  # fmt: skip
        if action.kind is ActionKind.FETCH_BOOK_SNAPSHOT and isinstance(self.parser, BinanceParser):
            kept = self._snapshots.pop(action.symbol, None)
            if kept is not None:
                self._apply_snapshot(self.parser, action.symbol, *kept)

    def _apply_snapshot(self, parser: BinanceParser, symbol: str, body: str, ts_recv: int) -> None:
        self.replay.snapshots_applied += 1
        records: list[MarketRecord] = list(parser.apply_snapshot(symbol, body.encode(), ts_recv))
        self._publish(records)
        for action in parser.take_actions():  # a snapshot too old asks for another one
            self._act(action)

    def _publish(self, records: list[MarketRecord]) -> None:
        if self._symbols:
            records = [record for record in records if record.symbol in self._symbols]
        if records:
            self.stats.count(records)
            self._sink(records)

    def _finish(self) -> None:
        parser = self.parser
        if isinstance(parser, BinanceParser):
            self.replay.unsynced_books = sorted(
                symbol
                for symbol, sync in parser.books.items()
                if sync.state is SyncState.WAITING
                and (not self._symbols or symbol in self._symbols)
            )
        if self.replay.unsynced_books:
            log.warning(
                "%s: no book for %s: the recording holds no REST depth snapshot they could "
                "start from",
                self.plan.name, ", ".join(self.replay.unsynced_books),
            )  # fmt: skip
        seen = any(symbol in self._symbols for symbol, _ in self.stats.records)
        if self._symbols and self.replay.finished and not seen:
            log.warning("%s: none of %s in %s", self.plan.name, ", ".join(sorted(self._symbols)),
                        self.recording.path)  # fmt: skip

    # -- pace ----------------------------------------------------------------------------------

    async def _pace(self, ts_recv: int) -> None:
        """Wait until the frame is due (``speed`` > 0); at any speed let other tasks run now
        and then, and wait while the store writer is behind."""
        self._since_yield += 1
        if self._since_yield >= _YIELD_EVERY:
            self._since_yield = 0
            await asyncio.sleep(0)
            while self._hold is not None and self._hold():
                await asyncio.sleep(_HOLD_POLL_S)
        if not self._speed:
            return
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = (loop.time(), ts_recv)
            return
        began, first_ns = self._start
        # Times from the start, not between frames: sleeping late never makes the replay drift.
        wait = began + (ts_recv - first_ns) / 1e9 / self._speed - loop.time()
        if wait > _MIN_SLEEP_S:
            await asyncio.sleep(wait)


def _depth_symbol(url: str) -> str | None:
    """The symbol of a Binance ``/api/v3/depth`` request URL, else None."""
    parts = urlsplit(url)
    if not parts.path.endswith("/depth"):
        return None
    symbols = parse_qs(parts.query).get("symbol")
    return symbols[0].upper() if symbols else None
