"""DBN benchmark: a Databento trades file decoded, converted and stored as ticks.

Run ``python -m benchmarks.bench_dbn [--rows N] [--backend sqlite|postgresql|all|none]
[--pg-url URL] [--batch-rows N] [--per-batch]``. It builds, in a temporary folder under
``benchmarks/.work/``, a zstd DBN trades file of ``--rows`` records (2,000,000 by default)
from the real ESH1 trade records of ``../shared/data/databento/small/test_data.trades.dbn.zst``
(their metadata header and record bytes as the template): ``ts_event``/``ts_recv`` increase by
a few microseconds with runs of equal times, ``sequence`` counts up, prices walk in ES ticks
(0.25) around 3,720, sizes 1 to 40 contracts, buys and sells mixed. It measures, as records
per second and peak RSS:

- decode + convert: ``dbn_file_batches`` (zstd, ``np.frombuffer``, columns) alone;
- DBN to stored ticks: the same, every batch given to the sink of ``store.bulk_trades()``
  (the path backfill jobs take), per backend (stores set up as in ``bench_storage``). On
  PostgreSQL the records land in a day with no partition yet, so they are staged, keyed and
  attached; the seconds of those phases are printed too. ``--per-batch`` gives every batch to
  ``store.insert_trades`` instead (the path before ``bulk_trades``), for comparison.

The figures are printed (Markdown) to stdout; progress goes to stderr. The issue's target is
500,000 records/s from DBN to stored ticks.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Final

import numpy as np
import zstandard

from benchmarks.bench_archive import import_section, measure, progress
from benchmarks.bench_storage import DEFAULT_PG_URL, WORK_DIR, postgres_store, sqlite_store
from benchmarks.results import write_section
from ticklane.datamanager.history.databento_source import dbn_file_batches
from ticklane.storage.base import TickStore
from ticklane.storage.pgbulk import PostgresTradeSink
from ticklane.venues.databento.schemas import SIDE_ASK, SIDE_BID, TRADE_MSG

TEMPLATE: Final = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "databento"
    / "small"
    / "test_data.trades.dbn.zst"
)
TICK: Final = 250_000_000  # 0.25 index points in 1e-9 units
BUILD_ROWS: Final = 500_000


def build_file(directory: Path, rows: int) -> Path:
    """A zstd DBN trades file of ``rows`` records from the template's header and records."""
    raw = zstandard.ZstdDecompressor().decompressobj().decompress(TEMPLATE.read_bytes())
    header_length = 8 + int.from_bytes(raw[4:8], "little")
    header, template = raw[:header_length], np.frombuffer(raw[header_length:], dtype=TRADE_MSG)
    path = directory / "ESH1-trades.dbn.zst"
    rng = np.random.default_rng(7)
    ts, price, sequence = int(template["ts_event"][0]), int(template["price"][0]), 1_000_000
    with path.open("wb") as out, zstandard.ZstdCompressor(level=3).stream_writer(out) as writer:
        writer.write(header)
        for start in range(0, rows, BUILD_ROWS):
            count = min(BUILD_ROWS, rows - start)
            block = np.resize(template, count).copy()
            steps = rng.integers(0, 5_000, count) * (rng.random(count) > 0.2)  # runs of equals
            block["ts_event"] = ts + np.cumsum(steps)
            block["ts_recv"] = block["ts_event"] + rng.integers(100_000, 400_000, count)
            block["sequence"] = sequence + np.arange(count)
            block["price"] = price + np.cumsum(rng.integers(-1, 2, count)) * TICK
            block["size"] = rng.integers(1, 41, count)
            block["side"] = np.where(rng.random(count) < 0.5, SIDE_ASK, SIDE_BID)
            writer.write(block.tobytes())
            ts, price = int(block["ts_event"][-1]), int(block["price"][-1])
            sequence += count
    return path


def convert_only(path: Path, batch_rows: int) -> int:
    rows = 0
    for block in dbn_file_batches(path, exchange="cme", batch_rows=batch_rows):
        rows += sum(len(batch) for batch in block.trades)
    return rows


def convert_and_store(
    path: Path, batch_rows: int, store: TickStore, phases: Callable[[dict[str, float]], None]
) -> int:
    """Records stored through ``store.bulk_trades()``; ``phases`` gets the PostgreSQL sink's
    seconds per phase."""
    with store.bulk_trades() as sink:
        for block in dbn_file_batches(path, exchange="cme", batch_rows=batch_rows):
            for batch in block.trades:
                sink.add(batch)
    if isinstance(sink, PostgresTradeSink):
        phases(sink.timings)
    return sink.result.inserted


def convert_and_store_per_batch(path: Path, batch_rows: int, store: TickStore) -> int:
    rows = 0
    for block in dbn_file_batches(path, exchange="cme", batch_rows=batch_rows):
        for batch in block.trades:
            rows += store.insert_trades(batch).inserted
    return rows


def phase_text(timings: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items() if seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all", "none"), default="all")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--batch-rows", type=int, default=200_000)
    parser.add_argument(
        "--per-batch",
        action="store_true",
        help="store with insert_trades per batch instead of bulk_trades (the earlier path)",
    )
    parser.add_argument("--write-results", action="store_true", help="Update RESULTS.md.")
    args = parser.parse_args(argv)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="bench-dbn-", dir=WORK_DIR))
    try:
        path = build_file(directory, args.rows)
        size = path.stat().st_size
        progress(f"built {path.name}: {args.rows:,} records, {size / 2**20:,.1f} MiB")
        results = [measure("decode + convert", lambda: convert_only(path, args.batch_rows))]
        backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
        versions = []
        phases: list[str] = []

        def record(backend: str) -> Callable[[dict[str, float]], None]:
            def keep(timings: dict[str, float]) -> None:
                phases.append(f"{backend}: {phase_text(timings)}")
                progress(f"phases of {backend}: {phase_text(timings)}")

            return keep

        for backend in backends:
            if backend == "none":
                continue
            opened = sqlite_store() if backend == "sqlite" else postgres_store(args.pg_url)
            with opened as (store, version):
                versions.append(version)
                progress(f"storing into {version}")
                run = (
                    partial(convert_and_store_per_batch, path, args.batch_rows, store)
                    if args.per_batch
                    else partial(convert_and_store, path, args.batch_rows, store, record(backend))
                )
                results.append(measure(f"DBN to stored ticks, {backend}", run))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    description = (
        f"DBN trades: {args.rows:,} records, {size / 2**20:,.1f} MiB zstd, "
        f"batch_rows {args.batch_rows:,}, stored with "
        f"{'insert_trades per batch' if args.per_batch else 'bulk_trades'}; "
        f"stores: {'; '.join(versions) or 'none'}"
    )
    if phases:
        description += f"\n\nSeconds per phase of the bulk load: {'; '.join(phases)}."
    section = import_section("DBN import", "bench_dbn", description, "records", 500_000, results)
    print(section)
    if args.write_results:
        write_section("DBN import", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
