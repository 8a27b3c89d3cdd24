"""A reader of the ring, in any process: records in order, overruns counted, restarts followed.

Reading record ``n`` from slot ``n % capacity`` (the reader's half of the seqlock)::

    s1 = seq[slot]              # 2n+2: published; less: not yet; more: overwritten (lapped)
    fields = slot payload       # struct.unpack_from: a copy
    s2 = seq[slot]              # still 2n+2: nothing of a later record was in the copy

On x86-64 loads are not reordered with loads, and the writer's stores become visible in the
order it made them (busy mark, payload, published mark; see ``ipc.writer``). If ``s2`` equals
``2n + 2`` the writer had not yet marked the slot busy for record ``n + capacity`` when the
reader loaded ``s2``, so no payload store of that record, which comes after the mark, can
have been seen by the copy before it. A copy that fails the check is dropped, never returned.
A batch read takes the cursor (every record below it is published), copies the block, then
compares each slot's seq with the value it must have; slots overwritten meanwhile form a
prefix (the writer goes in index order) and are dropped and counted as lost. The copy is a
``memcpy`` whose loads may run in any order among themselves; what the check needs is that
none of them is satisfied after the later loads of the seq words, which x86 guarantees.
CPython keeps program order here too: every load is a C call of its own, made when the
bytecode reaches it, on memory the compiler must assume the call can change.

Overrun: a reader ``capacity`` or more records behind finds its slot holding a later record.
It skips to the oldest record still in the ring (``cursor - capacity``) and adds every index
it skipped to ``lost``: record indices have no gaps, so the count is exact.

Writer restarts: a writer reusing the file takes a new generation id, resumes the index where
the old one stopped, and writes its id into every slot. The first record whose slot carries
another generation than the reader's is where the new stream begins: the reader counts a
restart there (``restarts``), and ``read_batch`` never mixes two generations in one batch. A
writer that replaced the file (another geometry) is found while the reader waits: the name
leads to another inode; the reader maps the new file and goes on from its first record.
``writer_alive`` asks the kernel whether a writer holds the file's lock, and checks the
heartbeat and the writer's clean-close mark.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from ticklane.core.errors import ConfigError
from ticklane.core.records import BookRecord, MarketRecord, QuoteRecord, TradeRecord
from ticklane.ipc import layout
from ticklane.ipc.segment import (
    DEFAULT_NAME,
    Segment,
    SegmentFormatError,
    WriterNotFoundError,
    open_for_reader,
    resolve_path,
)
from ticklane.ipc.wait import Poller, PollMode

log = logging.getLogger(__name__)

_UNPACK: Final = layout.PAYLOAD.unpack_from
_EMPTY: Final = np.empty(0, layout.SLOT_DTYPE)
_REPLACED_CHECK_NS: Final = 50_000_000
_SLOT_SIZE: Final = layout.SLOT_SIZE
_SLOT_WORDS: Final = layout.SLOT_WORDS
_CURSOR_WORD: Final = layout.CURSOR_WORD

Fields = tuple[int, ...]


class RingReader:
    """One reader of a ring segment; any number of them may read one ring, in any process.

    Options:

    - ``name``: the segment's file name under ``/dev/shm`` or a path, as given to the writer.
    - ``start``: ``"latest"`` (default) delivers records published from now on; ``"oldest"``
      starts with the oldest record still in the ring.
    - ``attach_timeout``: seconds to wait for the segment to appear (default 0: it must
      exist; None: wait for ever); ``WriterNotFoundError`` when it does not.
    - ``poll``: ``PollMode.ADAPTIVE`` (default: spin ``spin_us`` (20), then sleep
      ``sleep_us`` (3) between polls, ``idle_sleep_us`` (500) once ``idle_ms`` (50) passed
      without a record) or ``PollMode.BUSY`` (spin only: lowest latency, a whole core).
    - ``stale_after``: seconds without a heartbeat after which ``writer_alive`` is False
      (default: ten of the writer's heartbeat intervals).

    Counters for metrics: ``records_read``, ``lost`` (records overwritten before this reader
    read them), ``restarts`` (writer restarts seen), ``torn`` (copies dropped because the
    writer overwrote the slot during the copy; each such record is also in ``lost``).
    A reader is used from one thread at a time.
    """

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        *,
        start: Literal["latest", "oldest"] = "latest",
        attach_timeout: float | None = 0.0,
        poll: PollMode | str = PollMode.ADAPTIVE,
        spin_us: float = 20.0,
        sleep_us: float = 3.0,
        idle_ms: float = 50.0,
        idle_sleep_us: float = 500.0,
        stale_after: float | None = None,
    ) -> None:
        if start not in ("latest", "oldest"):
            raise ConfigError(f"ipc reader start: {start!r} is not 'latest' or 'oldest'")
        if stale_after is not None and not stale_after > 0:
            raise ConfigError(f"ipc reader stale_after: {stale_after!r} is not > 0 seconds")
        self.path = resolve_path(name)
        self._poller = Poller(
            poll,
            spin_us=spin_us,
            sleep_us=sleep_us,
            idle_ms=idle_ms,
            idle_sleep_us=idle_sleep_us,
            idle_check_s=_REPLACED_CHECK_NS / 1e9,
        )
        self._next_replaced_check = 0
        self._stale_after_ns = None if stale_after is None else int(stale_after * 1e9)
        self.records_read = 0
        self.lost = 0
        self.restarts = 0
        self.torn = 0
        self.generation = 0
        """Generation id of the writer of the last record delivered (0 before the first)."""
        segment = _attach(self.path, attach_timeout)
        self._bind(segment)
        generation = self._words[layout.GENERATION_WORD]
        cursor = self._words[layout.CURSOR_WORD]
        if start == "latest":
            self.generation = generation
            self._next = cursor
        else:
            self._next = max(0, cursor - self._capacity)
        log.info("ipc ring %s: reader attached at record %d", self.path, self._next)

    # -- reading -----------------------------------------------------------------------------

    def read(self, timeout: float | None = None) -> MarketRecord | None:
        """The next record, waiting up to ``timeout`` seconds (None: until one comes)."""
        fields = self.read_fields(timeout)
        return None if fields is None else self._record(fields)

    def read_fields(self, timeout: float | None = None) -> Fields | None:
        """The next record as the raw tuple of its slot, no object made: ``(generation,
        instrument, kind, side, flags, ts_event, ts_recv, id, price, size, ask_price,
        ask_size)`` (the fields of ``SLOT_DTYPE`` after ``seq``); the fast path of ``read``."""
        fields = self._take()
        if fields is None:
            if timeout == 0:
                self._on_idle()
                return None
            fields = self._poller.wait(self._take_published, timeout, self._on_idle)
        return fields

    def read_batch(
        self, max_records: int = 1024, timeout: float | None = None
    ) -> list[MarketRecord]:
        """Up to ``max_records`` records already published, after waiting up to ``timeout``
        seconds for the first; empty when none came. One batch holds one writer generation."""
        return self.to_records(self.read_array(max_records, timeout))

    def read_array(self, max_records: int = 1024, timeout: float | None = None) -> npt.NDArray[Any]:
        """Like ``read_batch`` but as a ``SLOT_DTYPE`` array (a copy): the fast path.

        ``instrument`` holds table indices: ``instrument(index)`` names them.
        """
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records: {max_records!r} is not a positive integer")
        found = self._take_array(max_records)
        if found is None:
            found = self._poller.wait(lambda: self._take_array(max_records), timeout, self._on_idle)
        return _EMPTY.copy() if found is None else found

    def to_records(self, array: npt.NDArray[Any]) -> list[MarketRecord]:
        """Records of a ``SLOT_DTYPE`` array read from this ring."""
        record = self._record
        return [record(row[1:]) for row in array.tolist()]

    def instrument(self, index: int) -> tuple[str, str]:
        """(exchange, symbol) of an instrument index found in a slot."""
        names = self._names
        if index >= len(names):
            self._load_names(index)
        return names[index]

    # -- the writer and the reader's place -----------------------------------------------------

    @property
    def writer_alive(self) -> bool:
        """Whether a writer runs on this reader's segment: it holds the file's lock (the
        kernel drops it when the writer dies), has not closed, and its heartbeat is fresh.
        Costs up to three system calls: ask it every few milliseconds, not per record."""
        words = self._words
        if words[layout.STATE_WORD] != layout.STATE_RUNNING or self._segment.replaced():
            return False
        interval = words[layout.HEARTBEAT_INTERVAL_WORD]
        stale = self._stale_after_ns if self._stale_after_ns is not None else 10 * interval
        if time.monotonic_ns() - words[layout.HEARTBEAT_WORD] > stale:
            return False
        return self._segment.writer_holds_lock()

    @property
    def last_heartbeat_ns(self) -> int:
        """``CLOCK_MONOTONIC`` ns of the writer's last heartbeat (``time.monotonic_ns()``)."""
        return int(self._words[layout.HEARTBEAT_WORD])

    @property
    def heartbeat_age(self) -> float:
        """Seconds since the writer's last heartbeat."""
        return (time.monotonic_ns() - self._words[layout.HEARTBEAT_WORD]) / 1e9

    @property
    def writer_pid(self) -> int:
        """The writer's pid, as its own pid namespace sees it (another in a container)."""
        return int(self._words[layout.PID_WORD])

    @property
    def position(self) -> int:
        """Index of the next record this reader will deliver."""
        return self._next

    @property
    def lag(self) -> int:
        """Records published and not yet read (more than the capacity: some will be lost)."""
        return max(0, self._words[layout.CURSOR_WORD] - self._next)

    @property
    def capacity(self) -> int:
        return self._capacity

    def close(self) -> None:
        """Unmap the segment. The reader cannot be used afterwards."""
        segment = self._segment
        self._release_views()
        segment.close()

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _take(self) -> Fields | None:
        """The next record's fields if it is published, skipping (and counting) lost ones."""
        words = self._words
        while True:
            n = self._next
            slot = n & self._mask
            word = self._first_word + slot * _SLOT_WORDS
            want = 2 * n + 2
            seq = words[word]
            if seq != want:
                if seq < want:
                    return None  # not published yet (or being written)
                self._skip_lapped(n)
                continue
            fields = _UNPACK(self._mm, self._payload_at + slot * _SLOT_SIZE)
            if words[word] != want:
                self.torn += 1
                self._skip_lapped(n)
                continue
            self._next = n + 1
            self.records_read += 1
            if fields[0] != self.generation:
                self._new_generation(fields[0])
            return fields

    def _take_published(self) -> Fields | None:
        """``_take`` once the cursor shows the next record published: waiting, the reader
        polls the cursor, which the writer stores once per record after the slot, instead of
        the slot's seq word, which it stores twice around the payload. Polling the slot takes
        its cache line away from the writer between those stores and slows the writer down
        (4.8 us a write instead of 1.4 here with a busy-polling reader)."""
        if self._words[_CURSOR_WORD] <= self._next:
            return None
        return self._take()

    def _take_array(self, max_records: int) -> npt.NDArray[Any] | None:
        words = self._words
        while True:
            n = self._next
            cursor = words[layout.CURSOR_WORD]
            if cursor <= n:
                return None
            if cursor - n > self._capacity:
                self.lost += cursor - self._capacity - n
                n = cursor - self._capacity
            count = min(cursor - n, max_records)
            start = n & self._mask
            first = min(count, self._capacity - start)
            twice = self._twice if count <= len(self._twice) else _twice(count)
            expected = twice[:count] + (2 * n + 2)
            # Copy first, then load the seq words again: those still holding their record's
            # published value prove the copied rows whole (see the module docstring).
            if first == count:
                data = self._ring[start : start + count].copy()
                after = self._seqs[start : start + count].tobytes()
            else:
                data = np.concatenate((self._ring[start:], self._ring[: count - first]))
                after = np.concatenate((self._seqs[start:], self._seqs[: count - first])).tobytes()
            if after != expected.tobytes():  # bytes compare: the cheap test of the usual case
                fresh = np.frombuffer(after, np.uint64) == expected
                overwritten = int(np.flatnonzero(~fresh)[-1]) + 1
                self.lost += overwritten
                self.torn += overwritten
                data = data[overwritten:]
                n += overwritten
                count -= overwritten
                if not count:
                    self._next = n
                    continue
            generation = int(data[0, 1])
            if generation != self.generation:
                self._new_generation(generation)
            if data[count - 1, 1] != generation:  # a writer restart inside the batch: stop there
                count = int(np.argmax(data[:, 1] != generation))
                data = data[:count]
            self._next = n + count
            self.records_read += count
            return data.view(layout.SLOT_DTYPE).reshape(count)

    def _skip_lapped(self, n: int) -> None:
        """Record ``n`` was overwritten: go on from the oldest record still in the ring."""
        oldest = max(n + 1, self._words[layout.CURSOR_WORD] - self._capacity)
        self.lost += oldest - n
        self._next = oldest

    def _new_generation(self, generation: int) -> None:
        if self.generation:
            self.restarts += 1
            log.warning(
                "ipc ring %s: writer restarted (generation %016x, from record %d)",
                self.path,
                generation,
                self._next - 1,
            )
        self.generation = generation

    def _record(self, fields: Fields) -> MarketRecord:
        (_, instrument, kind, side, flags, ts_event, ts_recv, id_, price, size, ask, ask_size) = (
            fields
        )
        names = self._names
        if instrument >= len(names):
            self._load_names(instrument)
        exchange, symbol = names[instrument]
        if kind == 1:
            return TradeRecord(exchange, symbol, ts_event, ts_recv, id_, price, size, side)
        if kind == 2:
            return QuoteRecord(exchange, symbol, ts_event, ts_recv, id_, price, size, ask, ask_size)
        if kind == 3:
            return BookRecord(exchange, symbol, ts_event, ts_recv, id_, side, price, size, flags)
        raise SegmentFormatError(f"ipc ring {self.path}: a slot holds unknown record kind {kind}")

    def _load_names(self, index: int) -> None:
        count = self._words[layout.INSTRUMENTS_WORD]
        names = self._names
        for entry in range(len(names), min(count, self._segment.max_instruments)):
            try:
                names.append(layout.decode_instrument(self._segment.instrument_entry(entry)))
            except ValueError:
                break
        if index >= len(names):
            raise SegmentFormatError(
                f"ipc ring {self.path}: a record names instrument {index}, "
                f"the table holds {len(names)}"
            )

    def _on_idle(self) -> None:
        """While waiting: if a writer replaced the file, move to the new one (a stat call at
        most every ``_REPLACED_CHECK_NS``, whatever the timeouts the reads are made with)."""
        now = time.monotonic_ns()
        if now < self._next_replaced_check:
            return
        self._next_replaced_check = now + _REPLACED_CHECK_NS
        if not self._segment.replaced():
            return
        fresh = open_for_reader(self.path)
        if fresh is None:
            return
        if fresh.identity == self._segment.identity:
            fresh.close()
            return
        old = self._segment
        self._release_views()
        old.close()
        self._bind(fresh)
        generation = self._words[layout.GENERATION_WORD]
        self._next = self._words[layout.GENERATION_START_WORD]
        self.restarts += 1
        self.generation = generation
        log.warning(
            "ipc ring %s: segment replaced by a new writer; reading it from record %d",
            self.path,
            self._next,
        )

    def _bind(self, segment: Segment) -> None:
        self._segment = segment
        self._mm = segment.mm
        self._words = segment.words
        self._ring = segment.ring
        self._seqs = segment.seqs
        self._capacity = segment.capacity
        self._mask = segment.mask
        self._first_word = segment.slots_at // 8
        self._payload_at = segment.slots_at + layout.PAYLOAD_OFFSET
        self._twice = _twice(min(segment.capacity, 4_096))
        self._names: list[tuple[str, str]] = []

    def _release_views(self) -> None:
        self._ring = self._seqs = np.empty(0, np.uint64)


def _twice(count: int) -> npt.NDArray[np.uint64]:
    """0, 2, 4, ...: added to ``2n + 2`` it gives the published seq values of a batch."""
    return np.arange(0, 2 * count, 2, dtype=np.uint64)


def _attach(path: Path, timeout: float | None) -> Segment:
    """The segment at ``path``, waiting up to ``timeout`` seconds for it to appear."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.001
    while True:
        segment = open_for_reader(path)
        if segment is not None:
            return segment
        if deadline is not None and time.monotonic() >= deadline:
            raise WriterNotFoundError(
                f"ipc ring {path}: no segment after {timeout} s; is the writer running?"
            )
        time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.05)
