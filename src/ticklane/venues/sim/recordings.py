"""Readers for recorded venue sessions, as one typed sequence of events.

Formats read (``../shared/data/README.md`` describes them):

- **recv-ns capture** (gzip): ``<receive time, integer ns or us> <JSON frame>``; frames are
  Binance combined-stream wrappers, and a line without ``stream`` is a REST depth snapshot body.
- **cryptofeed session** (text): an optional ``configuration: {...}`` first line, then
  ``<url> <-> <secs>`` (a connection opens), ``<url> <- <secs>: <sent frame>``,
  ``<secs>: <received frame>`` and ``<url> -> <secs>: <REST body>``. REST dumps
  (``exchangeInfo``, ``AssetPairs``, ``instruments``) are cryptofeed files of REST lines only.
- **Kraken book JSON** (``orderbook-v1-*.json``): ``{"init": <snapshot>, "updates": [...]}``.
- **ticklane recording** (gzip, written by :class:`RecordingWriter` in ``recorder.py``).

Every reader returns a :class:`Recording`: its events in file order, each stamped with the
recorder's local clock in integer nanoseconds (``ts_recv``), payloads byte-exact as recorded.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec

from ticklane.core.errors import BadDataError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"


class ConnectionOpened(msgspec.Struct, frozen=True, tag="open"):
    """The recorder opened WebSocket connection number ``connection`` to ``url``."""

    ts_recv: int
    connection: int
    url: str


class ReceivedFrame(msgspec.Struct, frozen=True, tag="recv"):
    """A frame the venue sent on connection ``connection`` (-1 when the file names none)."""

    ts_recv: int
    connection: int
    frame: str


class SentFrame(msgspec.Struct, frozen=True, tag="sent"):
    """A frame the recorder sent to the venue (``ts_recv`` is when it was sent)."""

    ts_recv: int
    connection: int
    frame: str


class RestBody(msgspec.Struct, frozen=True, tag="rest"):
    """The body of a REST response to ``url``."""

    ts_recv: int
    url: str
    body: str


RecordingEvent = ConnectionOpened | ReceivedFrame | SentFrame | RestBody


class Recording(msgspec.Struct, frozen=True):
    """One recorded file (or rotated set of files): what it is and its events in order."""

    path: str
    format: str
    """``recv-ns``, ``cryptofeed``, ``rest-dump``, ``kraken-book-json`` or ``ticklane``."""
    venue: str | None
    """``binance``, ``kraken`` or ``kraken_futures`` when the file says or its URLs show it."""
    events: tuple[RecordingEvent, ...]
    configuration: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# time


def seconds_text_to_ns(text: str) -> int:
    """Exact nanoseconds for a decimal string of Unix seconds (no float on the way)."""
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise BadDataError(f"{text!r} is not a decimal number of Unix seconds", value=text)
    return int(whole) * 1_000_000_000 + int(fraction[:9].ljust(9, "0"))


def epoch_int_to_ns(value: int) -> int:
    """Nanoseconds for an integer epoch time in s, ms, us or ns, told apart by its size."""
    if value >= 10**17:
        return value
    if value >= 10**14:
        return value * 1_000
    if value >= 10**11:
        return value * 1_000_000
    return value * 1_000_000_000


def venue_of_url(url: str) -> str | None:
    """The venue a recorded URL belongs to, if it is one of ours."""
    lowered = url.lower()
    if "binance" in lowered:
        return "binance"
    if "futures.kraken" in lowered:
        return "kraken_futures"
    if "kraken" in lowered:
        return "kraken"
    return None


# ---------------------------------------------------------------------------------------------
# dispatch


def read_recording(path: str | Path) -> Recording:
    """Read any supported recording, telling the format from the content.

    A directory is read as the rotated files of one ticklane recording, in name order.
    """
    source = Path(path)
    if source.is_dir():
        from ticklane.venues.sim.recorder import read_ticklane_dir

        return read_ticklane_dir(source)
    with source.open("rb") as handle:
        head = handle.read(2)
    if head == GZIP_MAGIC:
        with gzip.open(source, "rt", encoding="utf-8", newline="\n") as text:
            first = text.readline()
        if first.startswith("#ticklane-recording"):
            from ticklane.venues.sim.recorder import read_ticklane

            return read_ticklane(source)
        return read_recv_ns(source)
    if head.lstrip()[:1] == b"{":
        return read_kraken_book_json(source)
    return read_cryptofeed(source)


def merge_events(recordings: Iterable[Recording]) -> list[RecordingEvent]:
    """The events of several recordings in one time order, connections numbered apart.

    Sorting is stable, so events with equal times keep their file order.
    """
    merged: list[RecordingEvent] = []
    offset = 0
    for recording in recordings:
        highest = -1
        for event in recording.events:
            if isinstance(event, ConnectionOpened | ReceivedFrame | SentFrame):
                highest = max(highest, event.connection)
                if event.connection >= 0:
                    event = msgspec.structs.replace(event, connection=event.connection + offset)
            merged.append(event)
        offset += highest + 1
    merged.sort(key=lambda event: event.ts_recv)
    return merged


# ---------------------------------------------------------------------------------------------
# recv-ns capture


def read_recv_ns(path: str | Path) -> Recording:
    """Read a gzip ``<recv ns or us> <frame>`` capture of Binance combined streams.

    A line without ``stream`` is a REST ``/api/v3/depth`` snapshot body; it names no symbol, so
    it is given the symbol whose diff-depth update ids lie nearest its ``lastUpdateId``.
    """
    source = Path(path)
    events: list[RecordingEvent] = []
    snapshots: list[tuple[int, int, str]] = []  # (event index, lastUpdateId, body)
    ranges: dict[str, list[int]] = {}  # symbol -> [lowest U, highest u] of its diff stream
    with gzip.open(source, "rt", encoding="utf-8", newline="\n") as handle:
        for number, line in enumerate(text_lines(handle, source), start=1):
            stamp, _, frame = line.partition(" ")
            if not stamp.isdigit() or not frame:
                raise BadDataError(f"{source}:{number}: not '<recv time> <frame>'", value=line)
            ts_recv = epoch_int_to_ns(int(stamp))
            decoded = _decode_object(frame, source, number)
            if "stream" in decoded:
                events.append(ReceivedFrame(ts_recv, 0, frame))
                _note_depth_range(decoded, ranges)
            else:
                snapshots.append((len(events), int(decoded.get("lastUpdateId", 0)), frame))
                events.append(RestBody(ts_recv, "", frame))
    for index, last_update_id, body in snapshots:
        symbol = _nearest_symbol(last_update_id, ranges)
        query = urlencode({"symbol": symbol, "limit": 1000}) if symbol else ""
        url = f"https://api.binance.com/api/v3/depth?{query}"
        events[index] = RestBody(events[index].ts_recv, url, body)
    return Recording(str(source), "recv-ns", "binance", tuple(events))


def _note_depth_range(decoded: dict[str, Any], ranges: dict[str, list[int]]) -> None:
    data = decoded.get("data")
    if not isinstance(data, dict) or data.get("e") != "depthUpdate":
        return
    symbol = str(data.get("s", ""))
    first, last = int(data.get("U", 0)), int(data.get("u", 0))
    known = ranges.setdefault(symbol, [first, last])
    known[0], known[1] = min(known[0], first), max(known[1], last)


def _nearest_symbol(update_id: int, ranges: dict[str, list[int]]) -> str | None:
    def distance(item: tuple[str, list[int]]) -> int:
        low, high = item[1]
        return 0 if low <= update_id <= high else min(abs(update_id - low), abs(update_id - high))

    return min(ranges.items(), key=distance)[0] if ranges else None


# ---------------------------------------------------------------------------------------------
# cryptofeed sessions and REST dumps


def read_cryptofeed(path: str | Path) -> Recording:
    """Read a cryptofeed session (or REST dump) file."""
    source = Path(path)
    with source.open(encoding="utf-8", newline="\n") as handle:
        return parse_cryptofeed_lines(text_lines(handle, source), str(source))


def parse_cryptofeed_lines(lines: Iterable[str], name: str = "<lines>") -> Recording:
    """Parse cryptofeed session lines (without their line ends)."""
    events: list[RecordingEvent] = []
    configuration: dict[str, Any] | None = None
    venue: str | None = None
    current = -1
    by_url: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if line.startswith("configuration: "):  # first in a session, after the body in a dump
            configuration = json.loads(line[len("configuration: ") :])
            continue
        head, _, rest = line.partition(" ")
        where = f"{name}:{number}"
        if rest.startswith("<-> "):
            current += 1
            by_url[head] = current
            events.append(ConnectionOpened(_secs(rest[4:], where), current, head))
        elif rest.startswith("<- "):
            stamp, frame = _split_payload(rest[3:], where)
            events.append(SentFrame(_secs(stamp, where), by_url.get(head, current), frame))
        elif rest.startswith("-> "):
            stamp, body = _split_payload(rest[3:], where)
            events.append(RestBody(_secs(stamp, where), head, body))
        elif head.endswith(":"):
            events.append(ReceivedFrame(_secs(head[:-1], where), current, rest))
        else:
            raise BadDataError(f"{where}: not a cryptofeed session line", value=line[:80])
        if venue is None and not head.endswith(":"):
            venue = venue_of_url(head)
    kind = "rest-dump" if events and all(isinstance(e, RestBody) for e in events) else "cryptofeed"
    return Recording(name, kind, venue, tuple(events), configuration)


def read_rest_dump(path: str | Path) -> list[RestBody]:
    """The REST bodies of a dump file (``<url> -> <secs>: <body>`` lines)."""
    return [event for event in read_cryptofeed(path).events if isinstance(event, RestBody)]


def _split_payload(text: str, where: str) -> tuple[str, str]:
    stamp, separator, payload = text.partition(": ")
    if not separator:
        raise BadDataError(f"{where}: no ': ' before the payload", value=text[:80])
    return stamp, payload


def _secs(text: str, where: str) -> int:
    try:
        return seconds_text_to_ns(text)
    except BadDataError as error:
        raise BadDataError(f"{where}: {error}", value=text) from None


# ---------------------------------------------------------------------------------------------
# Kraken book JSON


def read_kraken_book_json(path: str | Path) -> Recording:
    """Read ``{"init": <v1 book snapshot>, "updates": [...]}`` as received v1 frames.

    The document keeps no receive times; each frame is stamped with the latest level time it
    carries (never earlier than the frame before), which keeps the session's own pace.
    """
    source = Path(path)
    document = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "init" not in document or "updates" not in document:
        raise BadDataError(f"{source}: not a Kraken book document with init and updates")
    events: list[RecordingEvent] = []
    last = 0
    for message in [document["init"], *document["updates"]]:
        last = max(last, _latest_level_ns(message))
        frame = msgspec.json.encode(message).decode()
        events.append(ReceivedFrame(last, 0, frame))
    return Recording(str(source), "kraken-book-json", "kraken", tuple(events))


def _latest_level_ns(message: Sequence[Any]) -> int:
    latest = 0
    for part in message:
        if not isinstance(part, dict):
            continue
        for key in ("a", "b", "as", "bs"):
            for level in part.get(key, ()):
                latest = max(latest, seconds_text_to_ns(level[2]))
    return latest


# ---------------------------------------------------------------------------------------------
# helpers


def text_lines(handle: Iterable[str], source: Path) -> Iterator[str]:
    """Lines without their line end; a gzip file cut short ends at its last whole line."""
    iterator = iter(handle)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except EOFError:
            log.warning("%s: compressed stream ends early; read up to the last whole line", source)
            return
        if line.endswith("\n"):
            yield line[:-2] if line.endswith("\r\n") else line[:-1]
        elif line:
            yield line


def _decode_object(frame: str, source: Path, number: int) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(frame)
    except msgspec.DecodeError as error:
        raise BadDataError(f"{source}:{number}: frame is not JSON: {error}") from None
    if not isinstance(decoded, dict):
        raise BadDataError(f"{source}:{number}: frame is not a JSON object")
    return decoded
