"""The Binance archive source against a local archive serving zips built from recorded trades."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.errors import BadDataError, PermanentError, TransientError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_DAY, NANOS_PER_MILLI, datetime_to_ns
from ticklane.datamanager.history.binance_archive_source import BinanceArchiveSource
from ticklane.datamanager.history.source import Chunk, ChunkReport, ProvenanceKind
from ticklane.venues.binance.archive import (
    ArchiveKind,
    ArchiveMissingError,
    ArchiveNotPublishedError,
)

from archive_server import (
    AggTrade,
    Answer,
    ArchiveTree,
    Server,
    Trade,
    agg_trades_csv,
    aggregate,
    recorded_binance_trades,
    serve,
    trades_csv,
)

DAILY = "data/spot/daily/trades/BTCUSDT"
DAY = datetime(2023, 4, 5, tzinfo=UTC)
DAY_NS = datetime_to_ns(DAY)
LATER = datetime(2026, 1, 1, tzinfo=UTC)
BTCUSDT = InstrumentId("binance", "BTCUSDT")


@pytest.fixture(scope="module")
def trades(shared_data: Path) -> list[Trade]:
    """The recorded trades of 2023-04-05 (the capture starts a millisecond before it)."""
    day_end_ms = (DAY_NS + NANOS_PER_DAY) // NANOS_PER_MILLI
    found = [
        t
        for t in recorded_binance_trades(shared_data)
        if DAY_NS // NANOS_PER_MILLI <= t.time_ms < day_end_ms
    ]
    assert len(found) > 3000
    return found


@pytest.fixture
def tree() -> ArchiveTree:
    return ArchiveTree()


@pytest.fixture
def archive(tree: ArchiveTree) -> Iterator[tuple[str, Server]]:
    server = Server(tree.respond)
    with serve(server) as url:
        yield url, server


def expected(trades: list[Trade], ts_ns: dict[int, int] | None = None) -> np.ndarray[Any, Any]:
    rows = [
        (
            ts_ns[t.trade_id] if ts_ns else t.time_ms * NANOS_PER_MILLI,
            t.trade_id,
            price_to_raw(t.price),
            quantity_to_raw(t.qty),
            2 if t.buyer_is_maker else 1,
            t.buyer_is_maker,
        )
        for t in trades
    ]
    return np.array(rows, dtype=TRADE_DTYPE)


def fetch_all(source: BinanceArchiveSource, chunk: Chunk) -> tuple[list[TradeColumns], ChunkReport]:
    report = ChunkReport()

    async def run() -> list[TradeColumns]:
        try:
            batches = []
            async for batch in source.fetch(chunk, report):
                assert isinstance(batch, TradeColumns)
                batches.append(batch)
            return batches
        finally:
            await source.aclose()

    return asyncio.run(run()), report


def joined(batches: list[TradeColumns]) -> np.ndarray[Any, Any]:
    assert all(batch.instrument == BTCUSDT for batch in batches)
    return np.concatenate([batch.data for batch in batches])


def day_chunk(start_ns: int = DAY_NS, end_ns: int = DAY_NS + NANOS_PER_DAY) -> Chunk:
    return Chunk("binance", "BTCUSDT", start_ns, end_ns)


def test_a_day_file_gives_exactly_the_recorded_trades_with_its_checksum_as_provenance(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    body = tree.add(f"{DAILY}/BTCUSDT-trades-2023-04-05.zip", trades_csv(trades))
    url, _ = archive
    source = BinanceArchiveSource(url, chunk_rows=1000)

    batches, report = fetch_all(source, day_chunk())

    assert np.array_equal(joined(batches), expected(trades))
    assert len(batches) > 1  # read in bounded blocks, not whole
    assert report.records_seen == len(trades) and report.rejected_count == 0
    sha = hashlib.sha256(body).hexdigest()
    assert report.detail == f"BTCUSDT-trades-2023-04-05.zip sha256={sha}"
    assert (source.name, source.kind, source.paid) == (
        "binance-archive",
        ProvenanceKind.ARCHIVE,
        False,
    )


def test_a_chunk_inside_the_day_keeps_only_its_own_trades(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    tree.add(f"{DAILY}/BTCUSDT-trades-2023-04-05.zip", trades_csv(trades))
    start_ms, end_ms = trades[500].time_ms, trades[2500].time_ms
    chunk = day_chunk(start_ms * NANOS_PER_MILLI, end_ms * NANOS_PER_MILLI)

    batches, report = fetch_all(BinanceArchiveSource(archive[0]), chunk)

    inside = [t for t in trades if start_ms <= t.time_ms < end_ms]
    assert np.array_equal(joined(batches), expected(inside))
    assert report.records_seen == len(trades)  # read all, kept the chunk's


def test_microsecond_timestamps_from_2025_are_read_as_microseconds(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    # The recorded day moved to 2025-01-01, written as the archive writes 2025 files: µs.
    shift_ms = (datetime_to_ns(datetime(2025, 1, 1, tzinfo=UTC)) - DAY_NS) // NANOS_PER_MILLI
    moved = [replace(t, time_ms=t.time_ms + shift_ms) for t in trades]
    micros = {t.trade_id: t.time_ms * 1000 + t.trade_id % 1000 for t in moved}
    assert len(str(micros[moved[0].trade_id])) == 16
    path = "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-01.zip"
    tree.add(path, trades_csv(moved, microseconds=micros))
    chunk = day_chunk(
        DAY_NS + shift_ms * NANOS_PER_MILLI, DAY_NS + shift_ms * NANOS_PER_MILLI + NANOS_PER_DAY
    )

    batches, _ = fetch_all(BinanceArchiveSource(archive[0]), chunk)

    ts_ns = {key: value * 1000 for key, value in micros.items()}
    assert np.array_equal(joined(batches), expected(moved, ts_ns))


def test_agg_trades_files_are_read_with_their_eight_columns(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    rows = aggregate(trades)
    assert len(rows) < len(trades)  # the capture has multi-fill taker orders
    path = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-04-05.zip"
    tree.add(path, agg_trades_csv(rows))

    source = BinanceArchiveSource(archive[0], kind=ArchiveKind.AGG_TRADES)
    batches, report = fetch_all(source, day_chunk())

    assert np.array_equal(joined(batches), _agg_expected(rows))
    assert report.detail.startswith("BTCUSDT-aggTrades-2023-04-05.zip sha256=")


def _agg_expected(rows: list[AggTrade]) -> np.ndarray[Any, Any]:
    return np.array(
        [
            (
                r.time_ms * NANOS_PER_MILLI,
                r.agg_id,
                price_to_raw(r.price),
                quantity_to_raw(r.qty),
                2 if r.buyer_is_maker else 1,
                r.buyer_is_maker,
            )
            for r in rows
        ],
        dtype=TRADE_DTYPE,
    )


def test_a_zip_not_matching_its_checksum_is_rejected_naming_it_and_both_hashes(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade], tmp_path: Path
) -> None:
    published = b"the bytes binance hashed"
    body = tree.add(
        f"{DAILY}/BTCUSDT-trades-2023-04-05.zip", trades_csv(trades), checksum_of=published
    )
    source = BinanceArchiveSource(archive[0], work_dir=tmp_path)

    with pytest.raises(BadDataError) as caught:
        fetch_all(source, day_chunk())

    message = str(caught.value)
    assert "BTCUSDT-trades-2023-04-05.zip" in message
    assert hashlib.sha256(body).hexdigest() in message
    assert hashlib.sha256(published).hexdigest() in message
    assert list(tmp_path.iterdir()) == []  # the download was removed


def test_a_corrupted_zip_is_rejected_before_any_row_is_yielded(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    # Published broken: the checksum matches the damaged bytes, so only the zip check sees it.
    tree.add(f"{DAILY}/BTCUSDT-trades-2023-04-05.zip", trades_csv(trades), damage=True)
    source = BinanceArchiveSource(archive[0], chunk_rows=100)
    report = ChunkReport()
    yielded: list[TradeColumns] = []

    async def run() -> None:
        try:
            async for batch in source.fetch(day_chunk(), report):
                assert isinstance(batch, TradeColumns)
                yielded.append(batch)
        finally:
            await source.aclose()

    with pytest.raises(BadDataError, match=r"BTCUSDT-trades-2023-04-05\.zip"):
        asyncio.run(run())
    assert yielded == []


def test_a_missing_day_is_reported_missing_once_it_should_have_been_published(
    archive: tuple[str, Server],
) -> None:
    url, server = archive
    source = BinanceArchiveSource(url, now=lambda: LATER)

    with pytest.raises(ArchiveMissingError) as caught:
        fetch_all(source, day_chunk())

    assert isinstance(caught.value, PermanentError)
    assert "BTCUSDT-trades-2023-04-05.zip is not in the archive" in str(caught.value)
    assert caught.value.file.label == "2023-04-05"
    assert [path for _, path, _ in server.requests] == [
        f"/{DAILY}/BTCUSDT-trades-2023-04-05.zip.CHECKSUM"
    ]


def test_todays_file_is_not_published_yet_which_is_transient(archive: tuple[str, Server]) -> None:
    same_day = datetime(2023, 4, 5, 18, tzinfo=UTC)
    source = BinanceArchiveSource(archive[0], now=lambda: same_day)

    with pytest.raises(ArchiveNotPublishedError, match="not published yet") as caught:
        fetch_all(source, day_chunk())

    assert isinstance(caught.value, TransientError)


def test_a_whole_month_is_one_chunk_read_from_the_monthly_file(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    path = "data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2023-04.zip"
    tree.add(path, trades_csv(trades))
    source = BinanceArchiveSource(archive[0], now=lambda: LATER)
    april = datetime_to_ns(datetime(2023, 4, 1, tzinfo=UTC))
    may = datetime_to_ns(datetime(2023, 5, 1, tzinfo=UTC))

    chunks = source.chunks("binance", "BTCUSDT", april - NANOS_PER_DAY // 2, may + 5)
    assert [(c.start_ns, c.end_ns) for c in chunks] == [
        (april - NANOS_PER_DAY // 2, april),
        (april, may),
        (may, may + 5),
    ]
    batches, report = fetch_all(source, chunks[1])

    assert np.array_equal(joined(batches), expected(trades))
    assert report.detail.startswith("BTCUSDT-trades-2023-04.zip sha256=")


def test_an_unpublished_month_falls_back_to_its_daily_files(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    # Two recorded trades moved to each day of April 2023, one daily zip per day.
    april = datetime_to_ns(datetime(2023, 4, 1, tzinfo=UTC))
    days: list[Trade] = []
    for day in range(30):
        shift_ms = (april + day * NANOS_PER_DAY - DAY_NS) // NANOS_PER_MILLI
        moved = [replace(t, time_ms=t.time_ms + shift_ms) for t in trades[:2]]
        tree.add(f"{DAILY}/BTCUSDT-trades-2023-04-{day + 1:02d}.zip", trades_csv(moved))
        days.extend(moved)
    source = BinanceArchiveSource(archive[0], now=lambda: LATER)
    (chunk,) = source.chunks("binance", "BTCUSDT", april, april + 30 * NANOS_PER_DAY)

    batches, report = fetch_all(source, chunk)

    assert np.array_equal(joined(batches), expected(days))
    assert report.detail.count("sha256=") == 30


def test_a_server_error_is_retried_and_the_estimate_is_the_zip_size(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade]
) -> None:
    body = tree.add(f"{DAILY}/BTCUSDT-trades-2023-04-05.zip", trades_csv(trades))
    url, server = archive
    source = BinanceArchiveSource(url, backoff_s=0.01)
    estimate = asyncio.run(source.estimate(day_chunk()))
    assert (estimate.bytes, estimate.records, estimate.cost_usd) == (len(body), None, Decimal(0))
    server.faults.extend([Answer(503, b"slow down"), Answer(500, b"oops")])

    batches, _ = fetch_all(source, day_chunk())

    assert np.array_equal(joined(batches), expected(trades))


def test_other_venues_are_not_served() -> None:
    source = BinanceArchiveSource()
    assert source.unsupported("binance", "btcusdt") is None
    assert "Binance spot only" in (source.unsupported("kraken", "BTC/USD") or "")
    with pytest.raises(BadDataError, match="before it starts"):
        source.chunks("binance", "BTCUSDT", DAY_NS, DAY_NS)
    asyncio.run(source.aclose())


def test_a_month_whose_file_is_not_due_yet_is_split_in_days() -> None:
    # April 2023's monthly zip is due on Monday 2023-05-01 (published by 05-02 00:00 UTC).
    april = datetime_to_ns(datetime(2023, 4, 1, tzinfo=UTC))
    may = datetime_to_ns(datetime(2023, 5, 1, tzinfo=UTC))
    early = BinanceArchiveSource(now=lambda: datetime(2023, 5, 1, 12, tzinfo=UTC))
    late = BinanceArchiveSource(now=lambda: datetime(2023, 5, 2, tzinfo=UTC))
    daily_only = BinanceArchiveSource(use_monthly=False, now=lambda: LATER)

    assert len(early.chunks("binance", "BTCUSDT", april, may)) == 30
    assert len(late.chunks("binance", "BTCUSDT", april, may)) == 1
    assert len(daily_only.chunks("binance", "BTCUSDT", april, may)) == 30

    async def close() -> None:
        for source in (early, late, daily_only):
            await source.aclose()

    asyncio.run(close())


def test_a_caller_stopping_early_leaves_no_download_behind(
    tree: ArchiveTree, archive: tuple[str, Server], trades: list[Trade], tmp_path: Path
) -> None:
    tree.add(f"{DAILY}/BTCUSDT-trades-2023-04-05.zip", trades_csv(trades))
    source = BinanceArchiveSource(archive[0], chunk_rows=100, work_dir=tmp_path)

    async def first_batch() -> int:
        batches = source.fetch(day_chunk(), ChunkReport())
        try:
            async for batch in batches:
                return len(batch)
            return 0
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
            await source.aclose()

    assert asyncio.run(first_batch()) > 0
    assert list(tmp_path.iterdir()) == []
