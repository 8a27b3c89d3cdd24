"""Archive import benchmark: a month of BTCUSDT-like trades from a local copy of Binance's
public archive, downloaded, verified, unzipped, parsed and stored.

Run ``python -m benchmarks.bench_archive [--rows N] [--backend sqlite|postgresql|all]
[--pg-url URL] [--chunk-rows N]``. It writes ``BTCUSDT-trades-2025-03.zip`` (headerless trades
CSV, microsecond timestamps as the archive writes them from 2025 on) and its ``.CHECKSUM``
under ``benchmarks/.work/``, serves them with ``python -m http.server`` in a child process,
and measures, each as ticks per second and peak RSS of the phase:

- parse only: ``read_trade_file`` over the zip on disk (unzip + parse + convert);
- fetch only: ``BinanceArchiveSource.fetch`` (HTTP download + SHA-256 + zip CRC + parse);
- fetch + store: the same as a backfill job (``JobRunner``: chunk bookkeeping, provenance),
  per backend.

The data: ``--rows`` trades (5,000,000 by default) spread over March 2025; ids count up;
prices walk around 85,000 with 2 decimals, quantities have 5 decimals, buys and sells mixed.
The figures are printed (Markdown) to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from benchmarks.bench_storage import DEFAULT_PG_URL, WORK_DIR, postgres_store, sqlite_store
from benchmarks.results import write_section
from ticklane.core.time import datetime_to_ns
from ticklane.datamanager.history.binance_archive_source import BinanceArchiveSource
from ticklane.datamanager.history.jobs import JobRunner, create_job
from ticklane.datamanager.history.source import Chunk, ChunkReport
from ticklane.datamanager.importer import read_trade_file
from ticklane.storage.base import TickStore

MONTH_START: Final = datetime(2025, 3, 1, tzinfo=UTC)
MONTH_END: Final = datetime(2025, 4, 1, tzinfo=UTC)
ZIP_NAME: Final = "BTCUSDT-trades-2025-03.zip"
ZIP_PATH: Final = f"data/spot/monthly/trades/BTCUSDT/{ZIP_NAME}"
BUILD_ROWS: Final = 500_000
_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- the month file ----------------------------------------------------------------------------


def build_month(root: Path, rows: int) -> Path:
    """Write the month's zip and ``.CHECKSUM`` under ``root`` (kept when already there)."""
    target = root / ZIP_PATH
    marker = target.with_suffix(f".{rows}.done")
    if marker.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    start_us = datetime_to_ns(MONTH_START) // 1000
    span_us = (datetime_to_ns(MONTH_END) - datetime_to_ns(MONTH_START)) // 1000
    price_cents = 8_500_000
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        csv_path = Path(tmp) / ZIP_NAME.replace(".zip", ".csv")
        with csv_path.open("wb") as out:
            for first in range(0, rows, BUILD_ROWS):
                size = min(BUILD_ROWS, rows - first)
                steps = rng.integers(-3, 4, size).cumsum() + price_cents
                price_cents = int(steps[-1])
                offsets = np.sort(rng.integers(0, span_us // rows * size, size))
                times = start_us + span_us * first // rows + offsets
                qty = rng.integers(1, 200_000, size)  # 0.00001 .. 2 BTC in 1e-5 steps
                out.write(_csv_block(first, steps, qty, times, rng.random(size) < 0.5))
        progress(f"wrote {csv_path.stat().st_size / 2**20:,.0f} MiB of CSV; zipping")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            archive.write(csv_path, csv_path.name)
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    Path(f"{target}.CHECKSUM").write_text(f"{digest.hexdigest()}  {ZIP_NAME}\n")
    marker.touch()
    return target


def _csv_block(
    first_id: int,
    price_cents: np.ndarray,
    qty_units: np.ndarray,
    times_us: np.ndarray,
    buyer_is_maker: np.ndarray,
) -> bytes:
    """Rows as the archive writes them: ``id,price,qty,quoteQty,time,isBuyerMaker,True``."""
    quote_units = price_cents * qty_units  # 1e-7 units: 2 + 5 decimals
    table = pa.table(
        {
            "id": pa.array(np.arange(first_id, first_id + len(price_cents)) + 4_600_000_000),
            "price": _fixed(price_cents, 2, 8),
            "qty": _fixed(qty_units, 5, 8),
            "quote": _fixed(quote_units, 7, 8),
            "time": pa.array(times_us),
            "maker": pa.array(np.where(buyer_is_maker, "True", "False")),
            "best": pa.array(np.full(len(price_cents), "True")),
        }
    )
    sink = pa.BufferOutputStream()
    options = pcsv.WriteOptions(include_header=False, quoting_style="none")
    pcsv.write_csv(table, sink, options)
    return bytes(sink.getvalue().to_pybytes())


def _fixed(units: np.ndarray, decimals: int, shown: int) -> pa.Array:
    """Integers of ``10**-decimals`` as text with ``shown`` decimals (``85000.01000000``)."""
    whole = pc.cast(pa.array(units // 10**decimals), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(units % 10**decimals), pa.string()), decimals, "0")
    return pc.binary_join_element_wise(whole, pc.utf8_rpad(fraction, shown, "0"), ".")


# --- measuring ---------------------------------------------------------------------------------


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM


def peak_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, run: Callable[[], int]) -> tuple[str, int, float, float]:
    reset_peak_rss()
    started = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - started
    progress(f"{name}: {rows:,} rows in {seconds:.1f} s")
    return name, rows, seconds, peak_rss_mib()


def import_section(
    name: str,
    module: str,
    description: str,
    unit: str,
    target: int,
    results: list[tuple[str, int, float, float]],
) -> str:
    """The RESULTS.md section of an import benchmark: one row per phase, the phases that
    store judged against ``target`` (``unit``/s)."""
    lines = [
        f"## {name}",
        "",
        f"`python -m benchmarks.{module} --write-results` on "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start.",
        "",
        description,
        "",
        f"| phase | {unit} | seconds | {unit}/s | peak RSS MiB | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for phase, rows, seconds, rss in results:
        rate = rows / seconds
        met = "met" if rate >= target else "not met"
        verdict = f"≥ {target:,}: {met}" if "store" in phase else "-"
        lines.append(
            f"| {phase} | {rows:,} | {seconds:.1f} | {rate:,.0f} | {rss:,.0f} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def parse_only(path: Path, chunk_rows: int) -> int:
    rows = 0
    for block in read_trade_file(path, exchange="binance", symbol="BTCUSDT", chunk_rows=chunk_rows):
        rows += sum(len(batch) for batch in block.batches)
    return rows


def fetch(url: str, chunk_rows: int, store: TickStore | None) -> int:
    """Fetch the month through the source; with a store, as a backfill job storing it."""
    chunk = Chunk("binance", "BTCUSDT", datetime_to_ns(MONTH_START), datetime_to_ns(MONTH_END))
    source = BinanceArchiveSource(url, chunk_rows=chunk_rows, work_dir=WORK_DIR)
    (only,) = source.chunks(chunk.exchange, chunk.symbol, chunk.start_ns, chunk.end_ns)
    assert only == chunk, "a whole published month is one chunk"

    async def run() -> int:
        rows = 0
        try:
            if store is not None:  # the path of `data-manager backfill fetch`: a job
                job, _ = create_job(
                    store.history, "backfill", source, chunk.exchange, [chunk.symbol],
                    "trades", chunk.start_ns, chunk.end_ns,
                )  # fmt: skip
                outcome = await JobRunner(store, source).run(job)
                return outcome.job.rows_stored + outcome.job.rows_duplicate
            async for batch in source.fetch(chunk, ChunkReport()):
                rows += len(batch)
        finally:
            await source.aclose()
        return rows

    return asyncio.run(run())


@contextmanager
def http_server(root: Path) -> Iterator[str]:
    """``python -m http.server`` in a child process, so serving does not share our GIL."""
    with socket_port() as port:
        pass
    child = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.head(f"{url}/{ZIP_PATH}", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:  # not listening yet
                time.sleep(0.05)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


@contextmanager
def socket_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all", "none"), default="all")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--write-results", action="store_true", help="Update RESULTS.md.")
    args = parser.parse_args(argv)
    root = WORK_DIR / "archive"
    zip_path = build_month(root, args.rows)
    size = zip_path.stat().st_size
    results = [
        measure("parse only (unzip, parse, convert)", lambda: parse_only(zip_path, args.chunk_rows))
    ]
    with http_server(root) as url:
        results.append(
            measure(
                "fetch only (download, sha256, CRC, parse)",
                lambda: fetch(url, args.chunk_rows, None),
            )
        )
        backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
        for backend in backends:
            if backend == "none":
                continue
            opened = sqlite_store() if backend == "sqlite" else postgres_store(args.pg_url)
            with opened as (store, version):
                progress(f"storing into {version}")
                results.append(
                    measure(
                        f"fetch + store into {backend}", lambda: fetch(url, args.chunk_rows, store)
                    )
                )
    description = (
        f"Archive import: {args.rows:,} trades, {ZIP_NAME} {size / 2**20:,.1f} MiB zipped, "
        f"chunk_rows {args.chunk_rows:,}"
    )
    section = import_section(
        "archive import", "bench_archive", description, "ticks", 300_000, results
    )
    print(section)
    if args.write_results:
        write_section("archive import", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
