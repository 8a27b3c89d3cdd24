"""Storage benchmark: ingest, latest price, streaming reads, OHLC and small writes per backend.

Run ``python -m benchmarks.bench_storage [--backend sqlite|postgresql|all] [--ticks N] [--quick]
[--repeat K] [--write-results] [--profile DIR]``. It builds its own stores (a SQLite file under
``benchmarks/.work/``, a scratch PostgreSQL database ``ticklane_bench_<pid>`` that it drops at
the end), fills them with synthetic but realistic trades, measures, and prints a Markdown table
to stdout (progress goes to stderr).
Each backend is measured ``--repeat`` times (3, or 1 with ``--quick``) on a new store and every
figure is the median of the runs. A benchmark measures: it exits 0 whatever the figures, and
non-zero only on errors.

The data: ``--ticks`` trades of binance BTCUSDT in one UTC day plus one hour on each side (so
ingest crosses three daily partitions), and three other instruments whose keys sort before and
after it, so no look-up is of the only symbol stored. Timestamps increase in microseconds with
runs of equal timestamps; prices walk around 40,000 with 2 decimals; quantities have 5 to 8
decimals; buys and sells are mixed. Last, the bulk figures store two more days of BTCUSDT in
sorted batches of 200,000, as history jobs do: one day into nothing stored, one with the first
half of every batch stored already (a resumed job).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from ticklane.core.bars import Timeframe
from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.errors import StorageError
from ticklane.core.fixed import PRICE_SCALE, QUANTITY_DECIMALS, price_from_raw, quantity_from_raw
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.ticks import TradeTick
from ticklane.core.time import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MINUTE
from ticklane.storage.base import Order, TickStore
from ticklane.storage.postgres import PostgresTickStore
from ticklane.storage.sqlite import SqliteTickStore

SECTION: Final = "storage"
BENCH_DIR: Final = Path(__file__).resolve().parent
WORK_DIR: Final = BENCH_DIR / ".work"
RESULTS_FILE: Final = BENCH_DIR / "RESULTS.md"
DEFAULT_PG_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"

BATCH_ROWS: Final = 10_000
BULK_ROWS: Final = 200_000  # a history job's batch: one instrument, sorted, nothing stored yet
DAY_START_NS: Final = 1_717_372_800 * 10**9  # 2024-06-03T00:00:00Z
MAIN: Final = InstrumentId("binance", "BTCUSDT")
# (instrument, start price in cents, largest price step in cents); keys sort around MAIN's.
OTHERS: Final = (
    (InstrumentId("binance", "AVAXUSDT"), 3_500, 1),
    (InstrumentId("binance", "ETHUSDT"), 380_000, 2),
    (InstrumentId("coinbase", "BTC-USD"), 4_000_000, 5),
)
SAME_TS_SHARE: Final = 0.25  # trades stamped like the one before (one taker, several makers)
CENT: Final = PRICE_SCALE // 100

BACKEND_NAMES: Final = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

Array = npt.NDArray[Any]
T = TypeVar("T")


# -- progress ---------------------------------------------------------------------------------

_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


# -- plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much to store and how often to repeat each measurement."""

    day_ticks: int  # MAIN trades inside the measured day
    other_ticks: int  # trades of each other instrument
    duplicate_batches: int  # stored batches re-inserted per duplicate round
    rounds: int  # repeats of each measurement; the median is reported
    latest_warmup: int
    latest_calls: int  # per round
    single_inserts: int
    batches_1000: int  # per insert path
    hour_queries: int
    limit_queries: int

    @staticmethod
    def make(ticks: int, quick: bool) -> Plan:
        return Plan(
            day_ticks=ticks,
            other_ticks=max(ticks // 20, BATCH_ROWS),
            duplicate_batches=10 if quick else 30,
            rounds=3,
            latest_warmup=500 if quick else 1_000,
            latest_calls=2_000 if quick else 5_000,
            single_inserts=300 if quick else 1_000,
            batches_1000=5 if quick else 10,
            hour_queries=3 if quick else 5,
            limit_queries=20 if quick else 50,
        )


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    main: Array  # MAIN's stored trades, in key order
    day_ticks: int
    batches: list[TradeColumns]  # every stored trade in batches of BATCH_ROWS, by first ts
    live: Array  # MAIN trades after the stored ones, for the small-write figures
    bulk: Array  # MAIN trades of two later days, for the bulk figures (new, then half stored)

    @property
    def total(self) -> int:
        return sum(len(batch) for batch in self.batches)


def _timestamps(rng: np.random.Generator, count: int, start_ns: int, end_ns: int) -> Array:
    """``count`` increasing microsecond timestamps in ``[start_ns, end_ns)`` with equal runs."""
    gaps = rng.exponential(1.0, count)
    gaps[rng.random(count) < SAME_TS_SHARE] = 0.0
    position = np.cumsum(gaps)
    position /= position[-1] + 1.0
    ts = start_ns + (position * (end_ns - start_ns)).astype(np.int64)
    return ts // 1_000 * 1_000


def _trades(
    rng: np.random.Generator,
    segments: list[tuple[int, int, int]],
    first_id: int,
    start_cents: int,
    max_step: int,
) -> Array:
    """Trades over ``(count, start_ns, end_ns)`` segments, trade ids counting from ``first_id``."""
    ts = np.concatenate([_timestamps(rng, n, start, end) for n, start, end in segments])
    count = len(ts)
    data = np.zeros(count, dtype=TRADE_DTYPE)
    data["ts_event"] = ts
    data["trade_id"] = first_id + np.arange(count, dtype=np.int64)
    cents = start_cents + np.cumsum(rng.integers(-max_step, max_step + 1, count))
    data["price"] = np.maximum(cents, 1) * CENT
    decimals = rng.integers(5, QUANTITY_DECIMALS + 1, count)
    units = rng.integers(1, 2 * 10**decimals)  # up to 2 whole units with 5-8 decimals
    data["quantity"] = units * 10 ** (QUANTITY_DECIMALS - decimals)
    side = rng.integers(1, 3, count)
    data["side"] = side
    data["is_buyer_maker"] = side == int(Side.SELL)
    return data


def make_dataset(plan: Plan, live_count: int, seed: int = 20240603) -> Dataset:
    rng = np.random.default_rng(seed)
    day_end = DAY_START_NS + NANOS_PER_DAY
    edge = max(plan.day_ticks // 24, 1)  # the hour before and after the day, same density
    main = _trades(
        rng,
        [
            (edge, DAY_START_NS - NANOS_PER_HOUR, DAY_START_NS),
            (plan.day_ticks, DAY_START_NS, day_end),
            (edge, day_end, day_end + NANOS_PER_HOUR),
        ],
        first_id=3_900_000_000,
        start_cents=4_000_000,
        max_step=5,
    )
    series: list[tuple[InstrumentId, Array]] = [(MAIN, main)]
    for number, (instrument, cents, step) in enumerate(OTHERS):
        data = _trades(
            rng,
            [(plan.other_ticks, DAY_START_NS - NANOS_PER_HOUR, day_end + NANOS_PER_HOUR)],
            first_id=(number + 1) * 1_000_000_000,
            start_cents=cents,
            max_step=step,
        )
        series.append((instrument, data))
    batches = [
        TradeColumns(instrument, data[start : start + BATCH_ROWS])
        for instrument, data in series
        for start in range(0, len(data), BATCH_ROWS)
    ]
    batches.sort(key=lambda batch: int(batch.data["ts_event"][0]))
    live_start = day_end + NANOS_PER_HOUR
    live = _trades(
        rng,
        [(live_count, live_start, live_start + 10 * NANOS_PER_MINUTE)],
        first_id=int(main["trade_id"][-1]) + 1,
        start_cents=int(main["price"][-1]) // CENT,
        max_step=5,
    )
    bulk_start = DAY_START_NS + 3 * NANOS_PER_DAY
    bulk = _trades(
        rng,
        [
            (
                plan.day_ticks,
                bulk_start + day * NANOS_PER_DAY,
                bulk_start + (day + 1) * NANOS_PER_DAY,
            )
            for day in range(2)
        ],
        first_id=int(live["trade_id"][-1]) + 1,
        start_cents=int(live["price"][-1]) // CENT,
        max_step=5,
    )
    return Dataset(main, plan.day_ticks, batches, live, bulk)


def to_ticks(instrument: InstrumentId, data: Array) -> list[TradeTick]:
    return [
        TradeTick(
            exchange=instrument.exchange,
            symbol=instrument.symbol,
            price=price_from_raw(int(row["price"])),
            quantity=quantity_from_raw(int(row["quantity"])),
            side=Side(int(row["side"])),
            ts_event=int(row["ts_event"]),
            trade_id=int(row["trade_id"]),
            is_buyer_maker=bool(row["is_buyer_maker"]),
        )
        for row in data
    ]


# -- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    op: str  # ">=" or "<="
    value: float

    def met(self, measured: float) -> bool:
        return measured >= self.value if self.op == ">=" else measured <= self.value


@dataclass(frozen=True)
class Figure:
    backend: str
    name: str
    value: float
    unit: str  # "ticks/s", "us", "ms" or "s"
    target: Target | None = None
    reference: str = ""
    detail: str = ""  # how it was measured, what it returned

    def measured_text(self) -> str:
        return format_value(self.value, self.unit)

    def label(self) -> str:
        return f"{BACKEND_NAMES[self.backend]}: {self.name}"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        verdict = "met" if self.target.met(self.value) else "**missed**"
        sign = "≥" if self.target.op == ">=" else "≤"
        return f"{sign} {format_value(self.target.value, self.unit)}: {verdict}"


def format_value(value: float, unit: str) -> str:
    if unit == "ticks/s":
        return f"{value:,.0f} ticks/s"
    if unit == "us":
        return f"{value:,.0f} µs" if value >= 10 else f"{value:.1f} µs"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.2f} s"


def markdown_table(figures: list[Figure]) -> str:
    lines = [
        "| figure | measured | target | reference system |",
        "| --- | --- | --- | --- |",
    ]
    for figure in figures:
        cells = [figure.label(), figure.measured_text(), figure.target_text(), figure.reference]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") or "-" for cell in cells) + " |")
    return "\n".join(lines)


def markdown_notes(figures: list[Figure]) -> str:
    """How each figure was measured and what the call returned, one line per figure."""
    return "\n".join(f"- {figure.label()}: {figure.detail}" for figure in figures if figure.detail)


# -- measuring helpers ------------------------------------------------------------------------


class Profiler:
    """Runs phases under cProfile when asked (``--profile DIR``), else plainly."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def run(self, name: str, phase: Callable[[], T]) -> T:
        if self._directory is None:
            return phase()
        profile = cProfile.Profile()
        try:
            return profile.runcall(phase)
        finally:
            path = self._directory / f"{name}.prof"
            profile.dump_stats(path)
            progress(f"profile of {name} written to {path}")


def call_latencies(call: Callable[[], object], count: int) -> Array:
    """Seconds taken by each of ``count`` calls."""
    out = np.empty(count, dtype=np.float64)
    clock = time.perf_counter
    for index in range(count):
        start = clock()
        call()
        out[index] = clock() - start
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def spread(values: list[float], scale: float, unit: str) -> str:
    """``min-max`` of the rounds, for the detail column."""
    return f"{min(values) * scale:,.0f}-{max(values) * scale:,.0f} {unit}"


class BenchmarkError(RuntimeError):
    """The store did something other than what the benchmark expects (a bug, not slowness)."""


# -- the measurements -------------------------------------------------------------------------


@dataclass
class Bench:
    backend: str
    store: TickStore
    plan: Plan
    data: Dataset
    profiler: Profiler
    targets: dict[str, Target]
    references: dict[str, str]
    tag: str = ""  # suffix of profile file names when runs repeat
    figures: list[Figure] = field(default_factory=list)

    def add(self, key: str, name: str, value: float, unit: str, detail: str = "") -> None:
        self.figures.append(
            Figure(
                self.backend,
                name,
                value,
                unit,
                self.targets.get(key),
                self.references.get(key, ""),
                detail,
            )
        )

    def phase(self, name: str, body: Callable[[], T]) -> T:
        return self.profiler.run(f"{self.backend}-{name}{self.tag}", body)

    # ingest ----------------------------------------------------------------------------------

    def ingest_new(self) -> None:
        batches = self.data.batches
        seconds = np.empty(len(batches))
        step = max(len(batches) // 10, 1)
        for index, batch in enumerate(batches):
            start = time.perf_counter()
            result = self.store.insert_trades(batch)
            seconds[index] = time.perf_counter() - start
            if result.inserted != len(batch) or result.rejected:
                raise BenchmarkError(f"batch {index}: new rows not all stored: {result}")
            if (index + 1) % step == 0:
                done = sum(len(b) for b in batches[: index + 1])
                progress(f"  {done:,} ticks stored, {done / seconds[: index + 1].sum():,.0f}/s")
        total = self.data.total
        overall = total / float(seconds.sum())
        # Rates of consecutive stretches of 10 batches (100k ticks): the median stretch is
        # what ingest sustains, the overall rate includes every stall (checkpoints, partitions).
        stretch = [
            sum(len(b) for b in batches[i : i + 10]) / float(seconds[i : i + 10].sum())
            for i in range(0, len(batches) - 9, 10)
        ] or [overall]
        per_batch_ms = float(np.median(seconds)) * 1e3
        self.add(
            "ingest",
            f"batch ingest, new ticks ({BATCH_ROWS:,}/batch, insert_trades)",
            overall,
            "ticks/s",
            f"{total:,} ticks in {len(batches)} batches over 26 h, 4 symbols; median "
            f"stretch of 100k {median(stretch):,.0f}/s; median batch {per_batch_ms:.0f} ms",
        )

    def ingest_duplicates(self) -> None:
        batches = self.data.batches
        every = max(len(batches) // self.plan.duplicate_batches, 1)
        sample = batches[::every][: self.plan.duplicate_batches]
        ticks = sum(len(batch) for batch in sample)
        rates: list[float] = []
        for _ in range(self.plan.rounds):
            elapsed = 0.0
            for batch in sample:
                start = time.perf_counter()
                result = self.store.insert_trades(batch)
                elapsed += time.perf_counter() - start
                if result.inserted != 0 or result.duplicates != len(batch):
                    raise BenchmarkError(f"re-inserted batch was not all duplicates: {result}")
            rates.append(ticks / elapsed)
        self.add(
            "ingest",
            f"batch ingest, all duplicates ({BATCH_ROWS:,}/batch, insert_trades)",
            median(rates),
            "ticks/s",
            f"{len(sample)} stored batches re-inserted, median of {len(rates)} rounds "
            f"({spread(rates, 1, '/s')})",
        )

    def ingest_bulk(self) -> None:
        """History-job batches of BULK_ROWS: first into a day with nothing stored, then into
        a day where the first half of every batch is stored already (a resumed job)."""
        day = self.plan.day_ticks
        new_data, resumed_data = self.data.bulk[:day], self.data.bulk[day:]
        self._bulk_figure("new ticks", new_data, stored_share=0.0)
        half = BULK_ROWS // 2
        for first in range(0, len(resumed_data), BULK_ROWS):
            stored = resumed_data[first : first + half]
            for start in range(0, len(stored), BATCH_ROWS):
                self.store.insert_trades(TradeColumns(MAIN, stored[start : start + BATCH_ROWS]))
        self._bulk_figure("first half of each batch stored", resumed_data, stored_share=0.5)

    def _bulk_figure(self, what: str, data: Array, stored_share: float) -> None:
        batches = [
            TradeColumns(MAIN, data[start : start + BULK_ROWS])
            for start in range(0, len(data), BULK_ROWS)
        ]
        seconds: list[float] = []
        for batch in batches:
            start = time.perf_counter()
            result = self.store.insert_trades(batch)
            seconds.append(time.perf_counter() - start)
            already = min(len(batch), round(BULK_ROWS * stored_share))
            if result.inserted != len(batch) - already or result.duplicates != already:
                raise BenchmarkError(f"bulk batch: {result}, expected {already} duplicates")
        self.add(
            "bulk",
            f"bulk ingest, {what} ({BULK_ROWS:,}/batch, insert_trades)",
            len(data) / sum(seconds),
            "ticks/s",
            f"{len(data):,} ticks of one day in {len(batches)} sorted batch(es); median batch "
            f"{median(seconds) * 1e3:,.0f} ms ({BULK_ROWS / median(seconds):,.0f} ticks/s)",
        )

    # reads -----------------------------------------------------------------------------------

    def latest(self) -> None:
        expected = price_from_raw(int(self.data.main["price"][-1]))
        got = self.store.latest_price(MAIN)
        if got != expected:
            raise BenchmarkError(f"latest price of {MAIN} is {got}, expected {expected}")

        def call() -> object:
            return self.store.latest_price(MAIN)

        call_latencies(call, self.plan.latest_warmup)
        p50s: list[float] = []
        p99s: list[float] = []
        for _ in range(self.plan.rounds):
            seconds = call_latencies(call, self.plan.latest_calls)
            p50s.append(float(np.percentile(seconds, 50)))
            p99s.append(float(np.percentile(seconds, 99)))
        how = (
            f"{self.plan.latest_calls:,} calls x {self.plan.rounds} rounds after "
            f"{self.plan.latest_warmup:,} warm-up, {len(self.data.main):,} {MAIN.symbol} + "
            f"{self.data.total - len(self.data.main):,} other ticks stored"
        )
        self.add(
            "latest_p50",
            "latest_price p50",
            median(p50s) * 1e6,
            "us",
            f"{how}; rounds {spread(p50s, 1e6, 'µs')}",
        )
        self.add(
            "latest_p99",
            "latest_price p99",
            median(p99s) * 1e6,
            "us",
            f"rounds {spread(p99s, 1e6, 'µs')}",
        )

    def stream(self) -> None:
        day_end = DAY_START_NS + NANOS_PER_DAY
        rates: list[float] = []
        chunks = 0
        for _ in range(self.plan.rounds):
            rows = 0
            chunks = 0
            last_ts = DAY_START_NS
            start = time.perf_counter()
            for chunk in self.store.stream_trades(MAIN, DAY_START_NS, day_end):
                rows += len(chunk)
                chunks += 1
                last_ts = int(chunk.data["ts_event"][-1])
            elapsed = time.perf_counter() - start
            if rows != self.data.day_ticks or last_ts >= day_end:
                raise BenchmarkError(f"streamed {rows:,} rows, expected {self.data.day_ticks:,}")
            rates.append(rows / elapsed)
        self.add(
            "stream",
            "stream_trades, one day into TRADE_DTYPE arrays",
            median(rates),
            "ticks/s",
            f"{self.data.day_ticks:,} ticks in {chunks} chunks of ≤ 100,000, median of "
            f"{len(rates)} ({spread(rates, 1, '/s')})",
        )

    def ohlc(self) -> None:
        day_end = DAY_START_NS + NANOS_PER_DAY
        times: list[float] = []
        bars = []
        for _ in range(self.plan.rounds):
            start = time.perf_counter()
            bars = self.store.ohlc(MAIN, Timeframe.ONE_MINUTE, DAY_START_NS, day_end)
            times.append(time.perf_counter() - start)
        if sum(bar.tick_count for bar in bars) != self.data.day_ticks:
            raise BenchmarkError("1m bars do not count every trade of the day")
        self.add(
            "ohlc",
            "OHLC 1m bars in SQL, one day",
            median(times),
            "s",
            f"{len(bars):,} bars from {self.data.day_ticks:,} ticks, median of {len(times)} "
            f"({min(times):.2f}-{max(times):.2f} s)",
        )

    def get_ticks(self) -> None:
        hours = [DAY_START_NS + (2 + 3 * i) * NANOS_PER_HOUR for i in range(self.plan.hour_queries)]
        times: list[float] = []
        counts: list[int] = []
        for hour in hours:
            start = time.perf_counter()
            ticks = self.store.get_ticks(MAIN, hour, hour + NANOS_PER_HOUR, order=Order.ASC)
            times.append(time.perf_counter() - start)
            counts.append(len(ticks))
        rows = median([float(count) for count in counts])
        self.add(
            "get_ticks",
            "get_ticks, 1 h ascending (all rows)",
            median(times) * 1e3,
            "ms",
            f"returns ~{rows:,.0f} TradeTick objects (Decimal price/qty), "
            f"{median(times) / rows * 1e6:.2f} µs/tick; median of {len(times)} hours",
        )
        limited: list[float] = []
        for index in range(self.plan.limit_queries):
            hour = hours[index % len(hours)]
            start = time.perf_counter()
            ticks = self.store.get_ticks(MAIN, hour, hour + NANOS_PER_HOUR, limit=1_000)
            limited.append(time.perf_counter() - start)
            if len(ticks) != 1_000:
                raise BenchmarkError(f"get_ticks limit 1,000 returned {len(ticks)}")
        self.add(
            "get_ticks",
            "get_ticks, 1 h ascending, limit 1,000",
            median(limited) * 1e3,
            "ms",
            f"returns 1,000 TradeTick objects; median of {len(limited)}",
        )

    # small writes ----------------------------------------------------------------------------

    def small_writes(self) -> None:
        live = self.data.live
        warmup = 20
        singles = to_ticks(MAIN, live[: warmup + self.plan.single_inserts])
        for tick in singles[:warmup]:
            self.store.insert_tick(tick)
        seconds = np.empty(self.plan.single_inserts)
        for index, tick in enumerate(singles[warmup:]):
            start = time.perf_counter()
            new = self.store.insert_tick(tick)
            seconds[index] = time.perf_counter() - start
            if not new:
                raise BenchmarkError(f"insert_tick of a new trade returned False: {tick}")
        self.add(
            "insert_tick",
            "insert_tick (one new trade) p50",
            float(np.percentile(seconds, 50)) * 1e6,
            "us",
            f"{len(seconds):,} calls; p99 {float(np.percentile(seconds, 99)) * 1e6:,.0f} µs",
        )

        offset = warmup + self.plan.single_inserts
        count = self.plan.batches_1000
        object_batches = [
            to_ticks(MAIN, live[offset + i * 1_000 : offset + (i + 1) * 1_000])
            for i in range(count)
        ]
        offset += count * 1_000
        column_batches = [
            TradeColumns(MAIN, live[offset + i * 1_000 : offset + (i + 1) * 1_000])
            for i in range(count)
        ]
        object_times: list[float] = []
        for ticks in object_batches:
            start = time.perf_counter()
            result = self.store.insert_ticks(ticks)
            object_times.append(time.perf_counter() - start)
            if result.inserted != len(ticks):
                raise BenchmarkError(f"insert_ticks stored {result.inserted} of {len(ticks)}")
        column_times: list[float] = []
        for batch in column_batches:
            start = time.perf_counter()
            result = self.store.insert_trades(batch)
            column_times.append(time.perf_counter() - start)
            if result.inserted != len(batch):
                raise BenchmarkError(f"insert_trades stored {result.inserted} of {len(batch)}")
        for key, name, times in (
            ("batch_1000", "batch of 1,000 new trades, insert_ticks (objects)", object_times),
            ("batch_1000", "batch of 1,000 new trades, insert_trades (columns)", column_times),
        ):
            self.add(
                key,
                name,
                median(times) * 1e3,
                "ms",
                f"{1_000 / median(times):,.0f} ticks/s; median of {len(times)} batches",
            )

    def run(self) -> None:
        total = self.data.total
        progress(f"{self.backend}: ingesting {total:,} new ticks in batches of {BATCH_ROWS:,}")
        self.phase("ingest_new", self.ingest_new)
        progress(f"{self.backend}: re-inserting stored batches (all duplicates)")
        self.phase("ingest_duplicates", self.ingest_duplicates)
        progress(f"{self.backend}: latest price")
        self.phase("latest", self.latest)
        progress(f"{self.backend}: streaming one day")
        self.phase("stream", self.stream)
        progress(f"{self.backend}: OHLC 1m")
        self.phase("ohlc", self.ohlc)
        progress(f"{self.backend}: get_ticks")
        self.phase("get_ticks", self.get_ticks)
        progress(f"{self.backend}: insert_tick and batches of 1,000")
        self.phase("small_writes", self.small_writes)
        progress(f"{self.backend}: bulk ingest in batches of {BULK_ROWS:,}")
        self.phase("ingest_bulk", self.ingest_bulk)


# -- backends ---------------------------------------------------------------------------------

TARGETS: Final = {
    "postgresql": {
        "ingest": Target(">=", 60_000),
        "latest_p50": Target("<=", 150),
        "stream": Target(">=", 500_000),
    },
    "sqlite": {
        "ingest": Target(">=", 100_000),
        "latest_p50": Target("<=", 30),
    },
}
_RUST = "Rust system"
_BULK_NEED = (
    "issue #6 needs, end to end: archive import (unzip, parse, store) ≥ 300,000 ticks/s; "
    "DBN trades to stored ≥ 500,000 records/s"
)
REFERENCES: Final = {
    "postgresql": {
        "ingest": "plain psycopg here: binary COPY 90-130k rows/s; COPY into staging then "
        "INSERT ON CONFLICT 56-65k rows/s",
        "latest_p50": "plain psycopg here: 125 µs p50",
        "bulk": _BULK_NEED,
        "insert_tick": f"{_RUST}: ~390 µs",
        "batch_1000": f"{_RUST}: 116 ms (≈ 8,600 ticks/s)",
        "get_ticks": f"{_RUST}: ~450 µs (rows returned not stated)",
    },
    "sqlite": {
        "ingest": "plain sqlite3 here: executemany in one transaction 110-140k rows/s",
        "latest_p50": "plain sqlite3 here: 7-12 µs",
        "bulk": _BULK_NEED,
        "insert_tick": f"{_RUST}: ~390 µs",
        "batch_1000": f"{_RUST}: 116 ms (≈ 8,600 ticks/s)",
        "get_ticks": f"{_RUST}: ~450 µs (rows returned not stated)",
    },
}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def sqlite_store() -> Iterator[tuple[TickStore, str]]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=WORK_DIR))
    store = SqliteTickStore(directory / "ticks.sqlite3")
    try:
        store.migrate()
        yield store, f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"
    finally:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_store(admin_url: str) -> Iterator[tuple[TickStore, str]]:
    name = f"ticklane_bench_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        settings = {
            key: str(admin.execute(sql.SQL("SHOW {}").format(sql.Identifier(key))).fetchone()[0])  # type: ignore[index]
            for key in ("server_version", "shared_buffers", "synchronous_commit", "autovacuum")
        }
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    progress(f"created scratch database {name}")
    store: PostgresTickStore | None = None
    try:
        store = PostgresTickStore(_with_database(admin_url, name), min_connections=1)
        store.migrate()
        version = settings["server_version"].split()[0]
        yield (
            store,
            f"PostgreSQL {version} ({store.layout} layout, shared_buffers "
            f"{settings['shared_buffers']}, synchronous_commit {settings['synchronous_commit']}, "
            f"autovacuum {settings['autovacuum']})",
        )
    finally:
        if store is not None:
            store.close()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        progress(f"dropped scratch database {name}")


# -- machine and results file -----------------------------------------------------------------


def machine_line(versions: list[str]) -> str:
    cpu = "unknown CPU"
    memory = "unknown RAM"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
                break
    except OSError:
        pass
    parts = [
        f"{os.cpu_count()} cores ({cpu})",
        memory,
        f"Python {platform.python_version()}",
        *versions,
        datetime.now(UTC).strftime("%Y-%m-%d"),
    ]
    return ", ".join(parts)


RESULTS_HEADER: Final = """# Benchmark results

One `## <name>` section per benchmark, each rewritten by its own `--write-results` run, with
the command, the machine it ran on and a table of figure / measured / target / reference
system. Figures are medians of repeated measurements unless the row says otherwise; targets
come from the project issue. Benchmarks report; none fails on a missed target.
"""


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the ``## name`` section of ``path``, leaving other sections alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else RESULTS_HEADER
    lines = text.splitlines()
    heading = f"## {name}"
    section = [heading, "", *body.strip().splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = section
    else:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *section]
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


@dataclass(frozen=True)
class RunContext:
    command: str
    machine: str
    plan: Plan
    repeat: int
    load: tuple[float, float]  # 1-minute load average before and after


def section_body(context: RunContext, figures: list[Figure]) -> str:
    plan = context.plan
    before, after = context.load
    return "\n".join(
        [
            f"Command: `{context.command}`",
            "",
            f"Machine: {context.machine}",
            "",
            f"Data: {plan.day_ticks:,} binance BTCUSDT trades in the measured UTC day plus one "
            f"hour either side, and {plan.other_ticks:,} trades of each of 3 other instruments "
            "(keys sorting before and after it); microsecond timestamps with runs of equal "
            "ones, prices around 40,000 with 2 decimals, quantities with 5-8 decimals, both "
            "sides. PostgreSQL creates its daily partitions while ingesting. The bulk figures "
            f"store {2 * plan.day_ticks:,} more BTCUSDT trades of two later days in sorted "
            f"batches of {BULK_ROWS:,}, as a history job does. Each figure is "
            f"the median of {context.repeat} run(s) per backend, each on a new store, and "
            "within a run most figures are themselves medians of repeated calls. The machine "
            f"is shared: 1-minute load average {before:.1f} before the run, {after:.1f} after. "
            "Reference figures are those given in the project issue (plain drivers on this "
            "machine, and the reference Rust system); this run did not re-measure them.",
            "",
            markdown_table(figures),
            "",
            "How each figure was measured:",
            "",
            markdown_notes(figures),
        ]
    )


def merge_runs(runs: list[list[Figure]]) -> list[Figure]:
    """Each figure as the median of the runs, its detail from the median run plus the range."""
    if len(runs) == 1:
        return runs[0]
    merged: list[Figure] = []
    for same in zip(*runs, strict=True):
        if len({figure.name for figure in same}) != 1:
            raise BenchmarkError("runs measured different figures")
        values = [figure.value for figure in same]
        middle = median(values)
        closest = min(same, key=lambda figure: abs(figure.value - middle))
        low, high = (format_value(value, closest.unit) for value in (min(values), max(values)))
        detail = f"median of {len(runs)} runs ({low} to {high}); median run: {closest.detail}"
        merged.append(replace(closest, value=middle, detail=detail))
    return merged


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_storage", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--ticks", type=int, help="BTCUSDT trades in the measured day (default 1,000,000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 200,000 ticks")
    parser.add_argument(
        "--repeat",
        type=int,
        help="whole runs per backend, each on a new store; figures are their medians "
        "(default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TICKLANE_BENCH_PG_URL", DEFAULT_PG_URL),
        help="server to create the scratch database on (env TICKLANE_BENCH_PG_URL)",
    )
    parser.add_argument(
        "--write-results",
        action="store_true",
        help=f"rewrite the storage section of {RESULTS_FILE}",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run each phase under cProfile and dump <backend>-<phase>.prof there "
        "(profiling slows the figures down)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args, argv if argv is not None else sys.argv[1:])
    except (BenchmarkError, StorageError, psycopg.Error, sqlite3.Error) as error:
        progress(f"error: {type(error).__name__}: {error}")
        return 1


def run(args: argparse.Namespace, argv: list[str]) -> int:
    ticks = args.ticks or (200_000 if args.quick else 1_000_000)
    if ticks < 24 * BATCH_ROWS // 10:
        raise SystemExit(f"--ticks must be at least {24 * BATCH_ROWS // 10:,}")
    plan = Plan.make(ticks, args.quick)
    repeat = args.repeat or (1 if args.quick else 3)
    if repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    profiler = Profiler(args.profile)

    live_count = 20 + plan.single_inserts + 2 * plan.batches_1000 * 1_000
    progress(f"generating {ticks:,}-tick day and {len(OTHERS)} other series")
    data = make_dataset(plan, live_count)
    progress(f"{data.total:,} ticks in {len(data.batches)} batches")

    load_before = load_average()
    figures: list[Figure] = []
    versions: list[str] = []
    for backend in backends:
        runs: list[list[Figure]] = []
        for run in range(1, repeat + 1):
            if repeat > 1:
                progress(f"{backend}: run {run} of {repeat}, on a new store")
            opener = sqlite_store() if backend == "sqlite" else postgres_store(args.pg_url)
            with opener as (store, store_version):
                if run == 1:
                    versions.append(store_version)
                bench = Bench(
                    backend,
                    store,
                    plan,
                    data,
                    profiler,
                    TARGETS[backend],
                    REFERENCES[backend],
                    tag=f"-run{run}" if repeat > 1 else "",
                )
                bench.run()
                runs.append(bench.figures)
        figures.extend(merge_runs(runs))
    load_after = load_average()

    command = " ".join([".venv/bin/python -m benchmarks.bench_storage", *argv])
    machine = machine_line(versions)
    print(f"Machine: {machine}\n")
    print(markdown_table(figures))
    print(f"\n{markdown_notes(figures)}")
    if args.write_results:
        context = RunContext(command, machine, plan, repeat, (load_before, load_after))
        write_section(RESULTS_FILE, SECTION, section_body(context, figures))
        progress(f"wrote the {SECTION} section of {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
