"""The ring between real processes over a real /dev/shm segment: a writer, readers, crashes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event

import pytest
from ring_procs import (
    WAIT,
    ReaderReport,
    read_stream,
    trade,
    write_stream,
    write_then_hang,
)

from ticklane.ipc import RingReader


class Processes:
    """Starts spawned processes and kills whichever still runs when the test ends."""

    def __init__(self) -> None:
        self.context: SpawnContext = multiprocessing.get_context("spawn")
        self.started: list[SpawnProcess] = []
        # Events and pipes handed to a child must outlive its start: with spawn, the child
        # unpickles them later, and a semaphore collected meanwhile is gone.
        self.kept: list[tuple[object, ...]] = []

    def event(self) -> Event:
        return self.context.Event()

    def start(self, target: Callable[..., None], *args: object) -> SpawnProcess:
        process = self.context.Process(target=target, args=args, daemon=True)
        self.kept.append(args)
        process.start()
        self.started.append(process)
        return process

    def reader(
        self, name: str, last: int, how: str, *, start: str = "oldest", paused: bool = False
    ) -> tuple[Event, Event, Event | None, Connection]:
        """A reader process: (started, attached, resume if paused, its report's pipe)."""
        started, ready = self.event(), self.event()
        resume = self.event() if paused else None
        receive, send = self.context.Pipe(duplex=False)
        self.start(read_stream, name, last, how, start, started, ready, resume, send)
        return started, ready, resume, receive

    def stop_all(self) -> None:
        for process in self.started:
            if process.is_alive():
                process.kill()
            process.join(WAIT)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


def report_of(receive: Connection) -> ReaderReport:
    if not receive.poll(WAIT):
        pytest.fail(f"a reader process sent nothing within {WAIT} s")
    report: ReaderReport = receive.recv()
    assert not report.error, report.error
    return report


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {WAIT} s for {what}")
        time.sleep(0.001)


def test_two_readers_get_every_record_once_in_order(processes: Processes, ring_name: str) -> None:
    count = 20_000  # single writes, batches of 100 and arrays of 64, mixed
    stop, written = processes.event(), processes.event()
    # The readers wait for the ring to appear and start from its oldest record (index 0);
    # the writer waits for both to be attached before it writes.
    readers = [processes.reader(ring_name, count - 1, how) for how in ("read", "batch")]
    processes.start(
        write_stream,
        ring_name,
        0,
        count,
        32_768,
        "mixed",
        [ready for _, ready, _, _ in readers],
        written,
        stop,
    )
    reports = [report_of(receive) for _, _, _, receive in readers]
    stop.set()
    for report in reports:
        assert report.ids == list(range(count))
        assert report.in_order
        assert report.torn_records == report.lost == report.restarts == 0


def test_paused_reader_loses_exactly_the_records_overwritten(
    processes: Processes, ring_name: str
) -> None:
    capacity, count = 1024, 5_000
    stop, written = processes.event(), processes.event()
    _, ready, resume, receive = processes.reader(ring_name, count - 1, "read", paused=True)
    processes.start(write_stream, ring_name, 0, count, capacity, "mixed", [ready], written, stop)
    assert written.wait(WAIT)
    assert resume is not None
    resume.set()  # the reader wakes up 5,000 records later, with 1,024 still in the ring
    report = report_of(receive)
    stop.set()
    assert report.lost == count - capacity
    assert report.ids == list(range(count - capacity, count))
    assert report.torn_records == 0


def test_readers_never_get_a_torn_record_from_a_writer_lapping_them(
    processes: Processes, ring_name: str
) -> None:
    """A tiny ring and a writer at full speed: readers are lapped all the time. Every record
    they get must be whole, and what they got plus what they lost is exactly what was sent."""
    capacity, count = 64, 200_000
    stop, written = processes.event(), processes.event()
    readers = [processes.reader(ring_name, count - 1, how) for how in ("read", "array")]
    processes.start(
        write_stream,
        ring_name,
        0,
        count,
        capacity,
        "mixed",
        [ready for _, ready, _, _ in readers],
        written,
        stop,
    )
    reports = [report_of(receive) for _, _, _, receive in readers]
    stop.set()
    for report in reports:
        assert report.torn_records == 0
        assert report.in_order
        assert len(report.ids) + report.lost == count
        assert report.ids[-1] == count - 1


def test_killed_writer_is_seen_dead_by_a_reader(processes: Processes, ring_name: str) -> None:
    written = processes.event()
    writer = processes.start(write_then_hang, ring_name, 0, 10, written)
    assert written.wait(WAIT)
    with RingReader(ring_name, start="oldest") as reader:
        assert [reader.read(timeout=WAIT) for _ in range(10)] == [trade(i) for i in range(10)]
        assert reader.writer_alive
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(WAIT)
        wait_for(lambda: not reader.writer_alive, "the reader to see the writer dead")
        assert reader.read(timeout=0) is None  # the mapping stays valid: no crash, no data


def test_restarted_writer_is_followed_and_counted(processes: Processes, ring_name: str) -> None:
    first_written, stop, written = processes.event(), processes.event(), processes.event()
    first = processes.start(write_then_hang, ring_name, 0, 10, first_written)
    assert first_written.wait(WAIT)
    _, ready, _, receive = processes.reader(ring_name, 19, "read")
    assert ready.wait(WAIT)
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    first.join(WAIT)
    processes.start(write_stream, ring_name, 10, 10, 1024, "single", [], written, stop)
    report = report_of(receive)
    stop.set()
    assert report.ids == list(range(20))
    assert report.restarts == 1
    assert report.lost == 0
    old, new = report.generations[0], report.generations[-1]
    assert old != new
    assert report.generations == [old] * 10 + [new] * 10  # the switch is at the first new record


def test_reader_started_before_the_writer_waits_then_gets_everything(
    processes: Processes, ring_name: str
) -> None:
    stop, written = processes.event(), processes.event()
    started, ready, _, receive = processes.reader(ring_name, 99, "batch")
    assert started.wait(WAIT)  # it looked for the ring, found none, and now waits for it
    processes.start(write_stream, ring_name, 0, 100, 1024, "mixed", [ready], written, stop)
    report = report_of(receive)
    stop.set()
    assert not report.segment_existed_at_start
    assert report.ids == list(range(100))
    assert report.lost == report.restarts == 0
