"""Reading trade ticks from CSV and Parquet files a user already has (``data-manager import``).

Files
    CSV by extension ``.csv``, ``.txt``, ``.csv.gz``, ``.txt.gz`` (gzip), or a ``.zip`` holding
    exactly one ``.csv``/``.txt``; the delimiter is the one of ``, \\t ; |`` that the first line
    uses most. Parquet by extension ``.parquet`` or ``.pq``. Files are streamed in blocks (CSV
    blocks of at most 1 MiB, Parquet record batches), never loaded whole.

Columns
    Header names are matched ignoring case, surrounding spaces, and ``-``/space versus ``_``:

    ==================  ==================================  ================================
    field               accepted names                      values
    ==================  ==================================  ================================
    timestamp           timestamp, time, ts, ts_event       see *Timestamps*
    price               price                               exact decimal, > 0, 9 places max
    quantity            quantity, qty, amount, size, volume exact decimal, > 0, 8 places max
    side                side                                buy, sell, b, s (any case)
    trade_id            trade_id, id                        integer 0..2**63-1, or any text
    is_buyer_maker      is_buyer_maker                      true, false, 1, 0 (any case)
    symbol (optional)   symbol                              a valid symbol
    ==================  ==================================  ================================

    Other columns are ignored. ``side`` or ``is_buyer_maker`` may be missing, not both: the
    missing one is derived (``is_buyer_maker`` is true exactly when ``side`` is sell, as the
    seller took liquidity); when both are present a row where they disagree is a bad row.
    Without a ``symbol`` column the symbol must be given; with one, rows are split by symbol,
    and a given symbol is allowed only if it is the file's only symbol (otherwise the import
    is refused, at inspection when the first rows show it, else when the row is reached).

    The headerless trades CSV of Binance's public archive (``BTCUSDT-trades-2024-01-01.zip``)
    is recognised by its 7 columns and integer first cell:
    ``trade_id,price,qty,quote_qty,time,is_buyer_maker,is_best_match``; the same layout with
    its header row is read through the aliases above. It has no symbol column. The archive's
    8-column aggTrades CSV (``agg_trade_id,price,quantity,first_trade_id,last_trade_id,
    timestamp,is_buyer_maker,is_best_match``) is recognised too; its trade ids are the
    aggregate ids, as on the ``@aggTrade`` stream.

    Kraken's headerless bulk trades CSV (``BCHEUR.csv``) is recognised by its 3 columns, an
    epoch-seconds first cell and decimal second and third cells: ``time,price,volume``, the
    seconds an integer or with a fraction (``1672531436.1234``), read exactly. Kraken gives
    no side and no trade id: ``side`` is ``Side.NONE`` (the venue did not say) and
    ``is_buyer_maker`` false, and trade ids are derived (see *Trade ids*). It has no symbol
    column. Any other 3-column file without a header is refused as a wrong layout.

Timestamps
    One format per file, decided from its first 1,000 rows (several formats there are refused,
    naming a row of each): ISO 8601 (``2024-01-02T03:04:05.123456789+05:30``; no offset means
    UTC; up to 9 fractional digits) or a number since the Unix epoch whose unit is the one that
    puts it between 1980 and 2100 - by digits of the integer part: seconds 9-10, milliseconds
    12-13, microseconds 15-16, nanoseconds 18-19. Fractions (``1700000000.123``) are read as
    exact decimal text, never through a float. A later row in another unit is a bad row whose
    message says "mixed units". Parquet ``timestamp`` columns are used as they are; integer
    and float columns follow the epoch rule.

Numbers
    Prices and quantities are read as decimal text and scaled exactly to the fixed-point
    columns of ``core.fixed``; more decimal places than the scale, or too large for 64 bits,
    is a bad row, never rounded. Parquet decimal and integer columns are exact; a float64
    column is taken by its shortest round-trip text, i.e. ``Decimal(repr(x))``, so ``0.1`` is
    0.1 and not the binary float's 0.1000000000000000055...

Trade ids
    Integer when most of the first 1,000 ids are integers (then a non-integer id is a bad row).
    Otherwise (UUIDs and the like) every id is hashed to a stable positive 63-bit integer:
    ``blake2b(id.strip().encode("utf-8"), digest_size=8)`` read big-endian, top bit cleared
    (see ``hashed_trade_id``).

    Files without trade ids (Kraken) get derived ids: ``derived_trade_id(ts_ns, price_raw,
    quantity_raw, n)``, ``blake2b`` of the four as big-endian int64 (``digest_size=8``, top bit
    cleared), where ``n`` counts the earlier rows of the same file with the same timestamp,
    price and quantity. Two identical trades in one second stay two trades, and importing the
    file again, or a later file holding the whole of the same seconds, adds nothing. The
    limit: identical trades of one second that are split across two files are numbered from
    0 in each file, so they are stored as many times as the file holding most of them has
    them - one at the end of a file and one at the start of the next are stored as one.
    Counting across blocks remembers the last 60 seconds before the latest timestamp seen,
    so it is exact for files in time order (Kraken's are).

Bad rows
    A wrong layout raises ``BadDataError`` before anything is produced. A row that cannot be
    read (unparsable or non-positive number, unknown side, impossible timestamp, bad trade id,
    wrong number of fields) is dropped and reported as a ``RowError`` whose ``position`` is its
    1-based data row number: its line number counting from the first line after the header
    (blank lines count but are skipped silently; a quoted field spanning lines is not counted).
"""

from __future__ import annotations

import zipfile
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ticklane.core.columnar import RowError, TradeArray, TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId, check_exchange
from ticklane.datamanager.importer_block import Block, BlockConverter
from ticklane.datamanager.importer_convert import derived_trade_id, hashed_trade_id
from ticklane.datamanager.importer_layout import (
    FileLayout,
    TimestampFormat,
    inspect_trade_file,
    zip_member,
)

__all__ = [
    "FileLayout",
    "ImportChunk",
    "TimestampFormat",
    "derived_trade_id",
    "hashed_trade_id",
    "inspect_trade_file",
    "read_trade_file",
]

_MIN_BLOCK: Final = 64 << 10
_MAX_BLOCK: Final = 1 << 20  # pyarrow reads a few dozen blocks ahead: this bounds memory
_BYTES_PER_ROW_GUESS: Final = 64


class ImportChunk(msgspec.Struct, frozen=True):
    """About ``chunk_rows`` consecutive rows of the file, converted.

    ``batches`` holds one ``TradeColumns`` per symbol met in these rows, in file order within
    each; ``errors`` the rows dropped, in file order; ``rows_read`` the data rows this chunk
    covers, good and bad; ``bytes_read`` how far into the file (compressed bytes, for gzip and
    zip) reading has got so far - it can run ahead of the rows by the read-ahead, reaches the
    file size on the last chunk, and is meant for a progress bar against
    ``FileLayout.file_size``.
    """

    batches: list[TradeColumns]
    errors: list[RowError]
    rows_read: int
    bytes_read: int


def read_trade_file(
    path: Path, *, exchange: str, symbol: str | None, chunk_rows: int = 200_000
) -> Iterator[ImportChunk]:
    """Stream the trades of ``path`` as chunks of exact columns, bad rows reported aside.

    The file is inspected (``inspect_trade_file``) before this returns, so a wrong layout, an
    invalid exchange or a missing or conflicting symbol raises ``BadDataError`` here, before
    any chunk exists.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    exchange = check_exchange(exchange)
    layout = inspect_trade_file(Path(path), symbol=symbol)
    if layout.format == "csv":
        blocks = _csv_blocks(layout, chunk_rows)
    else:
        blocks = _parquet_blocks(layout, chunk_rows)
    return _chunks(layout, exchange, blocks, chunk_rows)


def _chunks(
    layout: FileLayout, exchange: str, blocks: Iterator[tuple[Block, int]], chunk_rows: int
) -> Iterator[ImportChunk]:
    instruments: dict[str, InstrumentId] = {}
    parts: dict[str, list[TradeArray]] = {}
    errors: list[RowError] = []
    rows = 0

    def take(bytes_read: int) -> ImportChunk:
        nonlocal parts, errors, rows
        batches = []
        for name, arrays in parts.items():
            if name not in instruments:
                instruments[name] = InstrumentId.of(exchange, name)
            data = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
            batches.append(TradeColumns(instruments[name], data))
        chunk = ImportChunk(batches, errors, rows, min(bytes_read, layout.file_size))
        parts, errors, rows = {}, [], 0
        return chunk

    # One chunk is held back so that the last one can say the whole file has been read.
    held: ImportChunk | None = None
    for block, bytes_read in blocks:
        for name, data in block.parts:
            parts.setdefault(name, []).append(data)
        errors.extend(block.errors)
        rows += block.rows
        if rows >= chunk_rows:
            if held is not None:
                yield held
            held = take(bytes_read)
    if rows or errors or parts:
        if held is not None:
            yield held
        held = take(layout.file_size)
    if held is not None:
        yield msgspec.structs.replace(held, bytes_read=layout.file_size)


# --- CSV ---------------------------------------------------------------------------------------


def _csv_blocks(layout: FileLayout, chunk_rows: int) -> Iterator[tuple[Block, int]]:
    """Blocks of the CSV with every row numbered by its place in the file."""
    converter = BlockConverter(layout)
    header_lines = layout.lines_before_data
    names = [f"c{index}" for index in range(len(layout.columns_found))]
    wanted = {field: names[index] for field, index in layout.columns.items()}
    # Rows with the wrong number of fields are skipped by pyarrow; their line numbers let the
    # rows around them keep their true positions.
    arrived: list[tuple[int, int, str]] = []

    def on_invalid_row(row: Any) -> str:
        arrived.append((row.number or 0, row.actual_columns, row.text))
        return "skip"

    block_size = min(max(chunk_rows * _BYTES_PER_ROW_GUESS, _MIN_BLOCK), _MAX_BLOCK)
    read_options = pcsv.ReadOptions(
        use_threads=False,  # serial parsing is what gives skipped rows their line numbers
        block_size=block_size,
        column_names=names,
        skip_rows=header_lines,
    )
    parse_options = pcsv.ParseOptions(
        delimiter=layout.delimiter,
        invalid_row_handler=on_invalid_row,
        ignore_empty_lines=False,  # blank lines keep their place in the numbering
    )
    convert_options = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in wanted.values()},
        include_columns=list(wanted.values()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    skipped: list[int] = []  # data row numbers of the skipped rows, ascending
    unreported: list[RowError] = []
    kept = 0  # rows pyarrow has handed over so far
    with _open_csv(layout) as (stream, progress):
        reader = _translate(
            layout, lambda: pcsv.open_csv(stream, read_options, parse_options, convert_options)
        )
        while True:
            batch = _translate(layout, lambda: reader.read_next_batch(), kept)
            if batch is None:
                break
            taken = len(arrived)
            for number, found, text in arrived[:taken]:
                position = max(number - header_lines, 0)
                skipped.append(position)
                message = f"row has {found} fields, expected {len(layout.columns_found)}"
                unreported.append(RowError(position, "row", text[:200], message))
            del arrived[:taken]
            if len(batch) == 0:
                continue
            block = converter.convert(
                {field: batch.column(name) for field, name in wanted.items()},
                partial(_position_in_batch, kept, skipped),
            )
            kept += len(batch)
            last = _position(kept - 1, skipped)
            mine = [error for error in unreported if error.position <= last]
            unreported = unreported[len(mine) :]
            errors = sorted([*block.errors, *mine], key=lambda error: error.position)
            yield Block(block.parts, errors, block.rows + len(mine)), progress()
    for number, found, text in arrived:
        message = f"row has {found} fields, expected {len(layout.columns_found)}"
        unreported.append(RowError(max(number - header_lines, 0), "row", text[:200], message))
    if unreported:
        yield Block([], unreported, len(unreported)), layout.file_size


def _position_in_batch(kept_before: int, skipped: list[int], index: int) -> int:
    return _position(kept_before + index, skipped)


def _position(kept_index: int, skipped: list[int]) -> int:
    """The data row number of the ``kept_index``-th row pyarrow kept (0-based)."""
    position = kept_index + 1
    while True:  # the least p with p - (skipped rows up to p) = kept_index + 1
        shifted = kept_index + 1 + bisect_right(skipped, position)
        if shifted == position:
            return position
        position = shifted


@contextmanager
def _open_csv(layout: FileLayout) -> Iterator[tuple[Any, Callable[[], int]]]:
    """The CSV text stream and a function telling how many file bytes have been read."""
    if layout.compression == "zip":
        with (
            layout.path.open("rb") as raw,
            zipfile.ZipFile(raw) as archive,
            archive.open(zip_member(layout.path, archive)) as member,
        ):
            yield member, raw.tell
        return
    raw_file = pa.OSFile(str(layout.path))
    try:
        if layout.compression == "gzip":
            yield pa.CompressedInputStream(raw_file, "gzip"), raw_file.tell
        else:
            yield raw_file, raw_file.tell
    finally:
        raw_file.close()


def _translate(layout: FileLayout, read: Callable[[], Any], rows_before: int = 0) -> Any:
    """Run one pyarrow read; its errors become ``BadDataError``; end of file becomes None."""
    try:
        return read()
    except StopIteration:
        return None
    except (pa.ArrowInvalid, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BadDataError(
            f"{layout.path}: cannot read on after about {rows_before:,} rows: {exc}",
            field="path",
            value=str(layout.path),
        ) from None


# --- Parquet -----------------------------------------------------------------------------------


def _parquet_blocks(layout: FileLayout, chunk_rows: int) -> Iterator[tuple[Block, int]]:
    converter = BlockConverter(layout)
    wanted = {field: layout.columns_found[index] for field, index in layout.columns.items()}
    with pq.ParquetFile(layout.path) as parquet:
        total = max(parquet.metadata.num_rows, 1)
        done = 0
        batches = parquet.iter_batches(
            batch_size=min(chunk_rows, _MIN_BLOCK), columns=list(wanted.values())
        )
        for batch in batches:
            block = converter.convert(
                {field: batch.column(name) for field, name in wanted.items()},
                partial(_position_in_batch, done, []),
            )
            done += len(batch)
            # Parquet gives no byte position: the share of rows read stands in for it.
            yield block, layout.file_size * done // total
