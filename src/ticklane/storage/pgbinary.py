"""PostgreSQL binary formats for fixed-width rows, encoded and decoded by numpy in one step.

Done by hand because the drivers build or return one Python object per row, which costs more
than the database work at the rates we need; every column we move this way is a NOT NULL
fixed-width integer or boolean, so a whole batch is one big-endian structured array.

Format (PostgreSQL docs, "COPY ... BINARY"): an 11-byte signature, a 32-bit flags word and a
32-bit header-extension length; then per row a 16-bit field count and, per field, a 32-bit
byte length followed by the value in network byte order; then a 16-bit -1 trailer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ticklane.core.errors import StorageError

SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
HEADER: Final = SIGNATURE + struct.pack(">ii", 0, 0)
TRAILER: Final = struct.pack(">h", -1)

# numpy kinds we can send, by their PostgreSQL width: int8 -> bigint, int2 -> smallint, bool.
_WIRE_TYPES: Final = {8: ">i8", 4: ">i4", 2: ">i2", 1: "u1"}


def wire_dtype(columns: Sequence[tuple[str, int]]) -> np.dtype[Any]:
    """The big-endian row layout for ``(name, byte width)`` columns."""
    fields: list[tuple[str, str]] = [("_nfields", ">i2")]
    for name, width in columns:
        fields.append((f"_len_{name}", ">i4"))
        fields.append((name, _WIRE_TYPES[width]))
    return np.dtype(fields)


def encode(
    data: npt.NDArray[Any], columns: Sequence[tuple[str, int]], texts: Sequence[str] = ()
) -> bytes:
    """A complete binary COPY payload for the named fields of a structured array.

    ``texts`` are text values that lead every row, the same in each (an instrument's exchange
    and symbol), so a batch can be copied straight into a table that has those columns first.
    """
    fields: list[tuple[str, str]] = [("_nfields", ">i2")]
    encoded = [text.encode() for text in texts]
    for index, text in enumerate(encoded):
        fields.append((f"_len_text{index}", ">i4"))
        if text:  # an empty text is its length (0) alone
            fields.append((f"_text{index}", f"S{len(text)}"))
    dtype = np.dtype(fields + wire_dtype(columns).descr[1:])
    rows = np.empty(len(data), dtype=dtype)
    rows["_nfields"] = len(texts) + len(columns)
    for index, text in enumerate(encoded):
        rows[f"_len_text{index}"] = len(text)
        if text:
            rows[f"_text{index}"] = text
    for name, width in columns:
        rows[f"_len_{name}"] = width
        rows[name] = data[name]
    return HEADER + rows.tobytes() + TRAILER


def decode(
    payload: bytes, columns: Sequence[tuple[str, int]], out_dtype: np.dtype[Any]
) -> npt.NDArray[Any]:
    """Rows of a binary COPY payload as a structured array of ``out_dtype``."""
    if not payload.startswith(SIGNATURE) or len(payload) < len(HEADER) + len(TRAILER):
        raise StorageError("binary COPY payload has no complete PGCOPY header")
    (extension_length,) = struct.unpack_from(">i", payload, len(SIGNATURE) + 4)
    start = len(HEADER) + extension_length
    end = len(payload) - len(TRAILER)
    if extension_length < 0 or start > end:
        raise StorageError("binary COPY header extension runs past the data")
    if payload[end:] != TRAILER:
        raise StorageError("binary COPY payload has no trailer")
    dtype = wire_dtype(columns)
    if (end - start) % dtype.itemsize:
        raise StorageError(
            "binary COPY rows are not fixed width: a column is NULL or not the expected type"
        )
    rows = np.frombuffer(payload, dtype=dtype, offset=start, count=(end - start) // dtype.itemsize)
    if len(rows) and (
        (rows["_nfields"] != len(columns)).any()
        or any((rows[f"_len_{name}"] != width).any() for name, width in columns)
    ):
        raise StorageError("binary COPY rows do not have the expected columns")
    out = np.empty(len(rows), dtype=out_dtype)
    for name, _ in columns:
        out[name] = rows[name]
    return out


_ARRAY_HEADER: Final = struct.Struct(
    ">iiiii"
)  # ndim, has-nulls flag, element oid, length, lower bound


def decode_array(payload: bytes | None, width: int, count: int) -> npt.NDArray[Any]:
    """A one-dimensional, NULL-free ``array_send()`` of a fixed-width type as a numpy array.

    The binary array format is a 20-byte header for one dimension, then per element a 32-bit
    length and the value. Reading a chunk as one such array per column costs one message where
    COPY costs one per row (psycopg returns COPY data a row at a time).
    """
    element = np.dtype([("_len", ">i4"), ("value", _WIRE_TYPES[width])])
    if count == 0:
        return np.empty(0, dtype=element["value"])
    if payload is None:
        raise StorageError("array column is NULL for a non-empty chunk")
    if len(payload) != _ARRAY_HEADER.size + count * element.itemsize:
        raise StorageError(
            f"array of {count} elements of {width} bytes should be "
            f"{_ARRAY_HEADER.size + count * element.itemsize} bytes, got {len(payload)}"
        )
    ndim, has_nulls, _oid, length, _lower = _ARRAY_HEADER.unpack_from(payload)
    if ndim != 1 or has_nulls or length != count:
        raise StorageError(f"unexpected array: {ndim} dims, nulls={has_nulls}, {length} elements")
    elements = np.frombuffer(payload, dtype=element, offset=_ARRAY_HEADER.size, count=count)
    if (elements["_len"] != width).any():
        raise StorageError(f"array elements are not {width} bytes wide")
    return elements["value"]
