"""Recognising a user's trade file: its format, its columns and how its values are written.

Everything here looks only at the head of the file (the first ``SAMPLE_ROWS`` data rows), so a
file with a wrong layout is refused before a single tick is produced. The rules are described
for users in :mod:`ticklane.datamanager.importer`.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from enum import StrEnum
from pathlib import Path
from typing import Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import check_symbol
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, parse_datetime

SAMPLE_ROWS: Final = 1_000
SAMPLE_BYTES: Final = 1 << 20

# Header names (after lower-casing, trimming, and turning spaces and hyphens into underscores)
# and the field each one gives.
ALIASES: Final[dict[str, str]] = {
    "timestamp": "timestamp",
    "time": "timestamp",
    "ts": "timestamp",
    "ts_event": "timestamp",
    "price": "price",
    "quantity": "quantity",
    "qty": "quantity",
    "amount": "quantity",
    "size": "quantity",
    "volume": "quantity",
    "side": "side",
    "trade_id": "trade_id",
    "id": "trade_id",
    "is_buyer_maker": "is_buyer_maker",
    "symbol": "symbol",
}
FIELDS: Final = ("timestamp", "price", "quantity", "side", "trade_id", "is_buyer_maker", "symbol")
REQUIRED: Final = ("timestamp", "price", "quantity", "trade_id")
EXPECTED_COLUMNS: Final = (
    "timestamp, price, quantity, trade_id, and side or is_buyer_maker or both "
    "(optional: symbol; aliases: time/ts/ts_event, qty/amount/size/volume, id)"
)
# The headerless trades CSV of Binance's public archive (data.binance.vision).
BINANCE_TRADES_COLUMNS: Final = (
    "trade_id",
    "price",
    "qty",
    "quote_qty",
    "time",
    "is_buyer_maker",
    "is_best_match",
)
_BINANCE_FIELDS: Final = {
    "trade_id": 0,
    "price": 1,
    "quantity": 2,
    "timestamp": 4,
    "is_buyer_maker": 5,
}
# The headerless aggTrades CSV of the same archive: one row per taker order and price.
BINANCE_AGG_TRADES_COLUMNS: Final = (
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "timestamp",
    "is_buyer_maker",
    "is_best_match",
)
_BINANCE_AGG_FIELDS: Final = {
    "trade_id": 0,
    "price": 1,
    "quantity": 2,
    "timestamp": 5,
    "is_buyer_maker": 6,
}
# The headerless bulk trades CSV Kraken publishes: unix seconds (integer or with a fraction),
# price, volume. No side, no trade id: the side is left unknown and ids are derived (see
# ``importer_convert.TradeIdDeriver``).
KRAKEN_TRADES_COLUMNS: Final = ("time", "price", "volume")
_KRAKEN_FIELDS: Final = {"timestamp": 0, "price": 1, "quantity": 2}
KRAKEN_DESCRIPTION: Final = (
    "Kraken bulk trades (timestamp,price,volume; no side, no trade id: ids derived)"
)

CSV_SUFFIXES: Final = (".csv", ".txt", ".csv.gz", ".txt.gz", ".zip")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
_DELIMITERS: Final = (",", "\t", ";", "|")
_EPOCH_TEXT: Final = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_INTEGER_TEXT: Final = re.compile(r"^\s*\d+\s*$")
_DECIMAL_CELL: Final = re.compile(r"^(?:\d+\.?\d*|\.\d+)$")


class TimestampFormat(StrEnum):
    """How a file writes its timestamps, decided once per file."""

    EPOCH_S = "epoch seconds"
    EPOCH_MS = "epoch milliseconds"
    EPOCH_US = "epoch microseconds"
    EPOCH_NS = "epoch nanoseconds"
    ISO_8601 = "ISO 8601"
    ARROW = "Parquet timestamp"
    NO_ROWS = "none (the file has no data rows)"


EPOCH_NANOS: Final[dict[TimestampFormat, int]] = {
    TimestampFormat.EPOCH_S: 1_000_000_000,
    TimestampFormat.EPOCH_MS: 1_000_000,
    TimestampFormat.EPOCH_US: 1_000,
    TimestampFormat.EPOCH_NS: 1,
}


def epoch_format_of(integer_part: int) -> TimestampFormat | None:
    """The epoch unit that puts this integer between 1980 and 2100, if any (at most one does)."""
    for fmt, nanos in EPOCH_NANOS.items():
        if MIN_TS_NS <= integer_part * nanos < MAX_TS_NS:
            return fmt
    return None


class FileLayout(msgspec.Struct, frozen=True):
    """What ``inspect_trade_file`` found: enough to read the file and to tell the user.

    ``columns`` maps each field read (``timestamp``, ``price``, ``quantity``, ``side``,
    ``trade_id``, ``is_buyer_maker``, ``symbol``) to its index in ``columns_found``; a field
    that is absent is derived (``side`` from ``is_buyer_maker`` or the reverse) or given
    (``symbol``). ``symbol`` is the symbol given by the caller, ``None`` when the file's
    ``symbol`` column decides. ``symbols_seen`` lists the symbols of the rows inspected.
    """

    path: Path
    format: str  # "csv" or "parquet"
    compression: str  # "none", "gzip" or "zip"
    # "header", "binance-trades" / "binance-aggtrades" (the headerless Binance archive
    # files) or "kraken-trades" (the
    # headerless Kraken bulk trades: no side, trade ids derived)
    layout: str
    columns_found: tuple[str, ...]
    columns: dict[str, int]
    timestamps: TimestampFormat
    trade_ids_hashed: bool
    symbol: str | None
    symbols_seen: tuple[str, ...]
    file_size: int
    delimiter: str = ","
    zip_member: str | None = None
    lines_before_data: int = 0  # CSV: blank lines and the header line before data row 1

    @property
    def has_header(self) -> bool:
        return self.layout == "header"

    @property
    def trade_ids_derived(self) -> bool:
        """The file has no trade ids (Kraken): they are derived from each row's values."""
        return self.layout == "kraken-trades"

    @property
    def description(self) -> str:
        """A few lines for the user: format, which column gives what, how values are read."""
        if self.format == "parquet":
            kind = "Parquet"
        else:
            kind = {"gzip": "CSV (gzip)", "zip": f"CSV (in zip: {self.zip_member})"}.get(
                self.compression, "CSV"
            )
            if self.trade_ids_derived:
                kind += f", no header: {KRAKEN_DESCRIPTION}"
            elif self.layout == "binance-aggtrades":
                kind += ", no header: Binance aggTrades archive layout"
            elif not self.has_header:
                kind += ", no header: Binance trades archive layout"
        lines = [f"{self.path.name}: {kind}, {self.file_size:,} bytes"]
        for field in FIELDS:
            if field in self.columns:
                source = f"column {self.columns_found[self.columns[field]]!r}"
            elif field == "side" and "is_buyer_maker" not in self.columns:
                source = "none (the venue does not say)"
            elif field == "side":
                source = "derived from is_buyer_maker"
            elif field == "is_buyer_maker" and "side" not in self.columns:
                source = "false (no side)"
            elif field == "is_buyer_maker":
                source = "derived from side"
            elif field == "trade_id":
                source = "derived from timestamp, price, quantity and repeat count (blake2b)"
            else:
                source = f"{self.symbol} (given)"
            lines.append(f"  {field:<15} <- {source}")
        used = set(self.columns.values())
        ignored = [name for index, name in enumerate(self.columns_found) if index not in used]
        if ignored:
            lines.append("ignored columns: " + ", ".join(ignored))
        ids = "hashed strings (blake2b)" if self.trade_ids_hashed else "integers"
        if self.trade_ids_derived:
            ids = "derived (blake2b)"
        lines.append(f"timestamps: {self.timestamps}; trade ids: {ids}")
        if "symbol" in self.columns:
            lines.append("symbols in the first rows: " + (", ".join(self.symbols_seen) or "none"))
        return "\n".join(lines)


def inspect_trade_file(path: Path, *, symbol: str | None) -> FileLayout:
    """Detect format, column layout and timestamp unit; refuse a wrong layout.

    Raises ``BadDataError`` naming the file, the columns found and the columns expected when
    the layout is not one we read, and when ``symbol`` is missing or disagrees with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise BadDataError(f"{path}: no such file", field="path", value=str(path))
    if symbol is not None:
        check_symbol(symbol)
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return _inspect_parquet(path, symbol)
    if name.endswith(CSV_SUFFIXES):
        return _inspect_csv(path, symbol)
    raise BadDataError(
        f"{path}: unsupported file type; expected one of "
        + ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES),
        field="path",
        value=str(path),
    )


# --- CSV ---------------------------------------------------------------------------------------


def _inspect_csv(path: Path, symbol: str | None) -> FileLayout:
    name = path.name.lower()
    compression = "gzip" if name.endswith(".gz") else "zip" if name.endswith(".zip") else "none"
    head, at_end, member = _read_head(path, compression)
    text = head.decode("utf-8-sig", errors="replace")
    if not at_end and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # drop the partial last line
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first_line.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    leading_blank = 0
    while leading_blank < len(rows) and not rows[leading_blank]:
        leading_blank += 1
    rows = rows[leading_blank:]
    if not rows:
        raise _layout_error(path, (), "the file is empty")
    first = [cell.strip() for cell in rows[0]]
    if any(_normalise(cell) in ALIASES for cell in first):
        found, layout, data_rows = tuple(first), "header", rows[1:]
        columns = _map_header(path, found)
    elif len(first) == len(BINANCE_TRADES_COLUMNS) and _INTEGER_TEXT.match(first[0]):
        found, layout, data_rows = BINANCE_TRADES_COLUMNS, "binance-trades", rows
        columns = dict(_BINANCE_FIELDS)
    elif len(first) == len(BINANCE_AGG_TRADES_COLUMNS) and _INTEGER_TEXT.match(first[0]):
        found, layout, data_rows = BINANCE_AGG_TRADES_COLUMNS, "binance-aggtrades", rows
        columns = dict(_BINANCE_AGG_FIELDS)
    elif _is_kraken_row(first):
        found, layout, data_rows = KRAKEN_TRADES_COLUMNS, "kraken-trades", rows
        columns = dict(_KRAKEN_FIELDS)
    else:
        raise _layout_error(path, tuple(first), "no recognised header and not a known layout")
    _check_columns(path, found, columns, symbol, derived=layout == "kraken-trades")
    samples: dict[str, list[tuple[int, str | None]]] = {field: [] for field in columns}
    taken = 0
    for position, row in enumerate(data_rows, start=1):
        if taken >= SAMPLE_ROWS:
            break
        if not row or len(row) != len(found):
            continue
        taken += 1
        for field, index in columns.items():
            samples[field].append((position, row[index]))
    skip = leading_blank + (1 if layout == "header" else 0)
    return msgspec.structs.replace(
        _finish(
            path, "csv", compression, layout, found, columns, samples, symbol, delimiter, member
        ),
        lines_before_data=skip,
    )


def _is_kraken_row(cells: list[str]) -> bool:
    """Kraken bulk trades: 3 cells, epoch seconds (maybe with a fraction), two decimals."""
    return (
        len(cells) == len(KRAKEN_TRADES_COLUMNS)
        and _EPOCH_TEXT.match(cells[0]) is not None
        and not cells[0].startswith("-")
        and epoch_format_of(int(cells[0].split(".", 1)[0])) is TimestampFormat.EPOCH_S
        and all(_DECIMAL_CELL.match(cell) for cell in cells[1:])
    )


def _read_head(path: Path, compression: str) -> tuple[bytes, bool, str | None]:
    """The first ``SAMPLE_BYTES`` of the CSV text, whether that is all of it, the zip member."""
    member: str | None = None
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as stream:
                head = stream.read(SAMPLE_BYTES + 1)
        elif compression == "zip":
            with zipfile.ZipFile(path) as archive:
                member = zip_member(path, archive)
                with archive.open(member) as stream:
                    head = stream.read(SAMPLE_BYTES + 1)
        else:
            with path.open("rb") as stream:
                head = stream.read(SAMPLE_BYTES + 1)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BadDataError(
            f"{path}: cannot read it as {compression if compression != 'none' else 'CSV'}: {exc}",
            field="path",
            value=str(path),
        ) from None
    return head[:SAMPLE_BYTES], len(head) <= SAMPLE_BYTES, member


def zip_member(path: Path, archive: zipfile.ZipFile) -> str:
    """The one CSV inside a zip archive; refuse an archive holding anything else."""
    names = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith("__MACOSX/")
    ]
    if len(names) != 1 or not names[0].lower().endswith((".csv", ".txt")):
        raise BadDataError(
            f"{path}: a zip file must hold exactly one .csv or .txt file; it holds {names}",
            field="path",
            value=str(path),
        )
    return names[0]


# --- Parquet -----------------------------------------------------------------------------------


def _inspect_parquet(path: Path, symbol: str | None) -> FileLayout:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadDataError(
            f"{path}: not a readable Parquet file: {exc}", field="path", value=str(path)
        ) from None
    with parquet:
        schema = parquet.schema_arrow
        found = tuple(schema.names)
        columns = _map_header(path, found)
        _check_columns(path, found, columns, symbol)
        for field, index in columns.items():
            column_type = schema.field(index).type
            if not _PARQUET_TYPES[field](column_type):
                raise _layout_error(
                    path, found, f"column {found[index]!r} has type {column_type}, not {field}"
                )
        samples: dict[str, list[tuple[int, str | None]]] = {field: [] for field in columns}
        native = pa.types.is_timestamp(schema.field(columns["timestamp"]).type)
        if parquet.metadata.num_rows:
            names = [found[index] for index in columns.values()]
            batch = next(parquet.iter_batches(batch_size=SAMPLE_ROWS, columns=names))
            for field, index in columns.items():
                column = batch.column(found[index])
                if pa.types.is_timestamp(column.type):
                    continue
                texts = pc.cast(decode_text(column), pa.string()).to_pylist()
                samples[field] = list(enumerate(texts, start=1))
    return _finish(
        path,
        "parquet",
        "none",
        "header",
        found,
        columns,
        samples,
        symbol,
        ",",
        None,
        TimestampFormat.ARROW if native else None,
    )


def is_text_type(column_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(column_type):
        return is_text_type(column_type.value_type)
    return bool(
        pa.types.is_string(column_type)
        or pa.types.is_large_string(column_type)
        or pa.types.is_string_view(column_type)
    )


def decode_text(column: pa.Array) -> pa.Array:
    """A plain ``string`` array for any text column (dictionary, large or view strings)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if is_text_type(column.type) and not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def _is_number(column_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(column_type)
        or pa.types.is_decimal(column_type)
        or pa.types.is_floating(column_type)
        or is_text_type(column_type)
    )


_PARQUET_TYPES: Final = {
    "timestamp": lambda t: pa.types.is_timestamp(t) or _is_number(t),
    "price": _is_number,
    "quantity": _is_number,
    "side": is_text_type,
    "trade_id": lambda t: pa.types.is_integer(t) or is_text_type(t),
    "is_buyer_maker": lambda t: pa.types.is_boolean(t) or pa.types.is_integer(t) or is_text_type(t),
    "symbol": is_text_type,
}


# --- shared ------------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return name.strip().strip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def _map_header(path: Path, found: tuple[str, ...]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(found):
        field = ALIASES.get(_normalise(name))
        if field is None:
            continue
        if field in columns:
            raise _layout_error(
                path, found, f"columns {found[columns[field]]!r} and {name!r} both give {field}"
            )
        columns[field] = index
    return columns


def _check_columns(
    path: Path,
    found: tuple[str, ...],
    columns: dict[str, int],
    symbol: str | None,
    *,
    derived: bool = False,
) -> None:
    """Refuse missing columns; with ``derived`` (Kraken) trade id and side need no column."""
    missing = [
        field
        for field in REQUIRED
        if field not in columns and not (derived and field == "trade_id")
    ]
    if "side" not in columns and "is_buyer_maker" not in columns and not derived:
        missing.append("side or is_buyer_maker")
    if missing:
        raise _layout_error(path, found, "missing " + ", ".join(missing))
    if "symbol" not in columns and symbol is None:
        raise BadDataError(
            f"{path}: the file has no symbol column, so the symbol must be given (--symbol)",
            field="symbol",
            value=None,
        )


def _layout_error(path: Path, found: tuple[str, ...], problem: str) -> BadDataError:
    return BadDataError(
        f"{path}: {problem}. Columns found: {', '.join(found) or 'none'}. "
        f"Expected a header with {EXPECTED_COLUMNS}, "
        f"or the headerless Binance trades layout ({','.join(BINANCE_TRADES_COLUMNS)}) "
        f"or aggTrades layout ({','.join(BINANCE_AGG_TRADES_COLUMNS)}), "
        f"or the headerless Kraken trades layout ({','.join(KRAKEN_TRADES_COLUMNS)}: "
        "epoch seconds and two decimals)",
        field="columns",
        value=found,
    )


def _finish(
    path: Path,
    file_format: str,
    compression: str,
    layout: str,
    found: tuple[str, ...],
    columns: dict[str, int],
    samples: dict[str, list[tuple[int, str | None]]],
    symbol: str | None,
    delimiter: str,
    member: str | None,
    timestamps: TimestampFormat | None = None,
) -> FileLayout:
    if timestamps is None:
        timestamps = _timestamp_format(path, samples["timestamp"])
    return FileLayout(
        path=path,
        format=file_format,
        compression=compression,
        layout=layout,
        columns_found=found,
        columns=columns,
        timestamps=timestamps,
        trade_ids_hashed=_trade_ids_hashed(samples.get("trade_id", [])),
        symbol=symbol,
        symbols_seen=_symbols_seen(path, samples.get("symbol", []), symbol),
        file_size=path.stat().st_size,
        delimiter=delimiter,
        zip_member=member,
    )


def _timestamp_format(path: Path, sample: list[tuple[int, str | None]]) -> TimestampFormat:
    """The one format of the sample's readable timestamps; several formats are refused."""
    if not sample:
        return TimestampFormat.NO_ROWS
    first_row: dict[TimestampFormat, int] = {}
    for position, text in sample:
        fmt = _classify_timestamp(text)
        if fmt is not None:
            first_row.setdefault(fmt, position)
    if len(first_row) > 1:
        seen = ", ".join(f"row {row} is {fmt}" for fmt, row in first_row.items())
        raise BadDataError(
            f"{path}: timestamps mix units or formats ({seen}); a file must use one",
            field="timestamp",
            value=tuple(first_row),
        )
    if not first_row:
        examples = ", ".join(repr(text) for _, text in sample[:3])
        raise BadDataError(
            f"{path}: no timestamp in the first {len(sample)} rows is an ISO 8601 time or an "
            f"epoch between 1980 and 2100 (e.g. {examples})",
            field="timestamp",
            value=sample[0][1],
        )
    return next(iter(first_row))


def _classify_timestamp(text: str | None) -> TimestampFormat | None:
    if text is None:
        return None
    value = text.strip()
    if _EPOCH_TEXT.match(value):
        return epoch_format_of(int(value.split(".", 1)[0]))
    try:
        parse_datetime(value)
    except BadDataError:
        return None
    return TimestampFormat.ISO_8601


def _trade_ids_hashed(sample: list[tuple[int, str | None]]) -> bool:
    """Hash every id when most of the sample's ids are not integers (UUIDs and the like)."""
    texts = [text for _, text in sample if text is not None and text.strip()]
    integers = sum(1 for text in texts if _INTEGER_TEXT.match(text))
    return len(texts) - integers > integers


def _symbols_seen(
    path: Path, sample: list[tuple[int, str | None]], symbol: str | None
) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    for position, text in sample:
        if text:
            seen.setdefault(text, position)
    if symbol is not None:
        for other, position in seen.items():
            if other != symbol:
                raise BadDataError(
                    f"{path}: --symbol {symbol} was given but row {position} is {other}; "
                    "leave out --symbol to import every symbol in the file",
                    field="symbol",
                    value=other,
                )
    return tuple(seen)
