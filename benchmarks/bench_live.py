"""``trading-core live`` figures (issue #5): processing rate, IPC-to-decision latency, cache reads.

    .venv/bin/python -m benchmarks.bench_live [--ticks N] [--loop uvloop] [--write-results]

- processing: ``MarketDataService._process`` over batches of 1,024 seeded trades, and the
  cache writes it leaves behind (awaited before the clock stops): validation, L1 + L2 (Redis
  at ``--redis``, a key prefix of the run's own, deleted afterwards) and the paper trader
  running SMA 10/30 on 1-minute bars; one core, the event loop's thread.
  Also without the paper trader and without Redis, to show where the time goes.
- latency: a ``RingWriter`` in this process stamps ``ts_recv`` with ``time.time_ns()`` and
  writes one trade every ``--pace-us``; the service's reader thread, channel and processing
  run as in ``trading-core live``; the figure is ``time.time_ns()`` at
  ``PaperTrader.on_trade`` entry less ``ts_recv``.
- L1 read: ``MemoryTickCache.recent`` (awaited) of the last 20 trades, and the synchronous
  ``recent_records`` beside it.
- L2 read: ``RedisTickCache.recent`` of the last 20 trades, one round trip each; also with
  the cache's memory of decoded elements emptied before each read (every element decoded).

A benchmark measures; it never fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import redis
import redis.asyncio

from benchmarks.results import calibration, write_section
from ticklane.cache.build import build_tick_cache
from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.config.settings import CacheConfig, PaperTradingConfig, RedisCacheConfig
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.records import TradeRecord
from ticklane.ipc.loop import polling_loop
from ticklane.ipc.segment import unlink_segment
from ticklane.ipc.writer import RingWriter
from ticklane.live.ipc_exchange import IpcExchange
from ticklane.live.market_data import MarketDataService, TickValidator
from ticklane.live.paper import PaperTrader
from ticklane.live.paper_setup import PaperOptions
from ticklane.storage.sqlite import SqliteTickStore

BTC = InstrumentId("binance", "BTCUSDT")
SMA = {"short_period": 10, "long_period": 30, "quantity": "0.01"}
BATCH = 1024
NO_AGE_LIMIT = 2**62


def synthetic_trades(count: int, start_ns: int, seed: int = 5) -> list[TradeRecord]:
    """``count`` trades 2 ms apart from ``start_ns`` (30,000 a minute), prices a random walk
    with 2 decimals."""
    rng = np.random.default_rng(seed)
    cents = 4_000_000 + np.cumsum(rng.integers(-300, 301, size=count))
    qty = rng.integers(1_000, 5_000_000, size=count)
    side = rng.integers(1, 3, size=count)
    return [
        TradeRecord(
            "binance",
            "BTCUSDT",
            start_ns + i * 2_000_000,
            start_ns + i * 2_000_000,
            i + 1,
            int(cents[i]) * 10_000_000,
            int(qty[i]),
            Side(int(side[i])),
        )
        for i in range(count)
    ]


async def open_trader(store: SqliteTickStore, now_ns: int) -> PaperTrader:
    return await PaperTrader.resume(
        store,
        BTC,
        paper=PaperTradingConfig(enabled=True, strategy="sma"),
        now_ns=now_ns,
        params=SMA,
        options=PaperOptions(report_every_secs=3600),
        report=lambda _line: None,
        fresh=True,
    )


def cache_config(redis_url: str | None, prefix: str) -> CacheConfig:
    if redis_url is None:
        return CacheConfig()
    return CacheConfig(redis=RedisCacheConfig(url=redis_url, key_prefix=prefix))


async def processing_rate(
    trades: list[TradeRecord], redis_url: str | None, prefix: str, *, paper: bool
) -> float:
    """Trades per second through ``MarketDataService._process``."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteTickStore(Path(tmp) / "paper.sqlite3")
        store.migrate()
        trader = await open_trader(store, trades[0].ts_event) if paper else None
        cache = build_tick_cache(cache_config(redis_url, prefix), timeout=1.0)
        validator = TickValidator(["BTCUSDT"], max_future_ns=NO_AGE_LIMIT, max_age_ns=NO_AGE_LIMIT)
        service = MarketDataService(
            IpcExchange(f"bench-unused-{secrets.token_hex(3)}"),
            validator,
            capacity=10_000,
            cache=cache,
            on_trade=trader.on_trade if trader is not None else None,
        )
        batches = [trades[i : i + BATCH] for i in range(0, len(trades), BATCH)]
        began = time.perf_counter()
        for batch in batches:
            service._process(batch)
            await asyncio.sleep(0)  # as between two wake-ups: the cache writer takes its turn
        await service.flush()  # the cache writes run behind processing: all of them count
        seconds = time.perf_counter() - began
        if service.stats.accepted != len(trades) or cache.stats.ticks_failed:
            raise RuntimeError(f"bench: {service.stats.rejected} rejected, cache failures")
        if trader is not None:
            await trader.close()
        await cache.close()
        store.close()
    return len(trades) / seconds


async def ipc_latency(
    redis_url: str | None, prefix: str, count: int, pace_us: int
) -> tuple[list[int], int]:
    """Nanoseconds from the ring write (``ts_recv``) to ``PaperTrader.on_trade`` entry."""
    ring = f"ticklane-bench-{secrets.token_hex(4)}"
    latencies: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteTickStore(Path(tmp) / "paper.sqlite3")
        store.migrate()
        trader = await open_trader(store, time.time_ns() - 10**9)
        inner = trader.on_trade

        def on_trade(trade: TradeRecord) -> None:
            latencies.append(time.time_ns() - trade.ts_recv)
            inner(trade)

        exchange = IpcExchange(ring)
        cache = build_tick_cache(cache_config(redis_url, prefix), timeout=1.0)
        validator = TickValidator(["BTCUSDT"], max_future_ns=5 * 10**9, max_age_ns=60 * 10**9)
        service = MarketDataService(
            exchange, validator, capacity=10_000, cache=cache, on_trade=on_trade
        )
        stop = asyncio.Event()
        # data-manager's side in a process of its own, as in production: a writer thread
        # here would hold the GIL the reader and the event loop need.
        writer = multiprocessing.get_context("spawn").Process(
            target=_write_paced, args=(ring, count, pace_us)
        )
        try:
            task = asyncio.create_task(service.run(stop))
            writer.start()
            deadline = time.monotonic() + 30 + count * pace_us / 1e6
            while len(latencies) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            stop.set()
            await task
        finally:
            writer.join(30)
            unlink_segment(ring)
        lost = exchange.stats.lost
        await trader.close()
        await cache.close()
        store.close()
    return latencies, lost


def _write_paced(ring: str, count: int, pace_us: int) -> None:
    """In a child process: one trade about every ``pace_us``, ``ts_recv`` stamped at write."""
    price = 4_000_000 * 10_000_000
    with RingWriter(ring, capacity=65_536) as writer:
        time.sleep(1.0)  # the reader attaches (it polls every 0.2 s) and starts at "latest"
        for n in range(1, count + 1):
            now = time.time_ns()
            trade = TradeRecord("binance", "BTCUSDT", now, now, n, price, 1_000_000, Side.BUY)
            writer.write(trade)
            time.sleep(pace_us / 1e6)


def per_call_ns(call: Callable[[], object], rounds: int) -> float:
    """Best of 5 means of ``rounds`` calls, in ns."""
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter_ns()
        for _ in range(rounds):
            call()
        best = min(best, (time.perf_counter_ns() - began) / rounds)
    return best


async def l1_reads(trades: list[TradeRecord]) -> tuple[float, float]:
    """(ns per awaited ``recent`` of 20, ns per synchronous ``recent_records`` of 20)."""
    memory = MemoryTickCache(1000, 3600, clock=lambda: trades[-1].ts_recv)
    memory.add_many(trades[-1000:])
    recent = memory.recent
    rounds = 20_000
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter_ns()
        for _ in range(rounds):
            await recent("binance", "BTCUSDT", 20)
        best = min(best, (time.perf_counter_ns() - began) / rounds)
    sync = per_call_ns(lambda: memory.recent_records("binance", "BTCUSDT", 20), rounds)
    return best, sync


async def l2_reads(
    trades: list[TradeRecord], redis_url: str, prefix: str, *, cold: bool = False
) -> list[int]:
    """ns per ``RedisTickCache.recent`` of 20, one per call; ``cold``: every element decoded
    anew (the cache's memory of decoded elements emptied before each call)."""
    cache = RedisTickCache(redis_url, key_prefix=prefix, timeout=1.0)
    await cache.put_many(trades[-1000:])
    samples = []
    for i in range(3000):
        if cold:
            cache._decoded.clear()
        began = time.perf_counter_ns()
        got = await cache.recent("binance", "BTCUSDT", 20)
        if i >= 200:  # the first calls open the connection
            samples.append(time.perf_counter_ns() - began)
        if len(got) != 20:
            raise RuntimeError("bench: the L2 read did not return 20 trades")
    await cache.close()
    return samples


async def lrange_round_trips(redis_url: str, key: str) -> list[int]:
    """ns per bare redis-py ``LRANGE key 0 19`` on this loop: the floor of an L2 read, measured
    in the same run (this machine's load moves it by a factor of two)."""
    client = redis.asyncio.Redis.from_url(redis_url)
    samples = []
    for i in range(3000):
        began = time.perf_counter_ns()
        await client.lrange(key, 0, 19)
        if i >= 200:
            samples.append(time.perf_counter_ns() - began)
    await client.aclose()
    return samples


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def delete_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def measure(args: argparse.Namespace, prefix: str) -> list[str]:
    now = time.time_ns()
    trades = synthetic_trades(args.ticks, now - args.ticks * 2_000_000)
    rows = []
    runs: dict[str, list[float]] = {"full": [], "no-paper": [], "memory": []}
    for _ in range(args.repeat):
        runs["full"].append(await processing_rate(trades, args.redis, prefix + "p:", paper=True))
        runs["no-paper"].append(
            await processing_rate(trades, args.redis, prefix + "n:", paper=False)
        )
        runs["memory"].append(await processing_rate(trades, None, prefix, paper=True))
    full, no_paper, memory_only = (statistics.median(runs[k]) for k in runs)
    print(f"processing: {full:,.0f} ticks/s", file=sys.stderr)
    rows.append(
        f"| processing: validation + L1 + L2 Redis + paper SMA 10/30 | {full:,.0f} ticks/s | "
        f"≥ 50,000 ticks/s | without the paper trader {no_paper:,.0f}; "
        f"without Redis {memory_only:,.0f} ticks/s |"
    )
    latencies, lost = await ipc_latency(args.redis, prefix + "l:", args.latency_ticks, args.pace_us)
    p50, p99 = percentile(latencies, 0.5) / 1000, percentile(latencies, 0.99) / 1000
    print(f"latency: p50 {p50:.0f} us, p99 {p99:.0f} us ({len(latencies)})", file=sys.stderr)
    no_redis, _ = await ipc_latency(None, prefix, args.latency_ticks, args.pace_us)
    bare50, bare99 = percentile(no_redis, 0.5) / 1000, percentile(no_redis, 0.99) / 1000
    rows.append(
        f"| IPC write (ts_recv) to PaperTrader.on_trade, L1 + Redis, one trade every "
        f"{args.pace_us} µs | p50 {p50:,.0f} µs, p99 {p99:,.0f} µs ({len(latencies):,} trades, "
        f"{lost} lost) | p50 ≤ 100 µs | the same without Redis (L1 only): p50 "
        f"{bare50:,.0f} µs, p99 {bare99:,.0f} µs |"
    )
    l1_async, l1_sync = await l1_reads(trades)
    print(f"L1: {l1_async:.0f} ns awaited, {l1_sync:.0f} ns sync", file=sys.stderr)
    rows.append(
        f"| L1 read, last 20 (`await MemoryTickCache.recent`) | {l1_async / 1000:.2f} µs | "
        f"≤ 1 µs | synchronous `recent_records` {l1_sync / 1000:.2f} µs; "
        "dict of deques ~0.6 µs |"
    )
    samples = await l2_reads(trades, args.redis, prefix + "r:")
    l2_p50, l2_p99 = percentile(samples, 0.5) / 1000, percentile(samples, 0.99) / 1000
    cold = await l2_reads(trades, args.redis, prefix + "c:", cold=True)
    cold_p50 = percentile(cold, 0.5) / 1000
    bare = await lrange_round_trips(args.redis, f"{prefix}c:ticks:binance:BTCUSDT")
    bare_p50 = percentile(bare, 0.5) / 1000
    print(
        f"L2: p50 {l2_p50:.0f} us, decoding every element {cold_p50:.0f} us, "
        f"bare LRANGE {bare_p50:.0f} us",
        file=sys.stderr,
    )
    rows.append(
        f"| L2 read, last 20 (`RedisTickCache.recent`) | p50 {l2_p50:,.0f} µs, "
        f"p99 {l2_p99:,.0f} µs | p50 ≤ 150 µs | redis-py round trip ~207 µs (a bare LRANGE "
        f"of 20 in this run: p50 {bare_p50:,.0f} µs); with every element decoded anew (none "
        f"read before) p50 {cold_p50:,.0f} µs |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ticks", type=int, default=5_000)
    parser.add_argument("--pace-us", type=int, default=1_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--loop",
        choices=("polling", "asyncio", "uvloop"),
        default="polling",
        help="event loop: polling (trading-core live's: asyncio polling the ring itself), "
        "asyncio (plain: a reader thread hands records over), uvloop (not a dependency)",
    )
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    prefix = f"bench-live-{secrets.token_hex(4)}:"
    calibrated = calibration(args.redis)
    run: Callable[[Coroutine[Any, Any, list[str]]], list[str]] = asyncio.run
    if args.loop == "polling":

        def run(flow: Coroutine[Any, Any, list[str]]) -> list[str]:
            with asyncio.Runner(loop_factory=polling_loop) as runner:
                return runner.run(flow)

    elif args.loop == "uvloop":
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        run = uvloop.run
    try:
        rows = run(measure(args, prefix))
    finally:
        delete_keys(args.redis, prefix)
    lines = [
        "## live",
        "",
        f"Command: `.venv/bin/python -m benchmarks.bench_live --ticks {args.ticks}"
        f"{'' if args.loop == 'polling' else f' --loop {args.loop}'}`",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, event loop {args.loop}; processing is the median of "
        f"{args.repeat} runs of {args.ticks:,} seeded trades in batches of {BATCH}; Redis at "
        f"127.0.0.1:6379; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at "
        "the end.",
        "",
        calibrated,
        "",
        "| figure | measured | target | reference |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write_results:
        write_section("live", section)


if __name__ == "__main__":
    main()
