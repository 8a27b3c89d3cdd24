"""DBN files -> our columns, checked against what the official client decodes from the same
real files (``DBNStore.to_df``), over every DBN version; broken files are refused by name."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import databento
import databento_dbn
import numpy as np
import pandas as pd
import pytest

from ticklane.core.columnar import QUOTE_DTYPE, TRADE_DTYPE, QuoteColumns, TradeColumns
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import QUANTITY_SCALE
from ticklane.core.identifiers import Side
from ticklane.datamanager.history.databento_source import FileBlock, dbn_file_batches
from ticklane.datamanager.importer_convert import derived_trade_id
from ticklane.venues.databento import schemas
from ticklane.venues.databento.dbnfile import DbnFile
from ticklane.venues.databento.parse import (
    Converted,
    InstrumentMap,
    bars_from_records,
    quantity_from_volume,
)

TICK_SCHEMAS = ("trades", "tbbo", "mbp-1", "mbp-10", "bbo-1s", "bbo-1m", "mbo")
SIDES = {"A": Side.SELL, "B": Side.BUY, "N": Side.NONE}
UNDEF = 2**63 - 1


def tick_files(shared: Path) -> list[Path]:
    root = shared / "databento"
    found = [
        *root.glob("small/test_data.*.dbn*"),
        *root.glob("dbn-tests/tests/data/test_data.*.dbn"),
        *root.glob("dbn-tests/tests/data/test_data.*.v[123].dbn*"),
        *root.glob("python-tests/tests/data/*/test_data.*.dbn.zst"),
    ]
    return sorted(p for p in found if _schema_of(p) in TICK_SCHEMAS and "frag" not in p.name)


def _schema_of(path: Path) -> str:
    return path.name.split(".")[1]


def reference(path: Path) -> pd.DataFrame:
    """The official client's decoding of ``path`` (prices as fixed-point integers)."""
    store = databento.DBNStore.from_bytes(path.read_bytes())  # from_file leaves the file open
    with warnings.catch_warnings():
        # databento 0.87 calls set_index(inplace=True), deprecated in pandas 3.1.
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.set_index")
        frame = store.to_df(price_type="fixed", pretty_ts=False, map_symbols=True)
    return frame.reset_index()


def our_symbols(path: Path) -> dict[str, str]:
    """Raw symbols -> ours: OPRA's have spaces and ICE's '!', which ours may not have."""
    with DbnFile(path) as dbn:
        return {raw: re.sub(r"[^A-Za-z0-9/_.:\-]", "_", raw) for raw in dbn.metadata.mappings}


def convert(path: Path) -> list[FileBlock]:
    return list(dbn_file_batches(path, exchange="xcme", symbols=our_symbols(path), batch_rows=3))


def concat(batches: list[Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    return np.concatenate([b.data for b in batches]) if batches else np.zeros(0, dtype)


@pytest.mark.parametrize("version", [databento_dbn.v1, databento_dbn.v2, databento_dbn.v3])
def test_record_layouts_are_databento_dbns_in_every_version(version: Any) -> None:
    ours = {
        "TradeMsg": schemas.TRADE_MSG,
        "MBP1Msg": schemas.MBP1_MSG,
        "MBP10Msg": schemas.MBP10_MSG,
        "MBOMsg": schemas.MBO_MSG,
        "BBOMsg": schemas.BBO_MSG,
        "OHLCVMsg": schemas.OHLCV_MSG,
    }
    for name, dtype in ours.items():
        theirs = np.dtype(getattr(version, name)._dtypes)
        assert dtype.itemsize == theirs.itemsize, name
        for field in theirs.names or ():
            if not field.startswith("_"):
                assert dtype.fields is not None and theirs.fields is not None
                assert dtype.fields[field][1] == theirs.fields[field][1], (name, field)


def test_every_tick_file_decodes_to_the_official_clients_values(shared_data: Path) -> None:
    files = tick_files(shared_data)
    assert len(files) >= 60  # small/, dbn-tests v1/v2/v3, and six datasets of python-tests
    for path in files:
        spec = schemas.SCHEMAS[_schema_of(path)]
        frame = reference(path)
        blocks = convert(path)
        assert sum(b.records for b in blocks) == len(frame), path
        symbol_of = our_symbols(path)
        undefined = 0  # real data has them: an empty book side (EQUS.MINI bbo-1m)
        if spec.has_trades:
            trades = [t for b in blocks for t in b.trades]
            expected = frame[frame["action"] == "T"] if spec.name == "mbo" else frame
            undefined += int((expected["price"] == UNDEF).sum())
            _check_trades(path, trades, expected[expected["price"] != UNDEF], symbol_of)
        if spec.has_quotes:
            quotes = [q for b in blocks for q in b.quotes]
            defined = (frame["bid_px_00"] != UNDEF) & (frame["ask_px_00"] != UNDEF)
            undefined += int((~defined).sum())
            _check_quotes(path, quotes, frame[defined], symbol_of)
        rejected = [e.message for b in blocks for e in b.errors]
        assert sum(b.rejected for b in blocks) == undefined == len(rejected), (path, rejected)
        assert all("UNDEF_PRICE" in message for message in rejected), path


def _check_trades(
    path: Path, trades: list[TradeColumns], frame: pd.DataFrame, symbol_of: dict[str, str]
) -> None:
    data = concat(trades, TRADE_DTYPE)
    assert len(data) == len(frame), path
    assert data["ts_event"].tolist() == frame["ts_event"].astype("int64").tolist(), path
    assert data["price"].tolist() == frame["price"].tolist(), path
    assert data["quantity"].tolist() == (frame["size"].astype("int64") * QUANTITY_SCALE).tolist()
    assert data["side"].tolist() == [SIDES[s] for s in frame["side"]], path
    assert data["is_buyer_maker"].tolist() == [s == "A" for s in frame["side"]], path
    assert data["trade_id"].tolist() == frame["sequence"].astype("int64").tolist(), path
    assert {t.instrument.symbol for t in trades} <= {symbol_of[s] for s in frame["symbol"]}


def _check_quotes(
    path: Path, quotes: list[QuoteColumns], frame: pd.DataFrame, symbol_of: dict[str, str]
) -> None:
    data = concat(quotes, QUOTE_DTYPE)
    assert len(data) == len(frame), path
    stamp = "ts_recv" if ".bbo-" in path.name else "ts_event"  # a bbo samples at its end
    assert data["ts_event"].tolist() == frame[stamp].astype("int64").tolist(), path
    assert data["bid_price"].tolist() == frame["bid_px_00"].tolist(), path
    assert data["ask_price"].tolist() == frame["ask_px_00"].tolist(), path
    bid_sizes = (frame["bid_sz_00"].astype("int64") * QUANTITY_SCALE).tolist()
    assert data["bid_size"].tolist() == bid_sizes, path
    assert data["sequence"].tolist() == frame["sequence"].astype("int64").tolist(), path
    assert {q.instrument.symbol for q in quotes} <= {symbol_of[s] for s in frame["symbol"]}


def test_es_trades_are_sells_at_3720_25(shared_data: Path) -> None:
    (block,) = convert(shared_data / "databento" / "small" / "test_data.trades.dbn.zst")
    (trades,) = block.trades
    assert str(trades.instrument) == "ESH1.xcme"
    assert [str(t.price) for t in trades.to_ticks()] == ["3720.250000000", "3720.250000000"]
    assert [t.quantity for t in trades.to_ticks()] == [5, 21]
    assert [t.side for t in trades.to_ticks()] == [Side.SELL, Side.SELL]
    assert trades.data["trade_id"].tolist() == [1170380, 1170414]


def _header_and_records(path: Path, dtype: np.dtype[Any]) -> tuple[bytes, np.ndarray[Any, Any]]:
    raw = path.read_bytes()
    length = 8 + int.from_bytes(raw[4:8], "little")
    return raw[:length], np.frombuffer(raw[length:], dtype=dtype).copy()


def test_mbo_trade_records_become_trades_and_the_others_do_not(
    shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "databento" / "dbn-tests" / "tests" / "data" / "test_data.mbo.v3.dbn"
    header, records = _header_and_records(source, schemas.MBO_MSG)
    records["action"][1] = ord("T")  # the second record, a cancel, as a trade
    path = tmp_path / "mbo-with-trade.dbn"
    path.write_bytes(header + records.tobytes())
    (block,) = list(dbn_file_batches(path, exchange="xcme"))
    (trades,) = block.trades
    assert len(trades) == 1
    assert trades.data["price"][0] == records["price"][1]
    assert trades.data["trade_id"][0] == records["sequence"][1]


def test_repeated_sequence_at_one_time_gets_distinct_ids(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "databento" / "dbn-tests" / "tests" / "data" / "test_data.trades.dbn"
    header, records = _header_and_records(source, schemas.TRADE_MSG)
    swept = np.concatenate([records[:1], records[:1], records[:1], records[1:]])
    swept["price"][1] += 250_000_000  # the sweep's next price level, same message
    path = tmp_path / "sweep.dbn"
    path.write_bytes(header + swept.tobytes())
    trades = [t for b in dbn_file_batches(path, exchange="xcme", batch_rows=2) for t in b.trades]
    ids = concat(trades, TRADE_DTYPE)["trade_id"].tolist()
    seq = int(records["sequence"][0])
    assert ids == [seq, seq + 2**32, seq + 2 * 2**32, int(records["sequence"][1])]


def test_undefined_prices_are_skipped_and_counted(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "databento" / "dbn-tests" / "tests" / "data" / "test_data.mbp-1.dbn"
    header, records = _header_and_records(source, schemas.MBP1_MSG)
    records["bid_px_00"][0] = UNDEF  # an empty bid side
    path = tmp_path / "one-sided.dbn"
    path.write_bytes(header + records.tobytes())
    (block,) = list(dbn_file_batches(path, exchange="xcme"))
    assert len(block.quotes[0]) == len(records) - 1
    assert block.rejected == 1
    assert block.errors[0].position == 0
    assert block.errors[0].field == "bid_price"


def test_legacy_dbz_file_is_refused_by_name(shared_data: Path) -> None:
    path = shared_data / "databento" / "dbn-tests" / "tests" / "data" / "test_data.trades.dbz"
    with pytest.raises(BadDataError, match=r"test_data\.trades\.dbz: is in the legacy DBZ"):
        list(dbn_file_batches(path, exchange="xcme"))


def test_truncated_files_are_refused_by_name(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "databento" / "dbn-tests" / "tests" / "data"
    plain = tmp_path / "cut.trades.dbn"
    plain.write_bytes((data / "test_data.trades.dbn").read_bytes()[:-7])
    with pytest.raises(BadDataError, match=r"cut\.trades\.dbn: truncated: .* record 1"):
        list(dbn_file_batches(plain, exchange="xcme"))
    compressed = tmp_path / "cut.trades.dbn.zst"
    compressed.write_bytes((data / "test_data.trades.v3.dbn.zst").read_bytes()[:-20])
    with pytest.raises(BadDataError, match=r"cut\.trades\.dbn\.zst: "):
        list(dbn_file_batches(compressed, exchange="xcme"))


def test_a_file_of_another_schema_is_refused(shared_data: Path) -> None:
    path = shared_data / "databento" / "small" / "test_data.statistics.dbn.zst"
    with pytest.raises(BadDataError, match="has schema statistics"):
        list(dbn_file_batches(path, exchange="xcme"))


def test_ohlcv_records_become_bars_with_the_clients_values(shared_data: Path) -> None:
    path = shared_data / "databento" / "python-tests" / "tests" / "data"
    path = path / "GLBX.MDP3" / "test_data.ohlcv-1m.dbn.zst"
    frame = reference(path)
    with DbnFile(path) as dbn:
        records = np.concatenate(list(dbn.blocks(100)))
        bars = bars_from_records(
            dbn.spec, records, InstrumentMap.from_metadata(dbn.metadata, "xcme")
        )
    assert len(bars) == len(frame) == 4
    for bar, row in zip(bars, frame.itertuples(), strict=True):
        assert bar.open_time == row.ts_event
        assert bar.close_time == row.ts_event + 60 * 10**9
        assert bar.open * 10**9 == row.open and bar.close * 10**9 == row.close
        assert bar.high * 10**9 == row.high and bar.low * 10**9 == row.low
        assert bar.volume == row.volume
        assert bar.symbol == row.symbol


def test_one_second_bars_have_the_one_second_timeframe(shared_data: Path) -> None:
    path = shared_data / "databento" / "small" / "test_data.ohlcv-1s.dbn.zst"
    with DbnFile(path) as dbn:
        bars = bars_from_records(
            dbn.spec, next(dbn.blocks(10)), InstrumentMap.from_metadata(dbn.metadata, "xcme")
        )
    assert bars and {str(bar.bar_type) for bar in bars} == {"1s"}
    assert all(bar.close_time - bar.open_time == 10**9 for bar in bars)


def test_bars_of_an_unmapped_instrument_are_reported_not_dropped_silently(
    shared_data: Path,
) -> None:
    path = shared_data / "databento" / "small" / "test_data.ohlcv-1m.dbn.zst"
    out = Converted()
    with DbnFile(path) as dbn:
        block = next(dbn.blocks(10))
        bars = bars_from_records(dbn.spec, block, InstrumentMap({}), out)
    assert bars == [] and out.rejected == len(block) > 0
    assert out.errors[0].field == "instrument_id"


def test_trades_without_a_sequence_get_derived_ids(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "databento" / "dbn-tests" / "tests" / "data" / "test_data.trades.dbn"
    header, records = _header_and_records(source, schemas.TRADE_MSG)
    records["sequence"] = 0  # a venue that sends none
    path = tmp_path / "no-sequence.dbn"
    path.write_bytes(header + records.tobytes())
    (block,) = list(dbn_file_batches(path, exchange="xcme"))
    data = block.trades[0].data
    expected = [
        derived_trade_id(int(r["ts_event"]), int(r["price"]), int(r["size"]) * QUANTITY_SCALE, 0)
        for r in records
    ]
    assert data["trade_id"].tolist() == expected
    assert len(set(expected)) == len(records)


def test_a_volume_too_large_for_a_quantity_is_refused() -> None:
    fits = np.array([92_233_720_368], dtype=np.uint64)
    assert quantity_from_volume(fits).tolist() == [92_233_720_368 * QUANTITY_SCALE]
    with pytest.raises(BadDataError, match="volume: 92233720369 is too large"):
        quantity_from_volume(np.array([1, 92_233_720_369], dtype=np.uint64))
