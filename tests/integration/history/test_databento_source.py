"""The Databento source through the official client against a local HTTPS Databento
(``databento_server``) serving real DBN files: estimates, fetched values, and each way a
request can fail."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import databento
import numpy as np
import pandas as pd
import pytest
import zstandard

from ticklane.config.settings import DatabentoConfig, DatabentoSymbol
from ticklane.core.columnar import QuoteColumns, TradeColumns
from ticklane.core.errors import BadDataError, ConfigError, PermanentError, TransientError
from ticklane.core.fixed import QUANTITY_SCALE
from ticklane.core.identifiers import Side
from ticklane.core.time import parse_datetime
from ticklane.datamanager.history.databento_source import DatabentoSource, dbn_file_batches
from ticklane.datamanager.history.source import (
    BarBatch,
    Batch,
    Chunk,
    ChunkReport,
    ProvenanceKind,
)

from databento_server import Answer, DatabentoServer, Running, serve

DAY = parse_datetime("2020-12-28")
NEXT_DAY = parse_datetime("2020-12-29")
ES = DatabentoSymbol(exchange="cme", symbol="ESH1", dataset="GLBX.MDP3")
NVDA = DatabentoSymbol(exchange="nasdaq", symbol="NVDA", dataset="XNAS.ITCH")
QQQ = DatabentoSymbol(exchange="equs", symbol="QQQ", dataset="EQUS.MINI")


@pytest.fixture
def databento_api(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Running]:
    with serve(DatabentoServer.of_shared_data(shared_data), tmp_path) as running:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.ca_bundle))
        yield running


def source(running: Running, *, key: str | None = None, **options: Any) -> DatabentoSource:
    config = DatabentoConfig(
        api_key=running.key if key is None else key,
        gateway=running.gateway,
        symbols=(ES, NVDA, QQQ),
    )
    return DatabentoSource(config, backoff_s=0.01, **options)


def fetch_all(src: DatabentoSource, chunk: Chunk) -> tuple[list[Batch], ChunkReport]:
    report = ChunkReport()

    async def run() -> list[Batch]:
        try:
            return [batch async for batch in src.fetch(chunk, report)]
        finally:
            await src.aclose()

    return asyncio.run(run()), report


def reference(path: Path) -> pd.DataFrame:
    """The official client's decoding of a file, computed independently of our decoder."""
    store = databento.DBNStore.from_bytes(path.read_bytes())  # from_file leaves the file open
    with warnings.catch_warnings():
        # databento 0.87 calls set_index(inplace=True), deprecated in pandas 3.1.
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.set_index")
        return store.to_df(price_type="fixed", pretty_ts=False).reset_index()


def data_file(shared_data: Path, dataset: str, schema: str) -> Path:
    root = shared_data / "databento" / "python-tests" / "tests" / "data"
    return root / dataset / f"test_data.{schema}.dbn.zst"


def test_a_day_is_one_chunk_and_the_source_is_paid(databento_api: Running) -> None:
    src = source(databento_api)
    chunks = src.chunks("cme", "ESH1", DAY + 3600 * 10**9, NEXT_DAY + 7200 * 10**9)
    assert [(c.start_ns, c.end_ns) for c in chunks] == [
        (DAY + 3600 * 10**9, NEXT_DAY),
        (NEXT_DAY, NEXT_DAY + 7200 * 10**9),
    ]
    assert (src.name, src.kind, src.paid) == ("databento", ProvenanceKind.DATABENTO, True)


def test_estimate_counts_the_days_records_and_prices_them(
    databento_api: Running, shared_data: Path
) -> None:
    estimate = asyncio.run(source(databento_api).estimate(Chunk("cme", "ESH1", DAY, NEXT_DAY)))
    records = len(reference(data_file(shared_data, "GLBX.MDP3", "trades")))
    assert records == 4
    assert estimate.records == records
    assert estimate.bytes == records * 48  # a trade record is 48 bytes
    assert estimate.cost_usd == databento_api.server.expected_cost(records * 48)
    assert estimate.cost_usd == Decimal("0.0000024")
    sent = [(m, e) for m, e, _ in databento_api.server.requests]
    assert sent == [
        ("POST", "metadata.get_record_count"),
        ("POST", "metadata.get_billable_size"),
        ("POST", "metadata.get_cost"),
    ]


def test_fetch_yields_the_days_trades_as_the_official_client_reads_them(
    databento_api: Running, shared_data: Path
) -> None:
    batches, report = fetch_all(source(databento_api), Chunk("cme", "ESH1", DAY, NEXT_DAY))
    frame = reference(data_file(shared_data, "GLBX.MDP3", "trades"))
    (trades,) = batches
    assert isinstance(trades, TradeColumns)
    assert str(trades.instrument) == "ESH1.cme"
    data = trades.data
    assert data["ts_event"].tolist() == frame["ts_event"].astype("int64").tolist()
    assert (
        data["price"].tolist()
        == frame["price"].tolist()
        == [3702750000000] * 2
        + [
            3702500000000,
            3702750000000,
        ]
    )
    assert data["quantity"].tolist() == (frame["size"].astype("int64") * QUANTITY_SCALE).tolist()
    assert data["side"].tolist() == [Side.BUY, Side.BUY, Side.SELL, Side.BUY]
    assert data["trade_id"].tolist() == frame["sequence"].astype("int64").tolist()
    assert report.records_seen == 4 and report.rejected_count == 0
    assert report.detail == "GLBX.MDP3 trades ESH1"
    assert report.cost_usd == Decimal("0.0000024")
    (_, endpoint, form) = databento_api.server.requests[-1]
    assert endpoint == "timeseries.get_range"
    assert form["start"] == str(DAY) and form["end"] == str(NEXT_DAY)
    assert (form["dataset"], form["schema"], form["symbols"]) == ("GLBX.MDP3", "trades", "ESH1")
    assert (form["encoding"], form["compression"]) == ("dbn", "zstd")


def test_part_of_a_day_keeps_only_the_records_received_in_it(databento_api: Running) -> None:
    end = 1609113600350920632  # the third trade's ts_recv: it and the fourth are left out
    src = source(databento_api)
    estimate = asyncio.run(src.estimate(Chunk("cme", "ESH1", DAY, end)))
    batches, report = fetch_all(src, Chunk("cme", "ESH1", DAY, end))
    assert estimate.records == report.records_seen == sum(len(b) for b in batches) == 2


def test_a_day_without_data_is_an_empty_valid_stream(databento_api: Running) -> None:
    batches, report = fetch_all(source(databento_api), Chunk("cme", "ESH1", NEXT_DAY, NEXT_DAY + 1))
    assert batches == []
    assert report.records_seen == 0


def test_tbbo_gives_the_trades_and_the_book_before_each(
    databento_api: Running, shared_data: Path
) -> None:
    chunk = Chunk("nasdaq", "NVDA", DAY, NEXT_DAY)
    batches, report = fetch_all(source(databento_api, schema="tbbo"), chunk)
    frame = reference(data_file(shared_data, "XNAS.ITCH", "tbbo"))
    trades = [b for b in batches if isinstance(b, TradeColumns)]
    quotes = [b for b in batches if isinstance(b, QuoteColumns)]
    assert len(trades) == len(quotes) == 1
    assert trades[0].data["price"].tolist() == frame["price"].tolist()
    assert quotes[0].data["bid_price"].tolist() == frame["bid_px_00"].tolist()
    assert (
        quotes[0].data["ask_size"].tolist()
        == (frame["ask_sz_00"].astype("int64") * QUANTITY_SCALE).tolist()
    )
    assert report.detail == "XNAS.ITCH tbbo NVDA"


def test_an_instrument_not_configured_is_unsupported_with_the_configured_list(
    databento_api: Running,
) -> None:
    message = source(databento_api).unsupported("cme", "NQH1")
    assert message is not None
    assert "cme:NQH1 is not configured" in message
    assert "databento.symbols" in message
    assert "cme:ESH1 (GLBX.MDP3 ESH1)" in message and "nasdaq:NVDA (XNAS.ITCH NVDA)" in message
    assert source(databento_api).unsupported("CME", "ESH1") is None


def test_a_wrong_key_is_a_config_error_naming_the_variable(databento_api: Running) -> None:
    with pytest.raises(ConfigError, match=r"refused the API key \(HTTP 401.*DATABENTO_API_KEY"):
        asyncio.run(
            source(databento_api, key="db-wrong").estimate(Chunk("cme", "ESH1", DAY, NEXT_DAY))
        )
    method, endpoint, _ = databento_api.server.requests[0]
    assert (method, endpoint) == ("POST", "metadata.get_record_count")


def test_a_missing_key_is_a_config_error(databento_api: Running) -> None:
    config = DatabentoConfig(gateway=databento_api.gateway, symbols=(ES,))
    with pytest.raises(ConfigError, match="DATABENTO_API_KEY is not set"):
        asyncio.run(DatabentoSource(config).estimate(Chunk("cme", "ESH1", DAY, NEXT_DAY)))
    assert databento_api.server.requests == []


def test_an_unknown_dataset_is_permanent_and_named(databento_api: Running) -> None:
    src = source(databento_api, dataset="GLBX.NOPE")
    with pytest.raises(PermanentError, match=r"GLBX\.NOPE trades ESH1.*422.*Unknown dataset"):
        asyncio.run(src.estimate(Chunk("cme", "ESH1", DAY, NEXT_DAY)))


def test_a_schema_the_dataset_lacks_is_permanent_and_named(databento_api: Running) -> None:
    src = source(databento_api, schema="mbo")  # EQUS.MINI publishes no order book
    with pytest.raises(PermanentError, match=r"EQUS\.MINI mbo QQQ.*422.*'mbo' is not available"):
        fetch_all(src, Chunk("equs", "QQQ", DAY, NEXT_DAY))


@pytest.mark.parametrize(("schema", "width"), [("ohlcv-1s", 10**9), ("ohlcv-1m", 60 * 10**9)])
def test_an_ohlcv_schema_gives_bars_with_the_clients_values(
    databento_api: Running, shared_data: Path, schema: str, width: int
) -> None:
    chunk = Chunk("cme", "ESH1", DAY, NEXT_DAY)
    batches, report = fetch_all(source(databento_api, schema=schema), chunk)
    [batch] = batches
    assert isinstance(batch, BarBatch)
    path = shared_data / f"databento/python-tests/tests/data/GLBX.MDP3/test_data.{schema}.dbn.zst"
    expected = list(databento.DBNStore.from_bytes(path.read_bytes()))
    assert report.records_seen == len(expected) == len(batch.bars) > 0
    for bar, record in zip(batch.bars, expected, strict=True):
        assert (bar.exchange, bar.symbol, str(bar.bar_type)) == ("cme", "ESH1", schema[-2:])
        assert (bar.open_time, bar.close_time) == (record.ts_event, record.ts_event + width)
        assert [p * 10**9 for p in (bar.open, bar.high, bar.low, bar.close)] == [
            record.open,
            record.high,
            record.low,
            record.close,
        ]
        assert bar.volume == record.volume


def test_an_unknown_schema_is_refused_before_any_request_naming_those_there_are() -> None:
    with pytest.raises(PermanentError, match=r"'ohlcv-2m'.*trades.*ohlcv-1d"):
        DatabentoSource(DatabentoConfig(api_key="k"), schema="ohlcv-2m")


def test_a_symbol_databento_cannot_resolve_is_permanent(databento_api: Running) -> None:
    config = DatabentoConfig(
        api_key=databento_api.key,
        gateway=databento_api.gateway,
        symbols=(DatabentoSymbol(exchange="cme", symbol="ESZ9", dataset="GLBX.MDP3"),),
    )
    with pytest.raises(PermanentError, match=r"ESZ9.*symbology_invalid_request"):
        asyncio.run(DatabentoSource(config).estimate(Chunk("cme", "ESZ9", DAY, NEXT_DAY)))


# databento 0.87 opens the downloaded file in ``DBNStore.from_file`` and raises without closing
# it when the body is not DBN: the file object is released unclosed (a ResourceWarning).
LIBRARY_LEAKS_THE_FILE = pytest.mark.filterwarnings("ignore::ResourceWarning")


@LIBRARY_LEAKS_THE_FILE
def test_a_corrupt_body_is_bad_data_naming_the_download(databento_api: Running) -> None:
    databento_api.server.faults["timeseries.get_range"] = [Answer(200, b"<html>oops</html>")]
    with pytest.raises(BadDataError, match=r"GLBX\.MDP3 trades ESH1.*downloaded file .*dbn\.zst"):
        fetch_all(source(databento_api), Chunk("cme", "ESH1", DAY, NEXT_DAY))


@LIBRARY_LEAKS_THE_FILE
def test_a_truncated_body_is_bad_data_naming_the_download(databento_api: Running) -> None:
    server = databento_api.server
    chunk = Chunk("cme", "ESH1", DAY, NEXT_DAY)
    whole = server.answer("POST", "timeseries.get_range", _form(chunk, "GLBX.MDP3", "ESH1"))
    server.faults["timeseries.get_range"] = [Answer(200, whole.body[:-12])]  # zstd cut
    with pytest.raises(BadDataError, match=r"GLBX\.MDP3-trades-2020-12-28\.dbn\.zst"):
        fetch_all(source(databento_api), chunk)
    plain = zstandard.ZstdDecompressor().decompressobj().decompress(whole.body)
    server.faults["timeseries.get_range"] = [Answer(200, plain[:-7])]  # the last record cut
    with pytest.raises(BadDataError, match=r"2020-12-28\.dbn\.zst: truncated: .* record 3"):
        fetch_all(source(databento_api), chunk)


def test_a_server_error_is_retried_then_transient(databento_api: Running) -> None:
    chunk = Chunk("cme", "ESH1", DAY, NEXT_DAY)
    failing = Answer(500, b'{"detail": "Internal error"}')
    databento_api.server.faults["timeseries.get_range"] = [failing]
    batches, _ = fetch_all(source(databento_api, retries=1), chunk)
    assert sum(len(b) for b in batches) == 4  # the second attempt succeeded
    databento_api.server.faults["timeseries.get_range"] = [failing, failing]
    with pytest.raises(TransientError, match=r"failed 2 times.*HTTP 500.*Internal error"):
        fetch_all(source(databento_api, retries=1), chunk)


def _form(chunk: Chunk, dataset: str, symbol: str) -> dict[str, str]:
    return {
        "dataset": dataset,
        "schema": "trades",
        "symbols": symbol,
        "stype_in": "raw_symbol",
        "start": str(chunk.start_ns),
        "end": str(chunk.end_ns),
    }


def test_fetched_rows_match_record_count_of_every_served_trades_file(
    databento_api: Running, shared_data: Path
) -> None:
    frame = reference(data_file(shared_data, "XNAS.ITCH", "trades"))
    batches, report = fetch_all(source(databento_api), Chunk("nasdaq", "NVDA", DAY, NEXT_DAY))
    data = np.concatenate([b.data for b in batches])
    assert report.records_seen == len(frame) == len(data) == 4
    assert data["side"].tolist() == [
        {"A": Side.SELL, "B": Side.BUY, "N": Side.NONE}[s] for s in frame["side"]
    ]


def test_a_parent_symbol_is_unsupported_as_it_mixes_contracts(databento_api: Running) -> None:
    parent = DatabentoSymbol(
        exchange="cme", symbol="ES", dataset="GLBX.MDP3", raw_symbol="ES.FUT", stype_in="parent"
    )
    config = DatabentoConfig(api_key="k", gateway=databento_api.gateway, symbols=(parent,))
    message = DatabentoSource(config).unsupported("cme", "ES")
    assert message is not None and "stype_in = parent" in message
    with pytest.raises(PermanentError, match="mixes many contracts"):
        asyncio.run(DatabentoSource(config).estimate(Chunk("cme", "ES", DAY, NEXT_DAY)))
    assert databento_api.server.requests == []


def test_rejected_records_are_named_by_their_place_in_the_file_whatever_the_blocks(
    shared_data: Path,
) -> None:
    quotes = shared_data / "databento/python-tests/tests/data/EQUS.MINI/test_data.bbo-1s.dbn.zst"
    bars = shared_data / "databento/python-tests/tests/data/GLBX.MDP3/test_data.ohlcv-1s.dbn.zst"

    def rejected(path: Path, batch_rows: int, symbols: dict[str, str] | None) -> list[int]:
        blocks = dbn_file_batches(path, exchange="x", symbols=symbols, batch_rows=batch_rows)
        return sorted(e.position for block in blocks for e in block.errors)

    assert rejected(quotes, 10_000, None) == rejected(quotes, 3, None) == [0, 1, 2, 3]
    # Bars of an instrument the mapping leaves out are rejected, each at its own place.
    others = {"NQH1": "NQH1"}
    assert rejected(bars, 10_000, others) == rejected(bars, 3, others) == [0, 1, 2, 3]
