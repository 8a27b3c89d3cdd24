"""Helpers for the local-venue tests: plain websockets clients, recorded frames, raw sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ticklane.venues.sim import ReceivedFrame, read_recording

DEADLINE = 30.0


def recorded_frames(*paths: Path) -> list[str]:
    """Every received frame of the recordings, in file order."""
    frames: list[str] = []
    for path in paths:
        recording = read_recording(path)
        frames.extend(e.frame for e in recording.events if isinstance(e, ReceivedFrame))
    return frames


async def receive(
    ws: ClientConnection,
    count: int | None = None,
    *,
    keep: Callable[[str], bool] = lambda _: True,
    deadline: float = DEADLINE,
) -> list[str]:
    """Frames ``keep`` accepts, until ``count`` of them (or the connection closes)."""
    frames: list[str] = []
    async with asyncio.timeout(deadline):
        try:
            while count is None or len(frames) < count:
                message = await ws.recv()
                text = message if isinstance(message, str) else message.decode()
                if keep(text):
                    frames.append(text)
        except ConnectionClosed:
            if count is not None:
                raise
    return frames


async def send_json(ws: ClientConnection, message: Any) -> None:
    await ws.send(json.dumps(message))


async def recv_json(ws: ClientConnection, *, skip: Iterable[str] = ("heartbeat",)) -> Any:
    """The next JSON message, skipping heartbeats."""
    async with asyncio.timeout(DEADLINE):
        while True:
            message = json.loads(await ws.recv())
            if isinstance(message, dict) and (
                message.get("channel") in skip
                or message.get("event") in skip
                or message.get("feed") in skip
            ):
                continue
            return message


async def silent_websocket(host: str, port: int, path: str) -> bytes:
    """Open a WebSocket by hand and never answer anything; returns all bytes until EOF."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    writer.write(request.encode())
    try:
        async with asyncio.timeout(DEADLINE):
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                raise AssertionError(head.decode())
            received = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return received


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of unmasked server frames."""
    frames = []
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        frames.append((opcode, data[at : at + length]))
        at += length
    return frames
