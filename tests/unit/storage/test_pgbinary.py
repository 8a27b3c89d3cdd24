"""PostgreSQL binary COPY rows and ``array_send`` arrays, encoded and decoded with numpy."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ticklane.core.columnar import QUOTE_DTYPE, TRADE_DTYPE
from ticklane.core.errors import StorageError
from ticklane.storage import pgbinary
from ticklane.storage.postgres import QUOTE_WIRE, TRADE_WIRE

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT8OID, INT2OID, BOOLOID = 20, 21, 16


def trades() -> np.ndarray:
    return np.array(
        [
            (1_704_189_600_000_000_000, 1, 42_150_250_000_000, 50_000_000, 1, False),
            (INT64_MAX, INT64_MIN, INT64_MAX, INT64_MAX, 2, True),
            (INT64_MIN, -1, -42, INT64_MIN, 0, False),
        ],
        dtype=TRADE_DTYPE,
    )


def array_send(values: list[int], width: int, oid: int = INT8OID) -> bytes:
    """What PostgreSQL's ``array_send`` returns for a one-dimensional array without NULLs."""
    code = {8: ">q", 2: ">h", 1: ">B", 4: ">i"}[width]
    header = struct.pack(">iiiii", 1, 0, oid, len(values), 1)
    return header + b"".join(struct.pack(">i", width) + struct.pack(code, v) for v in values)


def test_trade_rows_round_trip_with_extreme_and_negative_values() -> None:
    data = trades()
    payload = pgbinary.encode(data, TRADE_WIRE)
    assert payload.startswith(b"PGCOPY\n\xff\r\n\x00") and payload.endswith(b"\xff\xff")
    decoded = pgbinary.decode(payload, TRADE_WIRE, TRADE_DTYPE)
    assert decoded.dtype == TRADE_DTYPE
    assert decoded.tolist() == data.tolist()


def test_quote_rows_round_trip() -> None:
    data = np.array([(5, 0, 1, 0, INT64_MAX, 7), (6, INT64_MIN, -1, -2, -3, -4)], dtype=QUOTE_DTYPE)
    decoded = pgbinary.decode(pgbinary.encode(data, QUOTE_WIRE), QUOTE_WIRE, QUOTE_DTYPE)
    assert decoded.tolist() == data.tolist()


def test_encoded_row_has_the_layout_postgres_reads() -> None:
    data = np.array([(7, 8)], dtype=[("a", "<i8"), ("b", "i1")])
    payload = pgbinary.encode(data, [("a", 8), ("b", 2)])
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    row = struct.pack(">h", 2) + struct.pack(">iq", 8, 7) + struct.pack(">ih", 2, 8)
    assert payload == header + row + struct.pack(">h", -1)


def test_empty_batch_round_trips_as_header_and_trailer_only() -> None:
    empty = np.zeros(0, dtype=TRADE_DTYPE)
    payload = pgbinary.encode(empty, TRADE_WIRE)
    assert payload == pgbinary.HEADER + pgbinary.TRAILER
    assert len(pgbinary.decode(payload, TRADE_WIRE, TRADE_DTYPE)) == 0


def test_header_extension_is_skipped() -> None:
    data = trades()
    payload = pgbinary.encode(data, TRADE_WIRE)
    extended = (
        pgbinary.SIGNATURE
        + struct.pack(">ii", 0, 4)
        + b"\x00\x01\x02\x03"
        + payload[len(pgbinary.HEADER) :]
    )
    assert pgbinary.decode(extended, TRADE_WIRE, TRADE_DTYPE).tolist() == data.tolist()


def corrupted_copy_payloads() -> dict[str, bytes]:
    good = pgbinary.encode(trades(), TRADE_WIRE)
    row_start = len(pgbinary.HEADER)
    wrong_count = bytearray(good)
    wrong_count[row_start : row_start + 2] = struct.pack(">h", 5)
    null_field = bytearray(good)
    null_field[row_start + 2 : row_start + 6] = struct.pack(">i", -1)
    return {
        "no signature": b"XXCOPY" + good[6:],
        "no trailer": good[:-2],
        "row cut short": good[:-3] + good[-2:],
        "wrong field count": bytes(wrong_count),
        "NULL field": bytes(null_field),
        "header cut short": pgbinary.SIGNATURE,
        "nothing at all": b"",
    }


@pytest.mark.parametrize("case", list(corrupted_copy_payloads()))
def test_corrupted_copy_payload_is_a_storage_error(case: str) -> None:
    with pytest.raises(StorageError):
        pgbinary.decode(corrupted_copy_payloads()[case], TRADE_WIRE, TRADE_DTYPE)


@pytest.mark.parametrize(
    ("width", "oid", "values"),
    [
        (8, INT8OID, [0, 1, -1, INT64_MIN, INT64_MAX]),
        (2, INT2OID, [0, 1, 2, -32768, 32767]),
        (1, BOOLOID, [1, 0, 1]),
    ],
)
def test_array_column_decodes_to_its_values(width: int, oid: int, values: list[int]) -> None:
    decoded = pgbinary.decode_array(array_send(values, width, oid), width, len(values))
    assert decoded.tolist() == values


def test_empty_array_column_decodes_to_nothing_even_when_null() -> None:
    assert len(pgbinary.decode_array(None, 8, 0)) == 0
    assert len(pgbinary.decode_array(array_send([], 8), 8, 0)) == 0


def corrupted_arrays() -> dict[str, tuple[bytes | None, int, int]]:
    good = array_send([1, 2, 3], 8)
    two_dims = struct.pack(">iiiii", 2, 0, INT8OID, 3, 1) + good[20:]
    with_nulls = struct.pack(">iiiii", 1, 1, INT8OID, 3, 1) + good[20:]
    return {
        "NULL for a non-empty chunk": (None, 8, 3),
        "two dimensions": (two_dims, 8, 3),
        "has NULL elements": (with_nulls, 8, 3),
        "fewer elements than rows": (good, 8, 4),
        "elements cut short": (good[:-5], 8, 3),
        "header cut short": (good[:10], 8, 3),
        "elements of another width": (array_send([1, 2, 3, 4], 4, 23), 2, 4),
    }


@pytest.mark.parametrize("case", list(corrupted_arrays()))
def test_corrupted_array_column_is_a_storage_error(case: str) -> None:
    payload, width, count = corrupted_arrays()[case]
    with pytest.raises(StorageError):
        pgbinary.decode_array(payload, width, count)
