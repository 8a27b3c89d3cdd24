"""Ring behaviour in one process: order, exact overrun counts, torn copies, writer restarts."""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from ticklane.core.records import MarketRecord, TradeRecord
from ticklane.ipc import (
    SLOT_DTYPE,
    RingReader,
    RingWriter,
    SegmentBusyError,
    WriterNotFoundError,
    layout,
    resolve_path,
)
from ticklane.ipc import (
    reader as reader_module,
)

TS = 1_717_372_800_000_000_000


def trade(number: int, symbol: str = "BTCUSDT") -> TradeRecord:
    return TradeRecord("binance", symbol, TS + number, TS + number, number, number * 10, 1, 1)


def ids(records: list[MarketRecord]) -> list[int]:
    return [record.trade_id for record in records if isinstance(record, TradeRecord)]


def read_all(reader: RingReader) -> list[MarketRecord]:
    got: list[MarketRecord] = []
    while (record := reader.read(timeout=0)) is not None:
        got.append(record)
    return got


def wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {limit} s for {what}")
        time.sleep(0.001)


@pytest.fixture
def writer(ring_name: str) -> Iterator[RingWriter]:
    created = RingWriter(ring_name, capacity=16)
    try:
        yield created
    finally:
        created.close()


def test_records_arrive_in_order_and_read_times_out_empty(
    writer: RingWriter, ring_name: str
) -> None:
    with RingReader(ring_name) as reader:
        assert reader.read(timeout=0.001) is None
        for number in range(10):
            writer.write(trade(number))
        assert ids(read_all(reader)) == list(range(10))
        assert reader.records_read == 10
        assert reader.lost == 0
        assert reader.read_batch(5, timeout=0) == []
        assert len(reader.read_array(5, timeout=0)) == 0


def test_latest_reader_skips_history_and_oldest_reader_gets_what_is_left(
    writer: RingWriter, ring_name: str
) -> None:
    for number in range(20):
        writer.write(trade(number))
    with RingReader(ring_name) as latest, RingReader(ring_name, start="oldest") as oldest:
        writer.write(trade(20))
        assert ids(read_all(latest)) == [20]
        # 16 slots: 4..19 were there when it attached; 20 then took the slot of 4.
        assert ids(read_all(oldest)) == list(range(5, 21))
        assert oldest.lost == 1


def test_reader_a_whole_ring_behind_counts_exactly_what_it_lost(
    writer: RingWriter, ring_name: str
) -> None:
    with RingReader(ring_name) as reader:
        for number in range(100):
            writer.write(trade(number))
        assert ids(read_all(reader)) == list(range(84, 100))  # the 16 the ring still holds
        assert reader.lost == 84
        assert reader.records_read == 16


def test_batch_reader_overrun_counts_exactly_and_keeps_order(
    writer: RingWriter, ring_name: str
) -> None:
    with RingReader(ring_name) as reader:
        writer.write_batch([trade(number) for number in range(37)])
        got = reader.read_batch(100, timeout=0)
        assert ids(got) == list(range(21, 37))
        assert reader.lost == 21
        writer.write_batch([trade(number) for number in range(37, 45)])  # wraps the ring
        assert ids(reader.read_batch(100, timeout=0)) == list(range(37, 45))
        assert reader.lost == 21


def test_array_batches_wrap_the_ring_and_stay_whole(writer: RingWriter, ring_name: str) -> None:
    index = writer.instrument_index("binance", "BTCUSDT")
    with RingReader(ring_name) as reader:
        seen: list[int] = []
        for start in range(0, 200, 7):
            block = np.zeros(7, SLOT_DTYPE)
            block["instrument"] = index
            block["kind"] = 1
            block["id"] = np.arange(start, start + 7)
            writer.write_array(block)
            seen += reader.read_array(5, timeout=0)["id"].tolist()
            seen += reader.read_array(5, timeout=0)["id"].tolist()
        assert seen == list(range(203))
        assert reader.lost == 0


def test_copy_overwritten_by_the_writer_is_dropped_not_returned(
    writer: RingWriter, ring_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer laps the reader while it copies a slot: the seqlock check refuses the copy."""
    with RingReader(ring_name) as reader:
        for number in range(3):
            writer.write(trade(number))
        unpack = layout.PAYLOAD.unpack_from
        laps = iter([True])

        def unpack_then_writer_laps(buffer: mmap.mmap, offset: int) -> tuple[int, ...]:
            fields = unpack(buffer, offset)
            if next(laps, False):  # the writer runs a whole ring over the slot being copied
                for number in range(3, 3 + 16):
                    writer.write(trade(number))
            return fields

        monkeypatch.setattr(reader_module, "_UNPACK", unpack_then_writer_laps)
        got = read_all(reader)
        assert ids(got) == list(range(3, 19))  # record 0 torn, 1 and 2 overwritten: lost
        assert reader.torn == 1
        assert reader.lost == 3
        assert reader.records_read == 16


def test_restarted_writer_continues_the_stream_and_reader_counts_the_restart(
    ring_name: str,
) -> None:
    first = RingWriter(ring_name, capacity=16)
    with RingReader(ring_name) as reader:
        for number in range(5):
            first.write(trade(number))
        assert ids(reader.read_batch(2, timeout=0)) == [0, 1]
        old_generation = first.generation
        first.close()
        assert not reader.writer_alive

        second = RingWriter(ring_name, capacity=16)
        try:
            assert second.generation != old_generation
            assert second.cursor == 5  # reused the file, resumed after the old records
            for number in range(5, 8):
                second.write(trade(number))
            delivered = []
            while (record := reader.read(timeout=0)) is not None:
                delivered.append((ids([record])[0], reader.generation, reader.restarts))
            assert delivered == [
                (2, old_generation, 0),
                (3, old_generation, 0),
                (4, old_generation, 0),
                (5, second.generation, 1),
                (6, second.generation, 1),
                (7, second.generation, 1),
            ]
            assert reader.writer_alive
            assert reader.lost == 0
        finally:
            second.close()


def test_batch_read_never_mixes_two_writer_generations(ring_name: str) -> None:
    first = RingWriter(ring_name, capacity=64)
    with RingReader(ring_name) as reader:
        first.write_batch([trade(number) for number in range(3)])
        first.close()
        with RingWriter(ring_name, capacity=64) as second:
            second.write_batch([trade(number) for number in range(3, 6)])
            assert ids(reader.read_batch(100, timeout=0)) == [0, 1, 2]
            assert reader.restarts == 0
            assert ids(reader.read_batch(100, timeout=0)) == [3, 4, 5]
            assert reader.restarts == 1
            assert reader.generation == second.generation


def test_writer_with_another_geometry_replaces_the_file_and_reader_follows(
    ring_name: str,
) -> None:
    first = RingWriter(ring_name, capacity=16)
    with RingReader(ring_name) as reader:
        first.write(trade(0))
        first.close()
        with RingWriter(ring_name, capacity=32) as second:
            assert second.cursor == 0  # a new file
            second.write(trade(1, "ETHUSDT"))
            assert reader.read(timeout=10) == trade(0)
            # The reader finds the new file while it waits, and reads it from its start.
            assert reader.read(timeout=30) == trade(1, "ETHUSDT")
            assert reader.restarts == 1
            assert reader.capacity == 32
            assert reader.writer_alive


def test_second_writer_on_a_live_segment_is_refused(writer: RingWriter, ring_name: str) -> None:
    with pytest.raises(SegmentBusyError, match="live writer"):
        RingWriter(ring_name, capacity=16, lock_timeout=0.05)
    writer.write(trade(0))  # the first one is untouched


def test_writer_that_stops_beating_is_not_alive_until_it_beats_again(ring_name: str) -> None:
    with (
        RingWriter(ring_name, capacity=16, heartbeat_interval=0.05, heartbeat_thread=False) as w,
        RingReader(ring_name, stale_after=0.1) as reader,
    ):
        wait_for(lambda: not reader.writer_alive, "the heartbeat to go stale")
        w.heartbeat()
        # Alive again, unless this machine stalled past stale_after since the heartbeat.
        assert reader.writer_alive or reader.heartbeat_age > 0.1


def test_heartbeat_thread_keeps_an_idle_writer_alive(ring_name: str) -> None:
    with (
        RingWriter(ring_name, capacity=16, heartbeat_interval=0.005) as writer,
        RingReader(ring_name, stale_after=30) as reader,
    ):
        beat = reader.last_heartbeat_ns
        wait_for(lambda: reader.last_heartbeat_ns != beat, "a heartbeat")
        assert reader.writer_alive
        assert reader.writer_pid == os.getpid()
    assert writer.cursor == 0


def test_reader_without_a_segment_times_out(ring_name: str) -> None:
    with pytest.raises(WriterNotFoundError, match=ring_name):
        RingReader(ring_name, attach_timeout=0)


def test_writer_resumes_after_a_half_published_batch(ring_name: str) -> None:
    """A writer killed mid-batch leaves slots published past the cursor and one busy: the next
    writer resumes at the busy slot, so no reader is left waiting on it for ever."""
    with RingWriter(ring_name, capacity=16) as first:
        for number in range(4):
            first.write(trade(number))
        slots_at = layout.slots_offset(4_096)
    with resolve_path(ring_name).open("r+b") as file, mmap.mmap(file.fileno(), 0) as mapped:
        seqs = np.frombuffer(mapped, np.uint64, 16 * layout.SLOT_WORDS, slots_at)[::10]
        seqs[4] = layout.published(4)  # published, cursor not moved yet
        seqs[5] = 2 * 5 + 1  # being written when the writer died
        seqs[6] = layout.published(6)
        del seqs
    with RingWriter(ring_name, capacity=16) as second, RingReader(ring_name) as reader:
        assert second.cursor == 5
        second.write(trade(5))
        assert reader.read(timeout=0) == trade(5)


def test_path_names_outside_dev_shm_work(tmp_path: Path) -> None:
    path = f"{tmp_path}/ring"
    with RingWriter(path, capacity=16) as writer, RingReader(path) as reader:
        writer.write(trade(1))
        assert reader.read(timeout=0) == trade(1)
    assert resolve_path(path).exists()


def test_reader_polling_without_waiting_also_follows_a_replaced_file(ring_name: str) -> None:
    first = RingWriter(ring_name, capacity=16)
    with RingReader(ring_name) as reader:
        first.write(trade(0))
        assert reader.read(timeout=0) == trade(0)
        first.close()
        with RingWriter(ring_name, capacity=64) as second:
            second.write(trade(1))
            got: list[MarketRecord] = []
            wait_for(lambda: bool(got.extend(reader.read_batch(10, timeout=0)) or got), "it")
            assert got == [trade(1)]
            assert reader.restarts == 1


def test_raw_fields_carry_the_slot_as_it_is(writer: RingWriter, ring_name: str) -> None:
    with RingReader(ring_name) as reader:
        writer.write(trade(7))
        fields = reader.read_fields(timeout=0)
        assert fields is not None
        generation, instrument, kind, side, flags, ts_event, ts_recv, id_, price, *rest = fields
        assert (generation, kind, side, flags) == (writer.generation, 1, 1, 0)
        assert reader.instrument(instrument) == ("binance", "BTCUSDT")
        assert (ts_event, ts_recv, id_, price, *rest) == (TS + 7, TS + 7, 7, 70, 1, 0, 0)
        assert reader.read_fields(timeout=0) is None
