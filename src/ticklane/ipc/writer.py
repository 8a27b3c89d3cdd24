"""The ring's one writer: publishes records into the shared segment, one or many at a time.

Publishing record ``n`` into slot ``n % capacity`` (a per-slot seqlock)::

    seq[slot] = 2n + 1          # busy: readers of the record that was there now see a change
    slot payload = record       # fields after the seq word
    seq[slot] = 2n + 2          # published
    cursor = n + 1              # header: records published so far

Why readers never see a torn record: on x86-64 (TSO) stores become visible to other cores in
program order, and the seq, cursor and heartbeat words are 8-byte aligned, each stored by one
instruction (``memoryview.cast("Q")`` item assignment, numpy element assignment). A reader
loads seq, copies the payload, loads seq again (loads are not reordered with loads either):
if both equal ``2n + 2``, no store of a later record to that slot had become visible before
its second load, so every byte it copied belongs to record ``n``. The payload copy may be a
``memcpy`` using fast-string or vector stores, which x86 does not reorder with the discrete
seq stores before and after it (Intel SDM vol. 3, 8.2.4: "string operations are not reordered
with other store operations"); that is why the busy and published marks are separate stores
and never part of the copied block. CPython adds no reordering of its own: every step is a
separate C call made through the interpreter, which the C compiler cannot move stores across.

A batch marks all its slots busy, copies the block with at most two slice copies (the ring
wraps once at most), publishes all seq words, then moves the cursor once: the same seqlock per
slot, one cursor store per batch. (A batch's busy mark is ``2n + 1`` for the batch's first
index ``n`` in every slot; see ``RingWriter._publish`` for why any such odd value serves.)
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ticklane.core.errors import BadDataError, ConfigError
from ticklane.core.records import MarketRecord, RecordKind
from ticklane.ipc import layout
from ticklane.ipc.segment import (
    DEFAULT_NAME,
    Segment,
    check_geometry,
    open_for_writer,
    resolve_path,
)

log = logging.getLogger(__name__)

STAGING_RECORDS: Final = 1024  # a larger batch is published in chunks of this many (at most)


class InstrumentTableFullError(ConfigError):
    """The segment's instrument table is full: raise ``max_instruments`` (a new file)."""


class RingWriter:
    """The single writer of a ring segment (see ``ipc`` for the reader side).

    Options:

    - ``name``: a file name under ``/dev/shm`` (default ``"ticklane"``) or a path (anything
      with a ``/``), e.g. a directory mounted into a container.
    - ``capacity``: slots in the ring, a power of two (default 65,536, 5 MiB): how far a
      reader may fall behind before it loses records.
    - ``max_instruments``: distinct (exchange, symbol) pairs the segment can name (default
      4,096); the table is kept across writer restarts that reuse the file.
    - ``heartbeat_interval``: seconds between heartbeats the writer promises (default 0.1);
      readers call a writer dead after ten missed ones.
    - ``heartbeat_thread``: keep the heartbeat from a daemon thread (default True); with False
      call ``heartbeat()`` yourself at least every ``heartbeat_interval``.
    - ``mode``: permissions of a new segment file (default 0o644: any local user may read).
    - ``lock_timeout``: seconds to wait for a previous writer's lock before giving up with
      ``SegmentBusyError`` (default 1.0).

    Counters for metrics: ``records_written``. The writer is used from one thread at a time
    (its heartbeat thread only stores the heartbeat word). Starting on an existing segment of
    the same geometry reuses it with a new ``generation`` (readers count a restart); one of
    another geometry or layout version is replaced.
    """

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        *,
        capacity: int = 65_536,
        max_instruments: int = 4_096,
        heartbeat_interval: float = 0.1,
        heartbeat_thread: bool = True,
        mode: int = 0o644,
        lock_timeout: float = 1.0,
    ) -> None:
        if not 0.0 < heartbeat_interval <= 3600.0:
            raise ConfigError(
                f"ipc ring heartbeat_interval: {heartbeat_interval!r} is not 0 to 3600 seconds"
            )
        self.path = resolve_path(name)
        geometry = check_geometry(capacity, max_instruments)
        segment, reused = open_for_writer(self.path, geometry, mode=mode, lock_timeout=lock_timeout)
        self._segment: Segment | None = segment
        self.capacity = capacity
        self.records_written = 0
        """Records this writer published (a counter for metrics)."""
        self._mask = capacity - 1
        self._mm = segment.mm
        self._words = segment.words
        self._ring = segment.ring
        self._seqs = segment.seqs
        self._first_word = segment.slots_at // 8
        self._payload_at = segment.slots_at + layout.PAYLOAD_OFFSET
        self._max_instruments = max_instruments
        self._instruments: dict[tuple[str, str], int] = {}
        self._instrument_count = self._load_instruments(segment) if reused else 0
        # A batch is published in chunks that fit the staging area and the ring.
        self._chunk = min(STAGING_RECORDS, capacity)
        self._twice = np.arange(0, 2 * self._chunk, 2, dtype=np.uint64)
        self._staging_buffer = bytearray(self._chunk * layout.SLOT_SIZE)
        self._staging: npt.NDArray[np.uint64] = np.frombuffer(
            self._staging_buffer, np.uint64
        ).reshape(self._chunk, layout.SLOT_WORDS)
        self._next = _first_unpublished(segment, self._words[layout.CURSOR_WORD]) if reused else 0
        self.generation = self._start_generation(heartbeat_interval)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        if heartbeat_thread:
            self._beat = threading.Thread(
                target=self._beat_loop,
                args=(heartbeat_interval,),
                name=f"ipc-heartbeat-{self.path.name}",
                daemon=True,
            )
            self._beat.start()
        log.info(
            "ipc ring %s: writer started, generation %016x at record %d (%s, %d slots)",
            self.path,
            self.generation,
            self._next,
            "reused" if reused else "new file",
            capacity,
        )

    @property
    def cursor(self) -> int:
        """Index of the next record: records published into this segment so far."""
        return self._next

    def write(self, record: MarketRecord) -> None:
        """Publish one record; ``BadDataError`` if a value does not fit (nothing written)."""
        try:
            instrument = self._instruments[record.exchange, record.symbol]
        except KeyError:
            instrument = self._add_instrument(record.exchange, record.symbol)
        except AttributeError:
            raise layout.not_a_record(record) from None
        try:
            payload = _PACKERS[type(record)](record, self.generation, instrument)
        except KeyError:
            raise layout.not_a_record(record) from None
        except (struct.error, TypeError):
            raise layout.explain_unpackable(record) from None
        n = self._next
        slot = n & self._mask
        word = self._first_word + slot * _SLOT_WORDS
        start = self._payload_at + slot * _SLOT_SIZE
        words = self._words
        words[word] = 2 * n + 1
        self._mm[start : start + _PAYLOAD_SIZE] = payload
        words[word] = 2 * n + 2
        words[_CURSOR_WORD] = n + 1
        self._next = n + 1
        self.records_written += 1

    def write_batch(self, records: Iterable[MarketRecord]) -> int:
        """Publish many records, in chunks of up to 1,024 published at once; returns how many.

        Each chunk is checked in full before any of it is written: a record that does not fit
        raises ``BadDataError`` and neither it nor the rest of its chunk is published.
        """
        staged = 0
        written = 0
        buffer = self._staging_buffer
        generation = self.generation
        instruments = self._instruments
        for record in records:
            try:
                instrument = instruments[record.exchange, record.symbol]
            except KeyError:
                instrument = self._add_instrument(record.exchange, record.symbol)
            except AttributeError:
                raise layout.not_a_record(record) from None
            try:
                payload = _PACKERS[type(record)](record, generation, instrument)
            except KeyError:
                raise layout.not_a_record(record) from None
            except (struct.error, TypeError):
                raise layout.explain_unpackable(record) from None
            start = staged * layout.SLOT_SIZE + layout.PAYLOAD_OFFSET
            buffer[start : start + _PAYLOAD_SIZE] = payload
            staged += 1
            if staged == self._chunk:
                self._publish(self._staging)
                written += staged
                staged = 0
        if staged:
            self._publish(self._staging[:staged])
            written += staged
        return written

    def write_array(self, records: npt.NDArray[Any]) -> int:
        """Publish records given as a ``SLOT_DTYPE`` array; returns how many.

        ``instrument`` must be an index from ``instrument_index``; ``seq`` and ``generation``
        are ignored (the writer sets them). The columnar fast path: no Python object per record.
        Each chunk of up to 1,024 is checked before any of it is written.
        """
        if records.dtype != layout.SLOT_DTYPE or records.ndim != 1:
            raise BadDataError(
                f"records: expected a 1-d array of SLOT_DTYPE, got {records.dtype} "
                f"with {records.ndim} dimensions",
                field="records",
            )
        if self._segment is None:
            raise ValueError(f"ipc ring {self.path}: writer is closed")
        total = len(records)
        words = np.ascontiguousarray(records).view(np.uint64).reshape(total, layout.SLOT_WORDS)
        step = self._chunk
        for begin in range(0, total, step):
            chunk = records[begin : begin + step]
            # Stripping the valid kind bytes leaves nothing when every kind is valid: one
            # C call on 64 bytes, a quarter of what a numpy comparison costs on a small block.
            if (
                chunk["kind"].tobytes().strip(_KINDS)
                or _MAX(chunk["instrument"]) >= self._instrument_count
            ):
                raise BadDataError(
                    "records: an instrument index not in this ring's table, or a kind that is "
                    "not a RecordKind",
                    field="records",
                )
            self._publish(words[begin : begin + step])
        return total

    def instrument_index(self, exchange: str, symbol: str) -> int:
        """The table index of an instrument (added if new), for ``write_array`` records."""
        found = self._instruments.get((exchange, symbol))
        return self._add_instrument(exchange, symbol) if found is None else found

    def heartbeat(self) -> None:
        """Tell readers the writer lives; needed only with ``heartbeat_thread=False``."""
        self._words[layout.HEARTBEAT_WORD] = time.monotonic_ns()

    def close(self, *, unlink: bool = False) -> None:
        """Mark the segment closed (readers see the writer gone) and unmap it.

        With ``unlink`` the file is removed too; readers mapping it keep their mapping.
        """
        segment = self._segment
        if segment is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self._words[layout.STATE_WORD] = layout.STATE_CLOSED
        if unlink and not segment.replaced():
            self.path.unlink(missing_ok=True)
        self._segment = None
        # Drop our views of the map so that it can be unmapped; a write after close fails on
        # the released memoryview.
        self._ring = self._seqs = np.empty(0, np.uint64)
        segment.close()
        log.info("ipc ring %s: writer closed after %d records", self.path, self.records_written)

    def __enter__(self) -> RingWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _publish(self, block: npt.NDArray[np.uint64]) -> None:
        """Publish a block of slot rows (u64 words, at most the capacity of them).

        Every slot of the block is marked busy with ``2n + 1``, ``n`` the block's first index:
        odd, above the published value of any record it overwrites (at most ``capacity - 1``
        records back) and below the published value of every record of the block, which is
        all a reader's comparison needs; one scalar fill instead of an array per batch.
        """
        count = len(block)
        n = self._next
        start = n & self._mask
        first = min(count, self.capacity - start)
        rest = count - first  # > 0 when the ring wraps: the rest goes to its start
        seqs = self._seqs
        ring = self._ring
        generation = self.generation
        seqs[start : start + first] = 2 * n + 1
        ring[start : start + first, 1:] = block[:first, 1:]
        ring[start : start + first, 1] = generation
        if rest:
            seqs[:rest] = 2 * n + 1
            ring[:rest, 1:] = block[first:, 1:]
            ring[:rest, 1] = generation
        published = self._twice[:count] + (2 * n + 2)
        seqs[start : start + first] = published[:first]
        if rest:
            seqs[:rest] = published[first:]
        self._words[layout.CURSOR_WORD] = n + count
        self._next = n + count
        self.records_written += count

    def _add_instrument(self, exchange: str, symbol: str) -> int:
        entry = layout.encode_instrument(exchange, symbol)
        index = self._instrument_count
        if index >= self._max_instruments:
            raise InstrumentTableFullError(
                f"ipc ring {self.path}: instrument table full ({self._max_instruments} "
                f"entries) adding {symbol}.{exchange}; raise max_instruments"
            )
        start = layout.HEADER_SIZE + index * layout.ENTRY_SIZE
        self._mm[start : start + layout.ENTRY_SIZE] = entry
        # The count is stored after the entry, and before any slot naming it is published.
        self._words[layout.INSTRUMENTS_WORD] = index + 1
        self._instrument_count = index + 1
        self._instruments[(exchange, symbol)] = index
        return index

    def _load_instruments(self, segment: Segment) -> int:
        """Adopt the table of a reused file; an entry that does not decode ends it."""
        count = min(self._words[layout.INSTRUMENTS_WORD], self._max_instruments)
        for index in range(count):
            try:
                names = layout.decode_instrument(segment.instrument_entry(index))
            except ValueError:
                log.warning("ipc ring %s: instrument entry %d unreadable", self.path, index)
                return index
            self._instruments.setdefault(names, index)
        return count

    def _start_generation(self, heartbeat_interval: float) -> int:
        words = self._words
        previous = words[layout.GENERATION_WORD]
        generation = previous
        while generation in (0, previous):
            generation = secrets.randbits(64)
        words[layout.GENERATION_START_WORD] = self._next
        words[layout.CURSOR_WORD] = self._next
        words[layout.PID_WORD] = os.getpid()
        words[layout.HEARTBEAT_INTERVAL_WORD] = int(heartbeat_interval * 1e9)
        words[layout.HEARTBEAT_WORD] = time.monotonic_ns()
        words[layout.STATE_WORD] = layout.STATE_RUNNING
        # Stored last: a reader that sees the new generation sees everything above.
        words[layout.GENERATION_WORD] = generation
        return generation

    def _beat_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.heartbeat()


_PACKERS: Final = layout.PACKERS
_KINDS: Final = bytes(kind.value for kind in RecordKind)
_MAX: Final = np.maximum.reduce
_PAYLOAD_SIZE: Final = layout.PAYLOAD.size
_SLOT_SIZE: Final = layout.SLOT_SIZE
_SLOT_WORDS: Final = layout.SLOT_WORDS
_CURSOR_WORD: Final = layout.CURSOR_WORD


def _first_unpublished(segment: Segment, cursor: int) -> int:
    """Where a writer reusing a segment resumes: the first index at or after the old cursor
    whose slot does not hold that record published. The old writer may have died with a batch
    half published (slots published, cursor not moved) or a slot marked busy; readers stop at
    the first unpublished slot, so resuming there overwrites only what no reader delivered."""
    capacity = segment.capacity
    block = min(capacity, 65_536)
    for begin in range(cursor, cursor + capacity, block):
        indices = np.arange(begin, begin + block, dtype=np.uint64)
        seqs = segment.seqs[(indices & np.uint64(capacity - 1)).astype(np.intp)]
        done = seqs == indices * np.uint64(2) + np.uint64(2)
        if not done.all():
            return begin + int(np.argmin(done))
    return cursor + capacity
