"""Turning a trade file's columns into exact int64 columns: timestamps, prices, ids, sides.

Each column is converted by pyarrow compute and numpy over the whole block. When a cast fails
on the block, the rows whose text has a shape the cast always handles (a regular expression,
the column's *screen*) are cast together, and only the others are parsed one at a time by the
exact slow parser, which also writes the message the user sees; a column without a screen is
halved around the failing rows down to ``LEAF_ROWS``. A clean block never runs a per-row Python
loop; a dirty one runs it on its bad rows (and a few neighbours). Non-integer trade ids and
derived ones (Kraken) are the exception: hashing them costs one ``blake2b`` call per row.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from ticklane.core.columnar import TradeArray
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import INT64_MAX, to_scaled
from ticklane.core.identifiers import Side
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, format_ns, parse_datetime
from ticklane.datamanager.importer_layout import (
    EPOCH_NANOS,
    TimestampFormat,
    decode_text,
    epoch_format_of,
)

LEAF_ROWS: Final = 64

Int64s = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
# A vectorised converter: values for every row and which rows it could not do (None: all done).
Fast = Callable[[pa.Array], tuple[Int64s, Bools | None]]
# The exact per-row parser: a value, or BadDataError with the message for the user.
Slow = Callable[[Any], int]

_TS_UTC: Final = pa.timestamp("ns", tz="UTC")
_TS_NAIVE: Final = pa.timestamp("ns")
_UNIT_FORMAT: Final = {
    "s": TimestampFormat.EPOCH_S,
    "ms": TimestampFormat.EPOCH_MS,
    "us": TimestampFormat.EPOCH_US,
    "ns": TimestampFormat.EPOCH_NS,
}
_OFFSET: Final = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)"
# Shapes the vectorised casts always parse (see ``convert``).
_ISO_SCREEN: Final = r"^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?)?" + _OFFSET + "?$"
_INTEGER_SCREEN: Final = r"^\d{1,19}$"
_ASCII_SPACE: Final = " \t\r\n\f\v"
_PADDED: Final = r"^[ \t\r\n\f\x0b]|[ \t\r\n\f\x0b]$"
_DECIMAL_TEXT: Final = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_EPOCH_TEXT: Final = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_FRACTION: Final = re.compile(r"T?\d\d:\d\d:\d\d[.,](\d+)")
_SIDE_WORDS: Final = pa.array(["buy", "b", "sell", "s"])
_SIDE_CODES: Final = np.array([Side.BUY, Side.BUY, Side.SELL, Side.SELL], dtype=np.int64)
_SIDE_BY_WORD: Final = {"buy": Side.BUY, "b": Side.BUY, "sell": Side.SELL, "s": Side.SELL}
_BOOL_WORDS: Final = pa.array(["true", "false", "1", "0"])
_BOOL_CODES: Final = np.array([1, 0, 1, 0], dtype=np.int64)
_BOOL_BY_WORD: Final = {"true": 1, "false": 0, "1": 1, "0": 0}
# How far back (in ns, from the latest timestamp seen) repeats are remembered across blocks.
REPEAT_WINDOW_NS: Final = 60 * 1_000_000_000
_DERIVED_KEY: Final = struct.Struct(">qqqq")


def hashed_trade_id(text: str) -> int:
    """The stable positive 63-bit id of a non-integer trade id such as a UUID.

    ``blake2b(text.strip(" \\t\\r\\n\\f\\v").encode("utf-8"), digest_size=8)`` read big-endian
    with the top bit cleared (0 becomes 1): the same string gives the same id in every run and
    on every machine. An empty id is refused.
    """
    value = text.strip(_ASCII_SPACE).encode("utf-8")
    if not value:
        raise BadDataError(f"trade_id: {text!r} is empty", field="trade_id", value=text)
    digest = hashlib.blake2b(value, digest_size=8).digest()
    return int.from_bytes(digest, "big") & INT64_MAX or 1


def derived_trade_id(ts_ns: int, price_raw: int, quantity_raw: int, repeat: int) -> int:
    """The stable positive 63-bit id of a trade from a file without trade ids (Kraken).

    ``blake2b(struct.pack(">qqqq", ts_ns, price_raw, quantity_raw, repeat), digest_size=8)``
    read big-endian with the top bit cleared (0 becomes 1), where ``repeat`` counts the rows
    before it in the same file with the same ``(ts_ns, price_raw, quantity_raw)``: identical
    trades in one second stay distinct, and importing the file again gives the same ids.
    """
    key = _DERIVED_KEY.pack(ts_ns, price_raw, quantity_raw, repeat)
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") & INT64_MAX or 1


class TradeIdDeriver:
    """``derived_trade_id`` for every row of a file's blocks, given in file order.

    The repeat counts are found by sorting (no Python loop, repeated or not); the one
    ``blake2b`` call per row is the cost. Across blocks it remembers the rows within
    ``REPEAT_WINDOW_NS`` of the latest timestamp seen, so the counts are exact for a file in
    time order (Kraken's are) or out of order by less than that; a row older than that only
    counts the repeats before it that are still remembered.
    """

    def __init__(self) -> None:
        empty: Int64s = np.zeros(0, dtype=np.int64)
        self._kept: tuple[Int64s, Int64s, Int64s] = (empty, empty, empty)
        self._latest: int | None = None

    def ids(self, ts: Int64s, price: Int64s, quantity: Int64s) -> Int64s:
        """Ids of these rows, the next ones of the file (bad rows already left out)."""
        if not len(ts):
            return np.zeros(0, dtype=np.int64)
        kept = len(self._kept[0])
        kept_ts, kept_price, kept_qty = self._kept
        all_ts = np.concatenate((kept_ts, ts))
        all_price = np.concatenate((kept_price, price))
        all_qty = np.concatenate((kept_qty, quantity))
        # lexsort is stable: rows with the same triple stay in file order.
        order = np.lexsort((all_qty, all_price, all_ts))
        s_ts, s_price, s_qty = all_ts[order], all_price[order], all_qty[order]
        first: Bools = np.ones(len(order), dtype=bool)
        first[1:] = (
            (s_ts[1:] != s_ts[:-1]) | (s_price[1:] != s_price[:-1]) | (s_qty[1:] != s_qty[:-1])
        )
        repeats: Int64s = np.zeros(len(order), dtype=np.int64)
        if not first.all():
            starts = np.flatnonzero(first)
            in_order = np.arange(len(order), dtype=np.int64) - starts[np.cumsum(first) - 1]
            repeats[order] = in_order
        self._latest = max(int(ts.max()), self._latest if self._latest is not None else 0)
        recent = all_ts >= self._latest - REPEAT_WINDOW_NS
        self._kept = (all_ts[recent], all_price[recent], all_qty[recent])
        words = np.empty((len(ts), 4), dtype=">i8")
        words[:, 0], words[:, 1], words[:, 2] = ts, price, quantity
        words[:, 3] = repeats[kept:]
        keys = words.view("V32").ravel().tolist()  # 32 bytes per row, zero bytes kept
        blake2b = hashlib.blake2b
        digests = b"".join([blake2b(key, digest_size=8).digest() for key in keys])
        ids = np.frombuffer(digests, dtype=">u8").astype(np.int64) & INT64_MAX
        ids[ids == 0] = 1
        return ids


class RowProblems:
    """The first problem found in each row of a block; a row with one is dropped."""

    def __init__(self, size: int) -> None:
        self.bad: Bools = np.zeros(size, dtype=bool)
        self.found: dict[int, tuple[str, str, str]] = {}

    def add(self, index: int, field: str, value: object, message: str) -> None:
        if not self.bad[index]:
            self.bad[index] = True
            self.found[index] = (field, "" if value is None else str(value), message)


# --- the generic fast path with a per-row fallback ---------------------------------------------


def convert(
    column: pa.Array,
    fast: Fast,
    slow: Slow,
    field: str,
    problems: RowProblems,
    screen: str | None = None,
) -> Int64s:
    """Convert ``column`` with ``fast``; rows it cannot do go through ``slow`` one by one.

    When ``fast`` fails on the whole block, the rows of a text column matching the regular
    expression ``screen`` (a shape ``fast`` always handles) are converted together and only
    the others go row by row; without a screen the block is halved around the failures.
    """
    size = len(column)
    out: Int64s = np.zeros(size, dtype=np.int64)
    done: Bools = np.zeros(size, dtype=bool)
    try:
        values, ok = fast(column)
        out[:] = values
        done[:] = True if ok is None else ok
    except pa.ArrowInvalid:
        if screen is not None and pa.types.is_string(column.type):
            passed = to_bools(pc.match_substring_regex(column, screen).fill_null(False))
            rows = np.flatnonzero(passed)
            out[rows], done[rows] = _halving(column.filter(passed), fast)
        else:
            out, done = _halving(column, fast)
    for index in np.flatnonzero(~done & ~problems.bad).tolist():
        raw = column[index].as_py()
        try:
            out[index] = slow(raw)
        except BadDataError as exc:
            problems.add(index, field, raw, str(exc))
    return out


def _halving(column: pa.Array, fast: Fast) -> tuple[Int64s, Bools]:
    """``fast`` over ``column``, halving any part it fails on down to ``LEAF_ROWS`` rows."""
    out: Int64s = np.zeros(len(column), dtype=np.int64)
    done: Bools = np.zeros(len(column), dtype=bool)

    def run(start: int, stop: int) -> None:
        try:
            values, ok = fast(column.slice(start, stop - start))
        except pa.ArrowInvalid:
            if stop - start > LEAF_ROWS:
                middle = (start + stop) // 2
                run(start, middle)
                run(middle, stop)
            return  # a small part that fails is left to the slow parser
        out[start:stop] = values
        done[start:stop] = True if ok is None else ok

    run(0, len(column))
    return out, done


def int64_values(column: pa.Array) -> tuple[Int64s, Bools | None]:
    """The values of an int64 array and which are not null (None: none is null)."""
    valid = None
    if column.null_count:
        valid = to_bools(column.is_valid())
        column = column.fill_null(0)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64), valid


def unscaled(column: pa.Array) -> tuple[Int64s, Bools]:
    """The unscaled integers of a ``decimal128`` array and which of them fit in int64."""
    words = np.frombuffer(column.buffers()[1], dtype="<i8")
    words = words[2 * column.offset : 2 * (column.offset + len(column))].reshape(-1, 2)
    low, high = words[:, 0], words[:, 1]
    fits: Bools = high == (low >> 63)  # the high word only extends the low word's sign
    if column.null_count:
        fits &= to_bools(column.is_valid())
    return np.where(fits, low, 0), fits


def to_bools(column: pa.Array) -> Bools:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)


def _missing(field: str) -> BadDataError:
    return BadDataError(f"{field} is missing", field=field, value=None)


# --- prices and quantities ---------------------------------------------------------------------


def scaled(column: pa.Array, decimals: int, field: str, problems: RowProblems) -> Int64s:
    """Exact ``value * 10**decimals`` for text, integer, decimal and float (by repr) columns."""
    column = decode_text(column)
    if pa.types.is_floating(column.type):
        column = pc.cast(column, pa.string())  # the shortest text that reads back the same
    if pa.types.is_integer(column.type):
        limit = INT64_MAX // 10**decimals

        def fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
            values, valid = int64_values(pc.cast(part, pa.int64()))
            ok: Bools = (values <= limit) & (values >= -limit)
            if valid is not None:
                ok &= valid
            return np.where(ok, values, 0) * 10**decimals, ok

    else:
        target = pa.decimal128(38, decimals)

        def fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
            return unscaled(pc.cast(part, target))

    def slow(raw: Any) -> int:
        if raw is None:
            raise _missing(field)
        if isinstance(raw, str):
            raw = raw.strip()
            if not _DECIMAL_TEXT.match(raw):
                raise BadDataError(f"{field}: {raw!r} is not a decimal number", field=field)
        return to_scaled(raw, decimals, field=field)

    return convert(column, fast, slow, field, problems, _decimal_screen(decimals))


def _decimal_screen(places: int) -> str:
    return rf"^[+-]?\d{{1,20}}(?:\.\d{{0,{places}}})?$"


# --- timestamps --------------------------------------------------------------------------------


def timestamps(column: pa.Array, fmt: TimestampFormat, problems: RowProblems) -> Int64s:
    """UTC nanoseconds from the file's one timestamp format."""
    column = decode_text(column)
    mixed_hint = True
    if pa.types.is_timestamp(column.type):
        fmt, mixed_hint = _UNIT_FORMAT[column.type.unit], False
        column = pc.cast(column, pa.int64())
    elif pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        column = pc.cast(column, pa.string())
    if fmt == TimestampFormat.ISO_8601:
        return convert(column, _iso_fast, _iso_slow, "timestamp", problems, _ISO_SCREEN)
    if fmt not in EPOCH_NANOS:
        # The head of the file had no data rows to tell the format from: read row by row.
        return convert(column, _nothing_fast, _any_timestamp_slow, "timestamp", problems)
    nanos = EPOCH_NANOS[fmt]
    target = pa.decimal128(38, len(str(nanos)) - 1)  # one unit of the last place = 1 ns

    def fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
        try:
            ints = pc.cast(part, pa.int64())
        except pa.ArrowInvalid:
            ns, ok = unscaled(pc.cast(part, target))  # fractional epochs, parsed exactly
            return ns, ok & (ns >= MIN_TS_NS) & (ns < MAX_TS_NS)
        values, valid = int64_values(ints)
        ok = (values >= MIN_TS_NS // nanos) & (values < MAX_TS_NS // nanos)
        if valid is not None:
            ok &= valid
        return np.where(ok, values, 0) * nanos, ok

    def slow(raw: Any) -> int:
        return _epoch_slow(raw, fmt, mixed_hint)

    places = len(str(nanos)) - 1
    screen = rf"^\d{{1,19}}(?:\.\d{{0,{places}}})?$" if places else _INTEGER_SCREEN
    return convert(column, fast, slow, "timestamp", problems, screen)


def _nothing_fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
    return np.zeros(len(part), dtype=np.int64), np.zeros(len(part), dtype=bool)


def _any_timestamp_slow(raw: Any) -> int:
    text = "" if raw is None else str(raw).strip()
    if _EPOCH_TEXT.match(text):
        fmt = epoch_format_of(int(text.lstrip("+-").split(".", 1)[0]))
        return _epoch_slow(text, fmt or TimestampFormat.EPOCH_NS, mixed_hint=False)
    return _iso_slow(raw)


def _epoch_slow(raw: Any, fmt: TimestampFormat, mixed_hint: bool) -> int:
    if raw is None:
        raise _missing("timestamp")
    text = str(raw).strip()
    if not _EPOCH_TEXT.match(text):
        raise BadDataError(f"timestamp: {text!r} is not a number of {fmt}", field="timestamp")
    nanos = EPOCH_NANOS[fmt]
    places = len(str(nanos)) - 1
    whole, _, fraction = text.lstrip("+-").partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) > places:
        raise BadDataError(f"timestamp: {text} is finer than nanoseconds", field="timestamp")
    ns = int(whole) * nanos + (int(fraction.ljust(places, "0")) if places else 0)
    if text.startswith("-"):
        ns = -ns
    if MIN_TS_NS <= ns < MAX_TS_NS:
        return ns
    other = None if text.startswith("-") else epoch_format_of(int(whole))
    if mixed_hint and other is not None:
        raise BadDataError(
            f"timestamp: {text} is in {other} but this file's timestamps are in {fmt} "
            "(mixed units)",
            field="timestamp",
        )
    raise BadDataError(
        f"timestamp: {text} ({format_ns(ns)}) is not between 1980-01-01 and 2100-01-01 UTC",
        field="timestamp",
    )


def _iso_fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
    try:
        parsed = pc.cast(part, _TS_UTC)  # every row has an offset or Z
    except pa.ArrowInvalid:
        try:
            parsed = pc.cast(part, _TS_NAIVE)  # no row has one: UTC
        except pa.ArrowInvalid:
            parsed = _iso_mixed(part)
    values, valid = int64_values(pc.cast(parsed, pa.int64()))
    ok: Bools = (values >= MIN_TS_NS) & (values < MAX_TS_NS)
    if valid is not None:
        ok &= valid
    return values, ok


def _iso_mixed(part: pa.Array) -> pa.Array:
    """Rows with and without an offset: each kind cast on its own, then put back in order."""
    offset = to_bools(pc.match_substring_regex(part, _OFFSET + "$").fill_null(False))
    values = np.zeros(len(part), dtype=np.int64)
    for rows, target in ((offset, _TS_UTC), (~offset, _TS_NAIVE)):
        cast = pc.cast(pc.cast(part.filter(rows), target), pa.int64())
        values[rows], _ = int64_values(cast)
    nulls = to_bools(part.is_null()) if part.null_count else None
    return pa.array(values, type=pa.int64(), mask=nulls)


def _iso_slow(raw: Any) -> int:
    if raw is None:
        raise _missing("timestamp")
    text = str(raw).strip()
    fraction = _FRACTION.search(text)
    if fraction is not None and len(fraction.group(1).rstrip("0")) > 9:
        raise BadDataError(f"timestamp: {text} is finer than nanoseconds", field="timestamp")
    try:
        ns = parse_datetime(text)
    except BadDataError:
        raise BadDataError(
            f"timestamp: {text!r} is not an ISO 8601 date or time", field="timestamp"
        ) from None
    if not MIN_TS_NS <= ns < MAX_TS_NS:
        raise BadDataError(
            f"timestamp: {text} is not between 1980-01-01 and 2100-01-01 UTC", field="timestamp"
        )
    return ns


# --- side, is_buyer_maker, trade_id ------------------------------------------------------------


def _words(
    column: pa.Array,
    words: pa.Array,
    codes: Int64s,
    parse: Slow,
    field: str,
    problems: RowProblems,
) -> Int64s:
    """Codes for a column of words, matched without regard to case."""

    def fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
        found, valid = int64_values(pc.index_in(pc.ascii_lower(part), value_set=words))
        return codes[found], valid

    return convert(column, fast, parse, field, problems)


def _side_slow(raw: Any) -> int:
    side = _SIDE_BY_WORD.get(raw.strip().lower()) if isinstance(raw, str) else None
    if side is None:
        raise BadDataError(f"side: {raw!r} is not a side (expected buy, sell, b or s)")
    return int(side)


def _bool_slow(raw: Any) -> int:
    if isinstance(raw, bool):
        return int(raw)
    flag = _BOOL_BY_WORD.get(raw.strip().lower()) if isinstance(raw, str) else None
    if flag is None:
        raise BadDataError(f"is_buyer_maker: {raw!r} is not true, false, 1 or 0")
    return flag


def fill_sides(columns: Mapping[str, pa.Array], data: TradeArray, problems: RowProblems) -> None:
    """Fill side and is_buyer_maker, deriving the one that is missing from the other."""
    side = maker = None
    if "side" in columns:
        side = _words(
            decode_text(columns["side"]), _SIDE_WORDS, _SIDE_CODES, _side_slow, "side", problems
        )
    if "is_buyer_maker" in columns:
        column = decode_text(columns["is_buyer_maker"])
        if pa.types.is_boolean(column.type):
            maker = convert(column, _bool_fast, _bool_slow, "is_buyer_maker", problems)
        else:
            text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
            maker = _words(text, _BOOL_WORDS, _BOOL_CODES, _bool_slow, "is_buyer_maker", problems)
    # The buyer was the maker exactly when the seller took liquidity: the aggressor sold.
    if side is None and maker is None:
        # Neither column (Kraken): the venue did not say, so Side.NONE and not buyer-maker.
        side = np.full(len(data), int(Side.NONE), dtype=np.int64)
        maker = np.zeros(len(data), dtype=np.int64)
    elif side is None and maker is not None:
        side = np.where(maker == 1, int(Side.SELL), int(Side.BUY))
    elif maker is None and side is not None:
        maker = (side == Side.SELL).astype(np.int64)
    elif side is not None and maker is not None:
        clash = ((side == Side.SELL) != (maker == 1)) & ~problems.bad
        for index in np.flatnonzero(clash).tolist():
            words = ("buy", "sell")[int(side[index] == Side.SELL)]
            value = columns["is_buyer_maker"][index].as_py()
            problems.add(
                index, "is_buyer_maker", value, f"is_buyer_maker {value} contradicts side {words}"
            )
    data["side"] = side
    data["is_buyer_maker"] = maker


def _bool_fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
    valid = to_bools(part.is_valid()) if part.null_count else None
    return to_bools(part.fill_null(False)).astype(np.int64), valid


def trade_ids(column: pa.Array, hashed: bool, problems: RowProblems) -> Int64s:
    """Integer ids as they are; with ``hashed``, every id through ``hashed_trade_id``."""
    column = decode_text(column)
    if hashed:
        return _hashed_ids(column, problems)

    def fast(part: pa.Array) -> tuple[Int64s, Bools | None]:
        values, valid = int64_values(pc.cast(part, pa.int64()))
        ok: Bools = values >= 0
        return values, ok if valid is None else ok & valid

    return convert(column, fast, _trade_id_slow, "trade_id", problems, _INTEGER_SCREEN)


def _hashed_ids(column: pa.Array, problems: RowProblems) -> Int64s:
    """``hashed_trade_id`` of every row: one blake2b call per row, the rest vectorised."""
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    out: Int64s = np.zeros(len(column), dtype=np.int64)
    missing = to_bools(pc.equal(pc.binary_length(column), 0).fill_null(True))
    padded = to_bools(pc.match_substring_regex(column, _PADDED).fill_null(False))
    plain = ~missing & ~padded & ~problems.bad
    blake2b = hashlib.blake2b
    values = pc.cast(column.filter(plain), pa.binary()).to_pylist()
    digests = b"".join([blake2b(value, digest_size=8).digest() for value in values])
    # Big-endian words; dropping the top bit is the same on the bit pattern as signed int64.
    ids = np.frombuffer(digests, dtype=">u8").astype(np.int64) & INT64_MAX
    ids[ids == 0] = 1
    out[plain] = ids
    for index in np.flatnonzero(~plain & ~problems.bad).tolist():
        text = column[index].as_py()
        try:
            out[index] = hashed_trade_id("" if text is None else text)
        except BadDataError:
            problems.add(index, "trade_id", text, "trade_id is missing")
    return out


def _trade_id_slow(raw: Any) -> int:
    if raw is None:
        raise _missing("trade_id")
    text = str(raw).strip()
    if not text.isdigit() or not text.isascii() or int(text) > INT64_MAX:
        raise BadDataError(f"trade_id: {raw!r} is not an integer from 0 to 2**63-1")
    return int(text)
