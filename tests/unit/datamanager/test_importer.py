"""The trade file importer, on real files written to a temporary directory."""

from __future__ import annotations

import gzip
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklane.core.columnar import RowError, TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.time import parse_datetime
from ticklane.datamanager.importer import (
    ImportChunk,
    TimestampFormat,
    derived_trade_id,
    hashed_trade_id,
    inspect_trade_file,
    read_trade_file,
)

HEADER = "timestamp,price,quantity,side,trade_id\n"
T0_NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_all(
    path: Path, *, symbol: str | None = "BTCUSDT", chunk_rows: int = 200_000
) -> tuple[dict[str, TradeColumns], list[RowError], list[ImportChunk]]:
    """Every chunk, the batches joined per symbol, and every row error."""
    chunks = list(read_trade_file(path, exchange="binance", symbol=symbol, chunk_rows=chunk_rows))
    joined: dict[str, list[TradeColumns]] = {}
    for chunk in chunks:
        for batch in chunk.batches:
            joined.setdefault(batch.instrument.symbol, []).append(batch)
    trades = {
        name: TradeColumns(parts[0].instrument, np.concatenate([part.data for part in parts]))
        for name, parts in joined.items()
    }
    return trades, [error for chunk in chunks for error in chunk.errors], chunks


def only(trades: dict[str, TradeColumns]) -> TradeColumns:
    assert len(trades) == 1, list(trades)
    return next(iter(trades.values()))


# --- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "unit", "expected_ns"),
    [
        ("1700000000", TimestampFormat.EPOCH_S, 1_700_000_000_000_000_000),
        ("1700000000123", TimestampFormat.EPOCH_MS, 1_700_000_000_123_000_000),
        ("1700000000123456", TimestampFormat.EPOCH_US, 1_700_000_000_123_456_000),
        ("1700000000123456789", TimestampFormat.EPOCH_NS, T0_NS),
        ("1700000000.123456789", TimestampFormat.EPOCH_S, T0_NS),
        ("1700000000123.456789", TimestampFormat.EPOCH_MS, T0_NS),
        ("315532800", TimestampFormat.EPOCH_S, 315_532_800_000_000_000),  # 1980-01-01, 9 digits
    ],
)
def test_epoch_unit_is_told_by_the_size_of_the_numbers(
    tmp_path: Path, stamp: str, unit: TimestampFormat, expected_ns: int
) -> None:
    path = write(tmp_path / "trades.csv", HEADER + f"{stamp},100.5,1,buy,1\n{stamp},100.5,2,s,2\n")

    assert inspect_trade_file(path, symbol="BTCUSDT").timestamps is unit
    trades, errors, _ = read_all(path)

    assert errors == []
    assert only(trades).data["ts_event"].tolist() == [expected_ns, expected_ns]


def test_iso_times_with_offsets_nanoseconds_and_none_are_all_utc(tmp_path: Path) -> None:
    stamps = [
        "2024-01-02T03:04:05.123456789Z",
        "2024-01-02T08:34:05.123456789+05:30",  # the same instant as the first
        "2024-01-02 03:04:05.5",  # no offset: UTC
        "2024-01-01T22:04:05-05:00",
    ]
    rows = "".join(f"{stamp},10,1,buy,{n}\n" for n, stamp in enumerate(stamps))
    path = write(tmp_path / "trades.csv", HEADER + rows)

    assert inspect_trade_file(path, symbol="BTCUSDT").timestamps is TimestampFormat.ISO_8601
    trades, errors, _ = read_all(path)

    first = parse_datetime("2024-01-02T03:04:05Z") + 123_456_789
    assert errors == []
    assert only(trades).data["ts_event"].tolist() == [
        first,
        first,
        parse_datetime("2024-01-02T03:04:05Z") + 500_000_000,
        parse_datetime("2024-01-02T03:04:05Z"),
    ]


def test_units_mixed_in_the_first_rows_are_refused_naming_the_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.csv", HEADER + "1700000000000,1,1,buy,1\n1700000001,1,1,b,2\n")

    with pytest.raises(BadDataError, match=r"row 1 is epoch milliseconds, row 2 is epoch seconds"):
        inspect_trade_file(path, symbol="BTCUSDT")


def test_a_later_row_in_another_unit_is_dropped_as_mixed_units(tmp_path: Path) -> None:
    rows = [f"{1_700_000_000_000 + n},1,1,buy,{n}\n" for n in range(1, 1501)]
    rows[1399] = "1700000001,1,1,buy,1400\n"  # seconds among milliseconds, past the head
    path = write(tmp_path / "trades.csv", HEADER + "".join(rows))

    trades, errors, _ = read_all(path)

    assert len(only(trades)) == 1499
    assert [(error.position, error.field, error.value) for error in errors] == [
        (1400, "timestamp", "1700000001")
    ]
    assert "mixed units" in errors[0].message


# --- prices, quantities and bad rows -----------------------------------------------------------


def test_prices_and_quantities_survive_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trades.csv",
        HEADER
        + "1700000000000,0.00000123,12345.6789,buy,1\n"
        + "1700000000001,42150.25,0.00000001,sell,2\n"
        + "1700000000002,9223372036.854775807,92233720368.54775807,buy,3\n",
    )

    ticks = only(read_all(path)[0]).to_ticks()

    assert [(tick.price, tick.quantity) for tick in ticks] == [
        (Decimal("0.00000123"), Decimal("12345.6789")),
        (Decimal("42150.25"), Decimal("0.00000001")),
        (Decimal("9223372036.854775807"), Decimal("92233720368.54775807")),
    ]


def test_bad_rows_are_dropped_by_row_number_while_good_rows_come_through(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trades.csv",
        HEADER
        + "1700000000000,42150.25,0.5,buy,1\n"  # row 1
        + "1700000000001,1.0000000001,1,buy,2\n"  # row 2: ten decimal places
        + "1700000000002,-5,1,sell,3\n"  # row 3: negative price
        + "1700000000003,5,1,hold,4\n"  # row 4: unknown side
        + "yesterday,5,1,sell,5\n"  # row 5: not a timestamp
        + "\n"  # row 6: blank, skipped silently
        + "1700000000006,5,1\n"  # row 7: fields missing
        + "1700000000007,5,0,sell,8\n"  # row 8: zero quantity
        + "1700000000008,abc,1,sell,9\n"  # row 9: not a number
        + "1700000000009,10000000000,1,sell,10\n"  # row 10: beyond the price column
        + "1700000000010,5,1,sell,x11\n"  # row 11: trade id not an integer
        + "17000000000,5,1,sell,12\n"  # row 12: 1970
        + "1700000000012,7.5,2,SELL,13\n",  # row 13
    )

    trades, errors, chunks = read_all(path)

    assert only(trades).data["trade_id"].tolist() == [1, 13]
    assert [(error.position, error.field, error.value) for error in errors] == [
        (2, "price", "1.0000000001"),
        (3, "price", "-5"),
        (4, "side", "hold"),
        (5, "timestamp", "yesterday"),
        (7, "row", "1700000000006,5,1"),
        (8, "quantity", "0"),
        (9, "price", "abc"),
        (10, "price", "10000000000"),
        (11, "trade_id", "x11"),
        (12, "timestamp", "17000000000"),
    ]
    assert "more than 9 decimal places" in errors[0].message
    assert sum(chunk.rows_read for chunk in chunks) == 12  # the blank line is not a row


def test_bad_rows_deep_in_a_large_file_keep_their_row_numbers(tmp_path: Path) -> None:
    rows = [f"{1_700_000_000_000 + n},{n}.25,1,buy,{n}\n" for n in range(1, 20_001)]
    rows[4320] = "1700000004321,1.25,1\n"  # row 4321: too few fields
    rows[12344] = "1700000012345,1.0000000001,1,buy,12345\n"  # row 12345
    rows[19998] = "1700000019999,1,1,sideways,19999\n"  # row 19999
    path = write(tmp_path / "trades.csv", HEADER + "".join(rows))

    trades, errors, chunks = read_all(path, chunk_rows=3_000)

    assert [(error.position, error.field) for error in errors] == [
        (4321, "row"),
        (12345, "price"),
        (19999, "side"),
    ]
    ids = only(trades).data["trade_id"]
    assert len(ids) == 19_997 and ids[-1] == 20_000
    assert len(chunks) > 3
    assert sum(chunk.rows_read for chunk in chunks) == 20_000
    progress = [chunk.bytes_read for chunk in chunks]
    assert progress == sorted(progress) and progress[-1] == path.stat().st_size


def test_many_bad_prices_leave_every_good_row_exact(tmp_path: Path) -> None:
    rows = []
    for n in range(1, 5001):
        price = f"{n}.000000000{n % 10}" if n % 10 == 3 else f"{n}.{n:09d}"[:20]
        rows.append(f"{1_700_000_000_000 + n},{price},0.{n:08d},sell,{n}\n")
    path = write(tmp_path / "trades.csv", HEADER + "".join(rows))

    trades, errors, _ = read_all(path)

    data = only(trades).data
    good = [n for n in range(1, 5001) if n % 10 != 3]
    assert data["trade_id"].tolist() == good
    assert data["price"].tolist() == [price_to_raw(f"{n}.{n:09d}"[:20]) for n in good]
    assert data["quantity"].tolist() == good
    assert [error.position for error in errors] == [n for n in range(1, 5001) if n % 10 == 3]
    assert {error.field for error in errors} == {"price"}


# --- layouts -----------------------------------------------------------------------------------


def test_wrong_layout_is_refused_naming_file_columns_and_expected_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", "order_no,limit,lots\n1,2,3\n")

    with pytest.raises(BadDataError) as refused:
        read_trade_file(path, exchange="binance", symbol="BTCUSDT")

    message = str(refused.value)
    assert "orders.csv" in message
    assert "order_no, limit, lots" in message
    assert "timestamp, price, quantity, trade_id" in message


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.csv", "time,price,volume\n1700000000000,1,1\n")

    with pytest.raises(BadDataError, match="missing trade_id, side or is_buyer_maker"):
        inspect_trade_file(path, symbol="BTCUSDT")


def test_aliases_case_and_other_columns_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trades.csv",
        "TS,Venue,Price,Qty,ID,Is-Buyer-Maker\n"
        "1700000000000,x,100,1,7,true\n"
        "1700000000001,x,101,2,8,False\n",
    )

    layout = inspect_trade_file(path, symbol="BTCUSDT")
    trades, errors, _ = read_all(path)

    assert "ignored columns: Venue" in layout.description
    assert "quantity        <- column 'Qty'" in layout.description
    assert errors == []
    data = only(trades).data
    assert data["side"].tolist() == [Side.SELL, Side.BUY]  # derived: buyer maker = seller took
    assert data["is_buyer_maker"].tolist() == [True, False]


def test_side_and_buyer_maker_that_disagree_drop_the_row(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trades.csv",
        "timestamp,price,quantity,side,trade_id,is_buyer_maker\n"
        "1700000000000,1,1,sell,1,1\n"
        "1700000000001,1,1,buy,2,1\n",
    )

    trades, errors, _ = read_all(path)

    assert only(trades).data["trade_id"].tolist() == [1]
    assert [(error.position, error.field) for error in errors] == [(2, "is_buyer_maker")]


def test_without_a_symbol_column_the_symbol_must_be_given(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.csv", HEADER + "1700000000000,1,1,buy,1\n")

    with pytest.raises(BadDataError, match="--symbol"):
        read_trade_file(path, exchange="binance", symbol=None)


def test_an_invalid_exchange_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.csv", HEADER + "1700000000000,1,1,buy,1\n")

    with pytest.raises(BadDataError, match="exchange"):
        read_trade_file(path, exchange="Bad Venue!", symbol="BTCUSDT")


# --- symbols -----------------------------------------------------------------------------------

SYMBOL_ROWS = (
    "symbol,timestamp,price,quantity,side,trade_id\n"
    "BTCUSDT,1700000000000,42000.5,0.1,buy,1\n"
    "ETHUSDT,1700000000001,2200.25,3,sell,1\n"
    "BTCUSDT,1700000000002,42001,0.2,sell,2\n"
    "bad symbol,1700000000003,1,1,sell,9\n"
    "ETHUSDT,1700000000004,2201,4,buy,2\n"
)


def test_a_symbol_column_splits_rows_into_one_batch_per_instrument(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.csv", SYMBOL_ROWS)

    layout = inspect_trade_file(path, symbol=None)
    trades, errors, _ = read_all(path, symbol=None)

    assert layout.symbols_seen == ("BTCUSDT", "ETHUSDT", "bad symbol")
    assert sorted(trades) == ["BTCUSDT", "ETHUSDT"]
    assert trades["BTCUSDT"].instrument == InstrumentId("binance", "BTCUSDT")
    assert trades["BTCUSDT"].data["ts_event"].tolist() == [
        1_700_000_000_000_000_000,
        1_700_000_000_002_000_000,
    ]
    assert trades["ETHUSDT"].data["price"].tolist() == [
        price_to_raw("2200.25"),
        price_to_raw("2201"),
    ]
    assert [(error.position, error.field, error.value) for error in errors] == [
        (4, "symbol", "bad symbol")
    ]


def test_a_given_symbol_that_the_symbol_column_contradicts_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.csv", SYMBOL_ROWS)

    with pytest.raises(BadDataError, match="row 2 is ETHUSDT"):
        read_trade_file(path, exchange="binance", symbol="BTCUSDT")


def test_a_given_symbol_that_agrees_with_the_symbol_column_is_allowed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trades.csv", "symbol,ts,price,qty,side,id\nBTCUSDT,1700000000000,1,1,b,1\n"
    )

    assert len(only(read_all(path, symbol="BTCUSDT")[0])) == 1


def test_a_contradicting_symbol_past_the_inspected_rows_stops_the_import(tmp_path: Path) -> None:
    rows = [f"BTCUSDT,{1_700_000_000_000 + n},1,1,buy,{n}\n" for n in range(1, 3001)]
    rows[2499] = "ETHUSDT,1700000002500,1,1,buy,2500\n"
    path = write(tmp_path / "trades.csv", "symbol," + HEADER + "".join(rows))

    with pytest.raises(BadDataError, match="row 2500 is ETHUSDT"):
        read_all(path, symbol="BTCUSDT", chunk_rows=1_000)


# --- trade ids ---------------------------------------------------------------------------------


def test_uuid_trade_ids_are_hashed_to_stable_63_bit_ids(tmp_path: Path) -> None:
    uuids = ["3f1c2a9e-8b7d-4c6e-9a51-2d0f4b6e8c17", "0b6c3d1e-2f4a-4b5c-8d9e-0f1a2b3c4d5e"]
    rows = "".join(f"1700000000000,1,1,buy,{uuid}\n" for uuid in uuids)
    path = write(tmp_path / "trades.csv", HEADER + rows)

    assert inspect_trade_file(path, symbol="BTCUSDT").trade_ids_hashed
    ids = only(read_all(path)[0]).data["trade_id"].tolist()

    assert ids == [hashed_trade_id(uuid) for uuid in uuids]
    assert ids[0] == 6634521647779136019  # written down once: must never change
    assert all(0 < value < 2**63 for value in ids)
    assert hashed_trade_id(f" {uuids[0]}\t") == ids[0]


def test_uuid_trade_ids_with_spaces_and_gaps(tmp_path: Path) -> None:
    rows = "".join(
        f"1700000000000,1,1,buy,{trade_id}\n" for trade_id in ["a-1", " a-1 ", "", "b-2"]
    )
    path = write(tmp_path / "trades.csv", HEADER + rows)

    trades, errors, _ = read_all(path)

    assert only(trades).data["trade_id"].tolist() == [hashed_trade_id("a-1")] * 2 + [
        hashed_trade_id("b-2")
    ]
    assert [(error.position, error.field) for error in errors] == [(3, "trade_id")]


# --- containers --------------------------------------------------------------------------------


def test_gzip_csv_reads_like_plain_csv(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write(HEADER + "1700000000000,42150.25,0.5,buy,1\n1700000000001,1,1,sell,2\n")

    layout = inspect_trade_file(path, symbol="BTCUSDT")
    trades, errors, chunks = read_all(path)

    assert layout.compression == "gzip"
    assert errors == []
    assert only(trades).data["price"].tolist() == [42_150_250_000_000, 1_000_000_000]
    assert chunks[-1].bytes_read == path.stat().st_size


BINANCE_ARCHIVE = (
    "3230213081,37691.99000000,0.00053000,19.97675470,1700000000123,True,True\n"
    "3230213082,37692.00000000,0.01200000,452.30400000,1700000000124,False,True\n"
)


def test_binance_archive_zip_without_header_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-trades-2023-11-14.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-trades-2023-11-14.csv", BINANCE_ARCHIVE)

    layout = inspect_trade_file(path, symbol="BTCUSDT")
    ticks = only(read_all(path)[0]).to_ticks()

    assert (layout.layout, layout.compression) == ("binance-trades", "zip")
    assert layout.timestamps is TimestampFormat.EPOCH_MS
    assert [(t.trade_id, t.side, t.is_buyer_maker) for t in ticks] == [
        (3230213081, Side.SELL, True),
        (3230213082, Side.BUY, False),
    ]
    assert ticks[0].price == Decimal("37691.99") and ticks[0].quantity == Decimal("0.00053")
    assert ticks[0].ts_event == 1_700_000_000_123_000_000


# --- Kraken bulk trades (no header, no side, no trade id) ---------------------------------------


def test_kraken_integer_and_fractional_seconds_are_read_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path / "BCHEUR.csv",
        "1672531436,90.540000,1.10448420\n"
        "1672531436.1234,90.450000,0.00000001\n"
        "1700000000.123456789,90.360000,0.28600000\n",
    )

    layout = inspect_trade_file(path, symbol="BCH/EUR")
    ticks = only(read_all(path, symbol="BCH/EUR")[0]).to_ticks()

    assert layout.layout == "kraken-trades" and layout.timestamps is TimestampFormat.EPOCH_S
    assert "Kraken bulk trades (timestamp,price,volume; no side, no trade id: ids derived)" in (
        layout.description
    )
    assert [t.ts_event for t in ticks] == [
        1_672_531_436_000_000_000,
        1_672_531_436_123_400_000,
        T0_NS,
    ]
    assert [(t.price, t.quantity) for t in ticks] == [
        (Decimal("90.54"), Decimal("1.1044842")),
        (Decimal("90.45"), Decimal("0.00000001")),
        (Decimal("90.36"), Decimal("0.286")),
    ]
    assert {(t.side, t.is_buyer_maker) for t in ticks} == {(Side.NONE, False)}
    assert ticks[0].trade_id == derived_trade_id(
        1_672_531_436_000_000_000, price_to_raw("90.54"), quantity_to_raw("1.1044842"), 0
    )


def test_kraken_identical_trades_in_one_second_get_distinct_stable_ids(tmp_path: Path) -> None:
    same = "1672533909,90.000000,0.05000000\n"
    text = "1672533908,90.100000,0.05000000\n" + same + same + "1672533910,90,1\n" + same
    path = write(tmp_path / "BCHEUR.csv", text)

    first, errors, _ = read_all(path, symbol="BCH/EUR")
    again = only(read_all(path, symbol="BCH/EUR")[0]).data["trade_id"].tolist()
    ids = only(first).data["trade_id"].tolist()

    assert errors == [] and len(ids) == 5 and len(set(ids)) == 5
    assert ids == again
    raw = (1_672_533_909 * 10**9, price_to_raw("90"), quantity_to_raw("0.05"))
    assert [ids[1], ids[2], ids[4]] == [derived_trade_id(*raw, n) for n in range(3)]
    assert all(0 < trade_id < 2**63 for trade_id in ids)


def test_kraken_repeats_are_counted_across_chunks_and_blocks(tmp_path: Path) -> None:
    rows = [f"{1672531436 + i // 7},90.{i % 3}0,0.5\n" for i in range(30_000)]
    path = write(tmp_path / "BCHEUR.csv", "".join(rows))

    small = only(read_all(path, symbol="BCH/EUR", chunk_rows=1)[0]).data["trade_id"].tolist()
    whole = only(read_all(path, symbol="BCH/EUR")[0]).data["trade_id"].tolist()

    assert small == whole and len(set(whole)) == 30_000


def test_kraken_bad_rows_are_dropped_and_not_counted_as_repeats(tmp_path: Path) -> None:
    good = "1672533909,90.000000,0.05000000\n"
    path = write(tmp_path / "BCHEUR.csv", good + "1672533909,-90,0.05\n" + good)

    trades, errors, _ = read_all(path, symbol="BCH/EUR")

    assert [(e.position, e.field) for e in errors] == [(2, "price")]
    raw = (1_672_533_909 * 10**9, price_to_raw("90"), quantity_to_raw("0.05"))
    assert only(trades).data["trade_id"].tolist() == [derived_trade_id(*raw, n) for n in (0, 1)]


@pytest.mark.parametrize(
    "text",
    [
        "1672531436,BCH,1.10448420\n",  # text in column 2
        "1672531436,90.54,abc\n",  # text in column 3
        "1672531436000,90.54,1.1\n",  # milliseconds: not Kraken's seconds
        "90.54,1672531436,1.1\n",  # columns in another order
    ],
)
def test_other_headerless_three_column_files_are_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "trades.csv", text)

    with pytest.raises(BadDataError, match="not a known layout") as caught:
        read_trade_file(path, exchange="kraken", symbol="BCH/EUR")
    assert "Kraken trades layout" in str(caught.value)


def test_real_kraken_bulk_file_imports_every_row(shared_data: Path) -> None:
    path = shared_data / "kraken" / "trades_csv" / "BCHEUR.csv"
    lines = path.read_text().splitlines()

    trades, errors, _ = read_all(path, symbol="BCH/EUR")
    data = only(trades).data

    assert errors == [] and len(data) == len(lines) == len(set(data["trade_id"].tolist()))
    assert data["ts_event"][0] == int(lines[0].split(",")[0]) * 10**9
    assert data["ts_event"][-1] == int(lines[-1].split(",")[0]) * 10**9
    assert (data["side"] == Side.NONE).all() and not data["is_buyer_maker"].any()


def test_a_zip_holding_several_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trades.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", BINANCE_ARCHIVE)
        archive.writestr("b.csv", BINANCE_ARCHIVE)

    with pytest.raises(BadDataError, match="exactly one"):
        inspect_trade_file(path, symbol="BTCUSDT")


def test_parquet_with_decimal_float_integer_and_timestamp_columns(tmp_path: Path) -> None:
    path = tmp_path / "trades.parquet"
    table = pa.table(
        {
            "Time": pa.array([T0_NS, T0_NS + 1, T0_NS + 2], type=pa.timestamp("ns", tz="UTC")),
            "price": pa.array(
                [Decimal("0.00000123"), Decimal("42150.25"), Decimal("-1")],
                type=pa.decimal128(20, 8),
            ),
            "size": pa.array([0.1, 1e-7, 3.0], type=pa.float64()),
            "side": pa.array(["buy", "SELL", "buy"]).dictionary_encode(),
            "trade_id": pa.array([1, 2, 3], type=pa.uint64()),
        }
    )
    pq.write_table(table, path)

    layout = inspect_trade_file(path, symbol="BTCUSDT")
    trades, errors, chunks = read_all(path)

    assert (layout.format, layout.timestamps) == ("parquet", TimestampFormat.ARROW)
    data = only(trades).data
    assert data["ts_event"].tolist() == [T0_NS, T0_NS + 1]
    assert data["price"].tolist() == [1230, 42_150_250_000_000]
    # float64 is taken by its shortest text: 0.1 is 0.1, not 0.1000000000000000055...
    assert data["quantity"].tolist() == [quantity_to_raw("0.1"), quantity_to_raw("1e-7")]
    assert [(error.position, error.field) for error in errors] == [(3, "price")]
    assert chunks[-1].bytes_read == path.stat().st_size


def test_parquet_with_text_columns_and_epoch_integers(tmp_path: Path) -> None:
    path = tmp_path / "trades.pq"
    table = pa.table(
        {
            "ts_event": pa.array([1_700_000_000_123_456, 1_700_000_000_123_457]),
            "price": pa.array(["100.000000001", "100.0000000001"]),
            "amount": pa.array([5, 6], type=pa.int32()),
            "is_buyer_maker": pa.array([True, False]),
            "id": pa.array(["11", "12"]),
            "symbol": pa.array(["ETH-USD", "ETH-USD"]),
        }
    )
    pq.write_table(table, path)

    layout = inspect_trade_file(path, symbol=None)
    trades, errors, _ = read_all(path, symbol=None)

    assert layout.timestamps is TimestampFormat.EPOCH_US
    data = trades["ETH-USD"].data
    assert data.tolist() == [
        (1_700_000_000_123_456_000, 11, 100_000_000_001, 500_000_000, Side.SELL, True)
    ]
    assert [(error.position, error.field, error.value) for error in errors] == [
        (2, "price", "100.0000000001")
    ]


def test_unsupported_extension_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "trades.json", "[]")

    with pytest.raises(BadDataError, match="unsupported file type"):
        inspect_trade_file(path, symbol="BTCUSDT")
