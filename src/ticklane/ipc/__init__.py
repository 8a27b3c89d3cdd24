"""Shared-memory ring: one writer, any number of readers in other processes.

The writer (``RingWriter``) publishes ``TradeRecord``, ``QuoteRecord`` and ``BookRecord`` as
fixed-size 80-byte slots in a file under ``/dev/shm`` (name configurable; a path is accepted,
so a container and its host can share one). Readers (``RingReader``) map it read-only, get
the records back equal to what was written, in order, and never a torn one (a seqlock per
slot); a reader that falls a whole ring behind skips ahead and counts exactly what it lost;
a writer that dies or restarts is noticed (lock, heartbeat, generation id).

- ``layout``: the byte tables of the header, instrument table and slots.
- ``segment``: the file: creating, reusing or replacing it, mapping it, the writer's lock.
- ``writer`` / ``reader``: the two sides and the argument why they are safe together.
- ``wait``: how a reader waits (adaptive spin-then-sleep, or busy polling).

Errors, in the tree of ``core.errors``::

    ConfigError
    ├── SegmentBusyError          another live writer holds the segment
    ├── SegmentFormatError        not a ticklane ring, or another layout version
    └── InstrumentTableFullError  more instruments than ``max_instruments``
    TransientError
    └── WriterNotFoundError       no segment appeared within the reader's attach timeout
    BadDataError                  a record value that does not fit its slot (never truncated)
"""

from ticklane.ipc.layout import SLOT_DTYPE
from ticklane.ipc.reader import RingReader
from ticklane.ipc.segment import (
    DEFAULT_NAME,
    SegmentBusyError,
    SegmentFormatError,
    WriterNotFoundError,
    resolve_path,
    unlink_segment,
)
from ticklane.ipc.wait import PollMode
from ticklane.ipc.writer import InstrumentTableFullError, RingWriter

__all__ = [
    "DEFAULT_NAME",
    "SLOT_DTYPE",
    "InstrumentTableFullError",
    "PollMode",
    "RingReader",
    "RingWriter",
    "SegmentBusyError",
    "SegmentFormatError",
    "WriterNotFoundError",
    "resolve_path",
    "unlink_segment",
]
