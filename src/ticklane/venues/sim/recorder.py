"""ticklane's own recording format, written by ``data-manager serve --record DIR``.

A recording is a directory of gzip text files, ``<venue>-<UTC start>-<seq>.rec.gz``, each
readable on its own. A file starts with one header line, then one event a line::

    #ticklane-recording 1 {"venue":"binance","connections":{"0":"wss://..."},"created_ns":...}
    <recv ns> open <connection> <url>
    <recv ns> recv <connection> <frame exactly as received>
    <recv ns> sent <connection> <frame exactly as sent>
    <recv ns> rest <request url> <response body>

``connection`` numbers the WebSocket connections of the whole recording (they continue across
rotated files; the header lists the connections open when the file was started, so a file read
alone still knows their URLs). A payload holding a line break (venues send none, but nothing
may be lost) is written with the kind suffixed ``~`` and the payload as a JSON string.
Times are the local clock in integer nanoseconds. The writer flushes with a gzip sync point, so
a reader sees everything up to the last flush even while the file is still being written or
after a crash.
"""

from __future__ import annotations

import gzip
import io
import json
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final

from ticklane.core.errors import BadDataError
from ticklane.venues.sim.recordings import (
    ConnectionOpened,
    ReceivedFrame,
    Recording,
    RecordingEvent,
    RestBody,
    SentFrame,
    text_lines,
)

HEADER: Final = "#ticklane-recording 1 "
SUFFIX: Final = ".rec.gz"
DEFAULT_ROTATE_BYTES: Final = 256 * 1024 * 1024


class RecordingWriter:
    """Append raw venue traffic to rotating gzip files in ``directory``.

    Options:
        directory: where the files go (created if missing).
        venue: the venue name written in every header (``binance``, ``kraken``, ...).
        rotate_bytes: start a new file once this many uncompressed bytes were written to the
            current one (whole lines only; a file holds at least one event).
        clock: nanosecond clock for events written without a time (default: ``time.time_ns``).
    """

    def __init__(
        self,
        directory: str | Path,
        venue: str,
        *,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if rotate_bytes <= 0:
            raise ValueError(f"rotate_bytes must be positive, not {rotate_bytes}")
        if not venue or any(char.isspace() for char in venue):
            raise ValueError(f"venue must be one word, not {venue!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.venue = venue
        self.rotate_bytes = rotate_bytes
        self._clock = clock
        self._open: dict[int, str] = {}
        self._next_connection = 0
        self._raw: io.BufferedWriter | None = None
        self._gzip: gzip.GzipFile | None = None
        self._written = 0
        self._sequence = 0
        self.paths: list[Path] = []
        """Every file written so far, oldest first."""

    # events -----------------------------------------------------------------------------------

    def open_connection(self, url: str, ts_recv: int | None = None) -> int:
        """Note a new WebSocket connection to ``url``; returns its number for later frames."""
        _check_word(url, "url")
        connection = self._next_connection
        self._next_connection += 1
        self._open[connection] = url
        self._write(ts_recv, "open", str(connection), url)
        return connection

    def close_connection(self, connection: int) -> None:
        """Forget a closed connection (later files no longer list it in their header)."""
        self._open.pop(connection, None)

    def write_received(
        self, connection: int, frame: str | bytes, ts_recv: int | None = None
    ) -> None:
        """Append a frame received on ``connection``."""
        self._write(ts_recv, "recv", str(connection), _text(frame))

    def write_sent(self, connection: int, frame: str | bytes, ts_recv: int | None = None) -> None:
        """Append a frame sent on ``connection``."""
        self._write(ts_recv, "sent", str(connection), _text(frame))

    def write_rest(self, url: str, body: str | bytes, ts_recv: int | None = None) -> None:
        """Append the body of a REST response to ``url``."""
        _check_word(url, "url")
        self._write(ts_recv, "rest", url, _text(body))

    # files -------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Make everything written so far readable from the file (a gzip sync point)."""
        if self._gzip is not None and self._raw is not None:
            self._gzip.flush(zlib.Z_SYNC_FLUSH)
            self._raw.flush()

    def rotate(self) -> None:
        """Finish the current file; the next event starts a new one."""
        if self._gzip is not None and self._raw is not None:
            self._gzip.close()
            self._raw.close()
        self._gzip = None
        self._raw = None
        self._written = 0

    def close(self) -> None:
        """Finish the current file."""
        self.rotate()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # internals ---------------------------------------------------------------------------------

    def _write(self, ts_recv: int | None, kind: str, key: str, payload: str) -> None:
        if "\n" in payload or "\r" in payload:
            kind, payload = kind + "~", json.dumps(payload)
        stamp = self._clock() if ts_recv is None else ts_recv
        line = f"{stamp} {kind} {key} {payload}\n".encode()
        if self._gzip is not None and self._written > 0 and self._written >= self.rotate_bytes:
            self.rotate()
        gz = self._gzip if self._gzip is not None else self._start_file(stamp)
        gz.write(line)
        self._written += len(line)

    def _start_file(self, stamp: int) -> gzip.GzipFile:
        moment = datetime.fromtimestamp(stamp // 1_000_000_000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        while True:
            path = self.directory / f"{self.venue}-{moment}-{self._sequence:04d}{SUFFIX}"
            self._sequence += 1
            if not path.exists():
                break
        raw = path.open("xb")
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="wb")
        header = {
            "venue": self.venue,
            "connections": {str(key): url for key, url in self._open.items()},
            "created_ns": stamp,
        }
        self._gzip.write((HEADER + json.dumps(header, separators=(",", ":")) + "\n").encode())
        self.paths.append(path)
        return self._gzip


def read_ticklane(path: str | Path) -> Recording:
    """Read one ticklane recording file."""
    source = Path(path)
    events: list[RecordingEvent] = []
    with gzip.open(source, "rt", encoding="utf-8", newline="\n") as handle:
        lines = text_lines(handle, source)
        header = next(lines, "")
        if not header.startswith(HEADER):
            raise BadDataError(f"{source}: no '{HEADER.strip()}' header line")
        meta = json.loads(header[len(HEADER) :])
        for number, line in enumerate(lines, start=2):
            events.append(_parse_line(line, f"{source}:{number}"))
    return Recording(str(source), "ticklane", meta.get("venue"), tuple(events))


def read_ticklane_dir(directory: str | Path) -> Recording:
    """Read every ``*.rec.gz`` of a recording directory, in name (and so time) order."""
    source = Path(directory)
    files = sorted(source.glob(f"*{SUFFIX}"))
    if not files:
        raise BadDataError(f"{source}: no {SUFFIX} files")
    parts = [read_ticklane(path) for path in files]
    events = tuple(event for part in parts for event in part.events)
    return Recording(str(source), "ticklane", parts[0].venue, events)


def _parse_line(line: str, where: str) -> RecordingEvent:
    fields = line.split(" ", 3)
    if len(fields) != 4 or not fields[0].isdigit():
        raise BadDataError(f"{where}: not '<ns> <kind> <key> <payload>'", value=line[:80])
    stamp, kind, key, payload = fields
    if kind.endswith("~"):
        kind, payload = kind[:-1], json.loads(payload)
    ts_recv = int(stamp)
    if kind == "rest":
        return RestBody(ts_recv, key, payload)
    if not key.isdigit():
        raise BadDataError(f"{where}: connection {key!r} is not a number", value=line[:80])
    if kind == "recv":
        return ReceivedFrame(ts_recv, int(key), payload)
    if kind == "sent":
        return SentFrame(ts_recv, int(key), payload)
    if kind == "open":
        return ConnectionOpened(ts_recv, int(key), payload)
    raise BadDataError(f"{where}: unknown event kind {kind!r}", value=line[:80])


def _text(payload: str | bytes) -> str:
    return payload.decode("utf-8") if isinstance(payload, bytes) else payload


def _check_word(value: str, field: str) -> None:
    if not value or any(char.isspace() for char in value):
        raise ValueError(f"{field} must be non-empty without spaces, not {value!r}")
