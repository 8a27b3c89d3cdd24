"""Readers for the recorded venue sessions in ``../shared/data`` (formats: its README)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

NANOS = 1_000_000_000


@dataclass(frozen=True)
class Line:
    """One line of a cryptofeed session: a received frame, a sent one, or a REST body."""

    kind: str  # "recv", "sent", "rest"
    ts_recv: int  # ns
    body: bytes
    url: str = ""


def _seconds_to_ns(text: bytes) -> int:
    whole, _, frac = text.decode().partition(".")
    return int(whole) * NANOS + int(frac.ljust(9, "0")[:9] or 0)


def read_session(path: Path) -> list[Line]:
    """Every frame and REST body of a cryptofeed session file, in file order."""
    lines = []
    for raw in path.read_bytes().split(b"\n"):
        if not raw or raw.startswith(b"configuration: ") or b" <-> " in raw:
            continue
        head, _, body = raw.partition(b": ")
        if b" <- " in head:
            url, _, ts = head.partition(b" <- ")
            lines.append(Line("sent", _seconds_to_ns(ts), body, url.decode()))
        elif b" -> " in head:
            url, _, ts = head.partition(b" -> ")
            lines.append(Line("rest", _seconds_to_ns(ts), body, url.decode()))
        else:
            lines.append(Line("recv", _seconds_to_ns(head), body))
    return lines


def received(path: Path) -> list[tuple[int, bytes]]:
    """``(ts_recv, frame)`` of every frame received in a session file."""
    return [(line.ts_recv, line.body) for line in read_session(path) if line.kind == "recv"]


def rest_body(path: Path) -> bytes:
    """The body of the first REST line of a file (the discovery dumps hold one)."""
    for line in read_session(path):
        if line.kind == "rest":
            return line.body
    raise AssertionError(f"no REST body in {path}")


def read_recv_ns(path: Path) -> list[tuple[int, bytes]]:
    """``(ts_recv ns, frame)`` of a gzip "recv-ns" capture; 16-digit times are µs."""
    frames = []
    with gzip.open(path, "rb") as handle:
        for raw in handle.read().split(b"\n"):
            if not raw:
                continue
            ts, _, body = raw.partition(b" ")
            stamp = int(ts)
            frames.append((stamp * 1000 if stamp < 10**17 else stamp, body))
    return frames
