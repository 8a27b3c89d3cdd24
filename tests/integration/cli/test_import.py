"""``data-manager import`` end to end: files a user has, into each backend, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cli_process import Cli

TRADES_CSV = """timestamp,price,quantity,side,trade_id
1704164645123,42150.25,0.001,buy,1
1704164646000,42150.5,0.002,sell,2
1704164647000,-1,0.002,sell,3
1704164648000,42151,0.0000000001,buy,4
1704164649000,42152,0.5,hold,5
1704164650000,42153.00000001,0.5,b,6
"""


def test_csv_import_stores_good_rows_and_reports_bad_ones_by_row(cli: Cli) -> None:
    (cli.cwd / "trades.csv").write_text(TRADES_CSV)
    summary = cli.json("import", "trades.csv", "--exchange", "binance", "--symbol", "BTCUSDT")
    assert (summary["rows_read"], summary["inserted"], summary["duplicates"]) == (6, 3, 0)
    assert summary["rejected"] == 3
    assert [(e["position"], e["field"]) for e in summary["errors"]] == [
        (3, "price"),
        (4, "quantity"),
        (5, "side"),
    ]
    series = cli.json("db", "stats")["series"]
    assert [(s["exchange"], s["symbol"], s["rows"]) for s in series] == [("binance", "BTCUSDT", 3)]
    assert series[0]["first_ts"] == 1704164645123 * 10**6
    assert series[0]["last_ts"] == 1704164650000 * 10**6


def test_importing_the_same_file_twice_adds_nothing(cli: Cli) -> None:
    (cli.cwd / "trades.csv").write_text(TRADES_CSV)
    cli.json("import", "trades.csv", "--exchange", "binance", "--symbol", "BTCUSDT")
    again = cli.json("import", "trades.csv", "--exchange", "binance", "--symbol", "BTCUSDT")
    assert (again["inserted"], again["duplicates"]) == (0, 3)
    assert cli.json("db", "stats")["series"][0]["rows"] == 3


def test_import_registers_the_symbols_it_stored(cli: Cli) -> None:
    (cli.cwd / "trades.csv").write_text(TRADES_CSV)
    cli.json("import", "trades.csv", "--exchange", "Binance", "--symbol", "BTCUSDT")
    assert [(s["exchange"], s["symbol"], s["source"]) for s in cli.json("symbol", "list")] == [
        ("binance", "BTCUSDT", "import")
    ]


def test_parquet_with_a_symbol_column_is_split_by_symbol(cli: Cli) -> None:
    table = pa.table(
        {
            "ts_event": pa.array([1704164645123000000, 1704164646000000000, 1704164647000000000]),
            "symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT"],
            "price": ["42150.25", "2250.10", "42150.5"],
            "qty": ["0.001", "1.5", "0.25"],
            "side": ["buy", "sell", "sell"],
            "id": [10, 20, 11],
        }
    )
    pq.write_table(table, cli.cwd / "trades.parquet")
    summary = cli.json("import", "trades.parquet", "--exchange", "binance")
    assert (summary["inserted"], summary["rejected"]) == (3, 0)
    series = cli.json("db", "stats")["series"]
    assert [(s["symbol"], s["rows"]) for s in series] == [("BTCUSDT", 2), ("ETHUSDT", 1)]


def test_wrong_column_layout_is_refused_before_anything_is_written(cli: Cli) -> None:
    (cli.cwd / "trades.csv").write_text(TRADES_CSV)
    cli.json("import", "trades.csv", "--exchange", "binance", "--symbol", "BTCUSDT")
    (cli.cwd / "wrong.csv").write_text("time,px,qty\n1704164645123,1,2\n")
    result = cli.run("import", "wrong.csv", "--exchange", "binance", "--symbol", "BTCUSDT")
    assert result.returncode == 1
    assert "Columns found: time, px, qty" in result.stderr
    assert "Expected a header with timestamp, price, quantity" in result.stderr
    assert cli.json("db", "stats")["series"][0]["rows"] == 3  # what was stored stays stored


def test_kraken_bulk_trades_csv_is_imported_whole_and_once(cli: Cli, shared_data: Path) -> None:
    kraken = shared_data / "kraken" / "trades_csv" / "BCHEUR.csv"  # unix seconds,price,volume
    lines = kraken.read_text().splitlines()  # two of them are the same trade, twice
    args = ("import", str(kraken), "--exchange", "kraken", "--symbol", "BCH/EUR")

    summary = cli.json(*args)
    assert (summary["rows_read"], summary["inserted"], summary["rejected"]) == (
        len(lines),
        len(lines),
        0,
    )
    again = cli.json(*args)
    assert (again["inserted"], again["duplicates"]) == (0, len(lines))
    series = cli.json("db", "stats")["series"]
    assert [(s["exchange"], s["symbol"], s["rows"]) for s in series] == [
        ("kraken", "BCH/EUR", len(lines))
    ]
    assert series[0]["first_ts"] == int(lines[0].split(",")[0]) * 10**9
    assert series[0]["last_ts"] == int(lines[-1].split(",")[0]) * 10**9


def test_import_without_a_symbol_and_without_a_symbol_column_is_refused(cli_sqlite: Cli) -> None:
    (cli_sqlite.cwd / "trades.csv").write_text(TRADES_CSV)
    result = cli_sqlite.run("import", "trades.csv", "--exchange", "binance")
    assert result.returncode == 1
    assert "symbol" in result.stderr


def test_binance_archive_zip_is_recognised(cli: Cli) -> None:
    import zipfile

    rows = [
        "3000000001,42150.25000000,0.00100000,42.15025000,1704164645123,True,True",
        "3000000002,42150.50000000,0.00200000,84.30100000,1704164645124,False,True",
    ]
    with zipfile.ZipFile(cli.cwd / "BTCUSDT-trades-2024-01-02.zip", "w") as archive:
        archive.writestr("BTCUSDT-trades-2024-01-02.csv", "\n".join(rows) + "\n")
    summary = cli.json(
        "import", "BTCUSDT-trades-2024-01-02.zip", "--exchange", "binance", "--symbol", "BTCUSDT"
    )
    assert (summary["inserted"], summary["rejected"]) == (2, 0)
    assert os.path.exists(cli.cwd / "BTCUSDT-trades-2024-01-02.zip")
