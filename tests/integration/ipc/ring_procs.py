"""Writer and reader process bodies for the ring's process tests (run with ``spawn``).

Every record written here is a trade whose fields all derive from its index, so a reader can
check each record it gets for tearing (fields from two records) without knowing the stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import numpy as np

from ticklane.core.records import MarketRecord, TradeRecord
from ticklane.ipc import SLOT_DTYPE, RingReader, RingWriter, resolve_path

TS = 1_717_372_800_000_000_000
WAIT = 120.0  # seconds: generous, a loaded 2-core machine must never trip it


def trade(index: int) -> TradeRecord:
    return TradeRecord(
        "binance",
        "BTCUSDT",
        TS + index,
        TS + 3 * index,
        index,
        7 * index,
        index ^ 0x5555,
        index % 3,
    )


def trade_block(writer: RingWriter, start: int, count: int) -> np.ndarray:
    """``trade(start) .. trade(start + count - 1)`` as a ``SLOT_DTYPE`` array."""
    index = np.arange(start, start + count, dtype=np.int64)
    block = np.zeros(count, SLOT_DTYPE)
    block["instrument"] = writer.instrument_index("binance", "BTCUSDT")
    block["kind"] = 1
    block["side"] = index % 3
    block["ts_event"] = TS + index
    block["ts_recv"] = TS + 3 * index
    block["id"] = index
    block["price"] = 7 * index
    block["size"] = index ^ 0x5555
    return block


def is_whole(record: MarketRecord) -> bool:
    return isinstance(record, TradeRecord) and record == trade(record.trade_id)


@dataclass
class ReaderReport:
    ids: list[int] = field(default_factory=list)
    generations: list[int] = field(default_factory=list)
    torn_records: int = 0
    in_order: bool = True
    lost: int = 0
    restarts: int = 0
    torn: int = 0
    segment_existed_at_start: bool = False
    error: str = ""


def write_stream(
    name: str,
    first: int,
    count: int,
    capacity: int,
    mode: str,
    readers_ready: list[Event],
    written: Event,
    stop: Event,
) -> None:
    """Create or reuse the ring, wait for the readers, write ``count`` trades from ``first``
    (``mode``: "single", "mixed" single/batch/array), then keep running until ``stop``."""
    with RingWriter(name, capacity=capacity, heartbeat_interval=0.02) as writer:
        for ready in readers_ready:
            ready.wait(WAIT)
        index = first
        end = first + count
        step = 0
        while index < end:
            size = min(end - index, 1 if mode == "single" else (1, 100, 64)[step % 3])
            if size == 1:
                writer.write(trade(index))
            elif step % 3 == 1:
                writer.write_batch([trade(number) for number in range(index, index + size)])
            else:
                writer.write_array(trade_block(writer, index, size))
            index += size
            step += 1
        written.set()
        stop.wait(WAIT)


def read_stream(
    name: str,
    last: int,
    how: str,
    start: str,
    started: Event,
    ready: Event,
    resume: Event | None,
    out: Connection,
) -> None:
    """Attach (waiting for the ring if need be), say so, (wait for ``resume``), read with
    ``how`` ("read", "batch", "array") until trade ``last``, and report what came."""
    report = ReaderReport(segment_existed_at_start=resolve_path(name).exists())
    started.set()
    try:
        reader = RingReader(name, start=start, attach_timeout=WAIT)
        ready.set()
        if resume is not None:
            resume.wait(WAIT)
        deadline = time.monotonic() + WAIT
        previous = -1
        while previous != last and time.monotonic() < deadline:
            got = (
                [reader.read(timeout=1.0)]
                if how == "read"
                else reader.to_records(reader.read_array(50, timeout=1.0))
                if how == "array"
                else reader.read_batch(50, timeout=1.0)
            )
            for record in got:
                if record is None:
                    continue
                if not is_whole(record):
                    report.torn_records += 1
                    continue
                assert isinstance(record, TradeRecord)
                report.in_order &= record.trade_id > previous
                previous = record.trade_id
                report.ids.append(record.trade_id)
                report.generations.append(reader.generation)
        report.lost = reader.lost
        report.restarts = reader.restarts
        report.torn = reader.torn
        reader.close()
    except Exception as error:  # reported, so that the test shows it
        report.error = repr(error)
        ready.set()
    out.send(report)


def write_then_hang(name: str, first: int, count: int, written: Event) -> None:
    """A writer that publishes some trades and then just lives on (until killed)."""
    writer = RingWriter(name, capacity=1024, heartbeat_interval=0.02)
    for index in range(first, first + count):
        writer.write(trade(index))
    written.set()
    time.sleep(WAIT)
