"""A local venue for tests and offline use: each venue's WebSocket + REST protocol, replaying
recorded sessions (or a synthetic Binance market) at recorded or accelerated speed, with
controls to drop, stall and refuse.

``LocalVenue`` (``server.py``) is the server; ``read_recording`` (``recordings.py``) reads every
recording format we hold, ``RecordingWriter`` (``recorder.py``) writes ours. As a process:
``python -m ticklane.venues.sim --venue binance --recording PATH --speed 10 --port 0``.
"""

from ticklane.venues.sim.recorder import RecordingWriter, read_ticklane, read_ticklane_dir
from ticklane.venues.sim.recordings import (
    ConnectionOpened,
    ReceivedFrame,
    Recording,
    RecordingEvent,
    RestBody,
    SentFrame,
    merge_events,
    read_recording,
)
from ticklane.venues.sim.server import LocalVenue
from ticklane.venues.sim.synthetic import SyntheticMarket

__all__ = [
    "ConnectionOpened",
    "LocalVenue",
    "ReceivedFrame",
    "Recording",
    "RecordingEvent",
    "RecordingWriter",
    "RestBody",
    "SentFrame",
    "SyntheticMarket",
    "merge_events",
    "read_recording",
    "read_ticklane",
    "read_ticklane_dir",
]
