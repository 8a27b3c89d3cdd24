"""Slot layout: every record kind goes through the ring unchanged, or is refused whole."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ticklane.core.errors import BadDataError, ConfigError, OutOfRangeError
from ticklane.core.identifiers import BookSide, Side
from ticklane.core.records import BookFlags, BookRecord, QuoteRecord, RecordKind, TradeRecord
from ticklane.ipc import (
    SLOT_DTYPE,
    InstrumentTableFullError,
    RingReader,
    RingWriter,
    layout,
    resolve_path,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
TS = 1_717_372_800_123_456_789


@pytest.fixture
def ring(ring_name: str) -> Iterator[tuple[RingWriter, RingReader]]:
    writer = RingWriter(ring_name, capacity=64, max_instruments=8, heartbeat_thread=False)
    reader = RingReader(ring_name)
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()


def test_slot_dtype_matches_the_documented_byte_table() -> None:
    offsets = {name: SLOT_DTYPE.fields[name][1] for name in SLOT_DTYPE.names}
    assert offsets == {
        "seq": 0,
        "generation": 8,
        "instrument": 16,
        "kind": 20,
        "side": 21,
        "flags": 22,
        "ts_event": 24,
        "ts_recv": 32,
        "id": 40,
        "price": 48,
        "size": 56,
        "ask_price": 64,
        "ask_size": 72,
    }
    assert SLOT_DTYPE.itemsize == layout.SLOT_SIZE == 80
    assert layout.PAYLOAD_OFFSET + layout.PAYLOAD.size == layout.SLOT_SIZE


@pytest.mark.parametrize(
    "record",
    [
        TradeRecord("binance", "BTCUSDT", TS, TS + 1, 2_000_001, 67_123_450_000_000, 150_000, 1),
        TradeRecord("kraken", "XBT/USD", TS, TS, INT64_MAX, INT64_MAX, INT64_MIN, Side.SELL),
        TradeRecord("databento", "ES.FUT", INT64_MIN, INT64_MAX, -1, -5, 0, Side.NONE),
        QuoteRecord(
            "binance", "ETHUSDT", TS, TS + 7, 99, 3_500_10 * 10**7, 10**8, 3_500_20 * 10**7, 5
        ),
        QuoteRecord("kraken_futures", "PI_XBTUSD", TS, TS, 0, INT64_MIN, INT64_MAX, INT64_MAX, -1),
        BookRecord("binance", "BTCUSDT", TS, TS, 10, BookSide.BID, 0, 0, BookFlags.CLEAR),
        BookRecord(
            "kraken",
            "X" * 64,  # the longest symbol that fits
            TS,
            TS + 3,
            INT64_MAX,
            BookSide.ASK,
            67_000 * 10**9,
            12_345_678,
            BookFlags.SNAPSHOT | BookFlags.LAST,
        ),
        BookRecord("e" * 32, "Ωmega-€", TS, TS, 1, 255, 1, 1, 255),  # UTF-8, widest u8 values
    ],
    ids=lambda record: type(record).__name__,
)
def test_each_record_kind_reads_back_equal(
    ring: tuple[RingWriter, RingReader], record: TradeRecord | QuoteRecord | BookRecord
) -> None:
    writer, reader = ring
    writer.write(record)
    writer.write_batch([record, record])
    assert reader.read(timeout=0) == record
    assert reader.read_batch(10, timeout=0) == [record, record]
    assert reader.read(timeout=0) is None


def test_raw_array_round_trip_names_instruments_through_the_table(
    ring: tuple[RingWriter, RingReader],
) -> None:
    writer, reader = ring
    block = np.zeros(3, SLOT_DTYPE)
    block["instrument"] = [
        writer.instrument_index("binance", "BTCUSDT"),
        writer.instrument_index("kraken", "XBT/USD"),
        writer.instrument_index("binance", "BTCUSDT"),
    ]
    block["kind"] = [RecordKind.TRADE, RecordKind.QUOTE, RecordKind.BOOK]
    block["id"] = [7, 8, 9]
    block["price"] = [1, INT64_MIN, INT64_MAX]
    block["seq"] = 12345  # ignored: the writer sets seq and generation
    assert writer.write_array(block) == 3

    got = reader.read_array(10, timeout=0)
    assert got.dtype == SLOT_DTYPE
    assert got["id"].tolist() == [7, 8, 9]
    assert got["price"].tolist() == [1, INT64_MIN, INT64_MAX]
    assert set(got["generation"].tolist()) == {writer.generation}
    assert [reader.instrument(index) for index in got["instrument"].tolist()] == [
        ("binance", "BTCUSDT"),
        ("kraken", "XBT/USD"),
        ("binance", "BTCUSDT"),
    ]
    records = reader.to_records(got)
    assert [type(record) for record in records] == [TradeRecord, QuoteRecord, BookRecord]
    assert records[1] == QuoteRecord("kraken", "XBT/USD", 0, 0, 8, INT64_MIN, 0, 0, 0)


@pytest.mark.parametrize(
    ("record", "field", "error"),
    [
        (TradeRecord("binance", "B" * 65, TS, TS, 1, 1, 1, 1), "symbol", BadDataError),
        (TradeRecord("b" * 33, "BTCUSDT", TS, TS, 1, 1, 1, 1), "exchange", BadDataError),
        (TradeRecord("binance", "", TS, TS, 1, 1, 1, 1), "symbol", BadDataError),
        (TradeRecord("binance", "BTCUSDT", TS, TS, 1, 2**63, 1, 1), "price", OutOfRangeError),
        (TradeRecord("binance", "BTCUSDT", TS, TS, 1, 1, 1, 256), "side", OutOfRangeError),
        (TradeRecord("binance", "BTCUSDT", TS, TS, 1, 1.5, 1, 1), "price", BadDataError),  # type: ignore[arg-type]
        (
            QuoteRecord("binance", "X", TS, TS, 0, 1, 1, 1, -(2**63) - 1),
            "ask_size",
            OutOfRangeError,
        ),
        (BookRecord("binance", "X", TS, TS, 0, 1, 1, 1, -1), "flags", OutOfRangeError),
        (BookRecord("binance", "X", TS, 2**64, 0, 1, 1, 1), "ts_recv", OutOfRangeError),
    ],
)
def test_a_value_that_does_not_fit_is_refused_and_nothing_is_published(
    ring: tuple[RingWriter, RingReader],
    record: TradeRecord | QuoteRecord | BookRecord,
    field: str,
    error: type[BadDataError],
) -> None:
    writer, reader = ring
    good = TradeRecord("binance", "BTCUSDT", TS, TS, 1, 1, 1, 1)
    with pytest.raises(error) as raised:
        writer.write(record)
    assert raised.value.field == field
    with pytest.raises(error):
        writer.write_batch([good, record, good])  # checked in full before any is published
    assert writer.cursor == 0
    assert writer.records_written == 0
    writer.write(good)
    assert reader.read_batch(10, timeout=0) == [good]


def test_an_object_that_is_not_a_record_is_refused(ring: tuple[RingWriter, RingReader]) -> None:
    writer, _ = ring
    with pytest.raises(BadDataError, match="not a TradeRecord"):
        writer.write("BTCUSDT 67000")  # type: ignore[arg-type]


def test_array_with_unknown_instrument_or_kind_is_refused(
    ring: tuple[RingWriter, RingReader],
) -> None:
    writer, _ = ring
    block = np.zeros(2, SLOT_DTYPE)
    block["instrument"] = writer.instrument_index("binance", "BTCUSDT")
    block["kind"] = RecordKind.TRADE
    block["kind"][1] = 0
    with pytest.raises(BadDataError, match="kind"):
        writer.write_array(block)
    block["kind"][1] = 4
    with pytest.raises(BadDataError, match="kind"):
        writer.write_array(block)
    block["kind"] = RecordKind.TRADE
    block["instrument"][0] = 1  # only index 0 exists
    with pytest.raises(BadDataError, match="instrument"):
        writer.write_array(block)
    with pytest.raises(BadDataError, match="SLOT_DTYPE"):
        writer.write_array(np.zeros(2, np.int64))
    assert writer.cursor == 0


def test_instrument_table_full_asks_for_a_larger_table(
    ring: tuple[RingWriter, RingReader],
) -> None:
    writer, _ = ring
    for number in range(8):
        writer.write(TradeRecord("binance", f"S{number}", TS, TS, 1, 1, 1, 1))
    with pytest.raises(InstrumentTableFullError, match="max_instruments"):
        writer.write(TradeRecord("binance", "ONE_TOO_MANY", TS, TS, 1, 1, 1, 1))
    assert writer.cursor == 8


@pytest.mark.parametrize("capacity", [0, 15, 100, 2**27, True])
def test_capacity_must_be_a_power_of_two(ring_name: str, capacity: int) -> None:
    with pytest.raises(ConfigError, match="capacity"):
        RingWriter(ring_name, capacity=capacity)


def test_names_resolve_under_dev_shm_unless_they_are_paths() -> None:
    assert str(resolve_path("ticklane")) == "/dev/shm/ticklane"
    assert str(resolve_path("/mnt/shared/ring")) == "/mnt/shared/ring"
    with pytest.raises(ConfigError):
        resolve_path("")
