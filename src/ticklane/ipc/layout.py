"""Byte layout of a ring segment: header, instrument table and fixed-size record slots.

One segment is one file (by default under ``/dev/shm``, so a container and its host can map the
same one). Every integer is little-endian; every 8-byte word the writer updates while readers
run is 8-byte aligned, so each store and load of it is one machine access.

::

    offset          size                     what
    0               4096                     header
    4096            max_instruments * 128    instrument table, padded to a multiple of 4096
    slots_offset    capacity * 80            slots: record n lives in slot n % capacity

Header (the words the writer keeps updating sit on cache lines of their own):

    ====  ====  =====  ============================================================
    off   size  type   field
    ====  ====  =====  ============================================================
    0     8     bytes  magic ``b"TLRING\\x00\\x01"``
    8     4     u32    layout version (``LAYOUT_VERSION``)
    12    4     u32    slot size (80)
    16    8     u64    capacity: slots, a power of two
    24    4     u32    max instruments: entries the table can hold
    28    4     u32    instrument entry size (128)
    32    8     u64    slots offset
    40    8     u64    file size
    64    8     u64    generation id: random, non-zero, new at every writer start
    72    8     u64    generation start: index of the first record of this generation
    80    8     u64    writer pid (in the writer's pid namespace: informative only)
    88    8     u64    writer state: 1 running, 2 closed cleanly
    96    8     u64    heartbeat interval the writer promises to keep (ns)
    128   8     u64    write cursor: records published so far (index of the next one)
    192   8     u64    heartbeat: ``CLOCK_MONOTONIC`` ns of the writer's last sign of life
    256   8     u64    instruments published in the table
    ====  ====  =====  ============================================================

Instrument table entry (128 bytes), append-only for the life of the file, so an index read in
any slot names the same instrument forever (also across writer restarts that reuse the file):

    ====  ====  =====  ============================================================
    0     1     u8     exchange length (bytes)
    1     1     u8     symbol length (bytes)
    8     32    utf-8  exchange, zero padded
    40    64    utf-8  symbol, zero padded
    ====  ====  =====  ============================================================

Slot (80 bytes), one record of any kind:

    ====  ====  =====  ==========================================================
    off   size  type   field: trade | quote | book
    ====  ====  =====  ==========================================================
    0     8     u64    seq: odd while being written, 2n+2 once record n is published
    8     8     u64    generation id of the writer that wrote the record
    16    4     u32    instrument: index into the instrument table
    20    1     u8     kind: ``RecordKind``
    21    1     u8     side: ``Side`` | 0 | ``BookSide``
    22    1     u8     flags: 0 | 0 | ``BookFlags``
    23    1     -      zero
    24    8     i64    ts_event
    32    8     i64    ts_recv
    40    8     i64    id: trade_id | sequence | sequence
    48    8     i64    price: price | bid_price | price
    56    8     i64    size: quantity | bid_size | size
    64    8     i64    ask_price: 0 | ask_price | 0
    72    8     i64    ask_size: 0 | ask_size | 0
    ====  ====  =====  ==========================================================

Prices and sizes are the scaled integers of ``core.fixed``, carried as they are, so a record
read back equals the record written. A value that does not fit its field (a symbol over 64
bytes, a price beyond int64, a side over 255) is refused when written, never truncated.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from ticklane.core.errors import BadDataError, OutOfRangeError
from ticklane.core.records import (
    BookRecord,
    MarketRecord,
    QuoteRecord,
    RecordKind,
    TradeRecord,
)

MAGIC: Final = b"TLRING\x00\x01"
LAYOUT_VERSION: Final = 1
PAGE: Final = 4096
HEADER_SIZE: Final = PAGE
SLOT_SIZE: Final = 80
ENTRY_SIZE: Final = 128
EXCHANGE_BYTES: Final = 32
SYMBOL_BYTES: Final = 64

STATE_RUNNING: Final = 1
STATE_CLOSED: Final = 2

# Static part of the header, written once when the file is created.
GEOMETRY: Final = struct.Struct("<8sIIQIIQQ")

# Word indices of the live header fields in a ``memoryview.cast("Q")`` of the whole file.
GENERATION_WORD: Final = 64 // 8
GENERATION_START_WORD: Final = 72 // 8
PID_WORD: Final = 80 // 8
STATE_WORD: Final = 88 // 8
HEARTBEAT_INTERVAL_WORD: Final = 96 // 8
CURSOR_WORD: Final = 128 // 8
HEARTBEAT_WORD: Final = 192 // 8
INSTRUMENTS_WORD: Final = 256 // 8
SLOT_WORDS: Final = SLOT_SIZE // 8

# A slot after its seq word, as struct.pack_into/unpack_from see it (offset 8, 72 bytes):
# generation, instrument, kind, side, flags, pad, ts_event, ts_recv, id, price, size,
# ask_price, ask_size.
PAYLOAD: Final = struct.Struct("<QIBBBxqqqqqqq")
PAYLOAD_OFFSET: Final = 8

SLOT_DTYPE: Final = np.dtype(
    {
        "names": [
            "seq",
            "generation",
            "instrument",
            "kind",
            "side",
            "flags",
            "ts_event",
            "ts_recv",
            "id",
            "price",
            "size",
            "ask_price",
            "ask_size",
        ],
        "formats": ["<u8", "<u8", "<u4", "u1", "u1", "u1", *["<i8"] * 7],
        "offsets": [0, 8, 16, 20, 21, 22, 24, 32, 40, 48, 56, 64, 72],
        "itemsize": SLOT_SIZE,
    }
)
"""numpy view of one slot; ``RingWriter.write_array`` takes and ``RingReader.read_array``
returns arrays of it (``seq`` and ``generation`` are set by the writer)."""

_ENTRY: Final = struct.Struct("<BB6x32s64s24x")
_U8_FIELDS: Final = ("side", "flags")


def table_bytes(max_instruments: int) -> int:
    """Bytes of the instrument table, padded to whole pages."""
    return -(-max_instruments * ENTRY_SIZE // PAGE) * PAGE


def slots_offset(max_instruments: int) -> int:
    return HEADER_SIZE + table_bytes(max_instruments)


def file_size(capacity: int, max_instruments: int) -> int:
    return slots_offset(max_instruments) + capacity * SLOT_SIZE


def slot_word(slots_at: int, slot: int) -> int:
    """Index of a slot's seq word in a ``memoryview.cast("Q")`` of the file."""
    return slots_at // 8 + slot * SLOT_WORDS


def published(index: int) -> int:
    """The seq word of a slot once record ``index`` is complete in it."""
    return 2 * index + 2


def _pack_trade(record: TradeRecord, generation: int, instrument: int) -> bytes:
    return _pack(
        generation,
        instrument,
        RecordKind.TRADE,
        record.side,
        0,
        record.ts_event,
        record.ts_recv,
        record.trade_id,
        record.price,
        record.quantity,
        0,
        0,
    )


def _pack_quote(record: QuoteRecord, generation: int, instrument: int) -> bytes:
    return _pack(
        generation,
        instrument,
        RecordKind.QUOTE,
        0,
        0,
        record.ts_event,
        record.ts_recv,
        record.sequence,
        record.bid_price,
        record.bid_size,
        record.ask_price,
        record.ask_size,
    )


def _pack_book(record: BookRecord, generation: int, instrument: int) -> bytes:
    return _pack(
        generation,
        instrument,
        RecordKind.BOOK,
        record.side,
        record.flags,
        record.ts_event,
        record.ts_recv,
        record.sequence,
        record.price,
        record.size,
        0,
        0,
    )


_pack: Final = PAYLOAD.pack

PACKERS: Final[dict[type, Callable[[Any, int, int], bytes]]] = {
    TradeRecord: _pack_trade,
    QuoteRecord: _pack_quote,
    BookRecord: _pack_book,
}
"""Record type -> function(record, generation, instrument) giving the slot's bytes after its
seq word; ``struct.error`` or ``TypeError`` when a value does not fit (see
``explain_unpackable``). One function per type: no intermediate tuple on the hot path."""


def not_a_record(record: object) -> BadDataError:
    return BadDataError(
        f"record: {type(record).__name__} is not a TradeRecord, QuoteRecord or BookRecord",
        field="record",
        value=record,
    )


def explain_unpackable(record: MarketRecord) -> BadDataError:
    """The error naming the first field of ``record`` that does not fit its slot field.

    Called only after ``struct`` refused the record, so the happy path pays nothing for it.
    """
    names = {
        TradeRecord: ("side", "ts_event", "ts_recv", "trade_id", "price", "quantity"),
        QuoteRecord: (
            *("ts_event", "ts_recv", "sequence"),
            *("bid_price", "bid_size", "ask_price", "ask_size"),
        ),
        BookRecord: ("side", "flags", "ts_event", "ts_recv", "sequence", "price", "size"),
    }.get(type(record))
    if names is None:
        return not_a_record(record)
    for name in names:
        value = getattr(record, name)
        if isinstance(value, bool) or not isinstance(value, int):
            return BadDataError(f"{name}: {value!r} is not an integer", field=name, value=value)
        low, high = (0, 255) if name in _U8_FIELDS else (-(2**63), 2**63 - 1)
        if not low <= value <= high:
            return OutOfRangeError(
                f"{name}: {value} does not fit the ring slot ({low} to {high})",
                field=name,
                value=value,
            )
    return BadDataError(f"record: {record!r} cannot be written to the ring", value=record)


def encode_instrument(exchange: str, symbol: str) -> bytes:
    """The table entry for an instrument, or ``BadDataError`` if a name does not fit."""
    encoded = []
    for field, value, limit in (
        ("exchange", exchange, EXCHANGE_BYTES),
        ("symbol", symbol, SYMBOL_BYTES),
    ):
        if not isinstance(value, str):
            raise BadDataError(f"{field}: {value!r} is not a string", field=field, value=value)
        raw = value.encode("utf-8", "surrogatepass")
        if len(raw) > limit or not raw or b"\x00" in raw:
            raise BadDataError(
                f"{field}: {value!r} does not fit the ring's instrument table "
                f"(1 to {limit} bytes of UTF-8, no NUL)",
                field=field,
                value=value,
            )
        encoded.append(raw)
    return _ENTRY.pack(len(encoded[0]), len(encoded[1]), encoded[0], encoded[1])


def decode_instrument(entry: bytes | memoryview) -> tuple[str, str]:
    """(exchange, symbol) of a table entry; ``ValueError`` if the entry is not a valid one."""
    exchange_len, symbol_len, exchange, symbol = _ENTRY.unpack(entry)
    if not (0 < exchange_len <= EXCHANGE_BYTES and 0 < symbol_len <= SYMBOL_BYTES):
        raise ValueError("instrument entry has impossible lengths")
    return (
        exchange[:exchange_len].decode("utf-8", "surrogatepass"),
        symbol[:symbol_len].decode("utf-8", "surrogatepass"),
    )
