"""Tick cache benchmark: write throughput of each tier and read latency of L1 and L2.

    .venv/bin/python -m benchmarks.bench_cache [--seconds S] [--repeat K] [--write-results]

Writes: ticks/s through ``put_many`` into the memory cache (L1), Redis (L2) and the tiered
cache, with batches of 1, 10 and 100 ticks, each call awaited before the next as the live
pipeline does; the ticks alternate between two instruments (binance BTCUSDT and ETHUSDT), so a
batch of 10 is two LPUSHes of 5. Also the tiered cache while Redis refuses connections: what
an outage costs the pipeline (after 3 failures in a row the Redis tier backs off). Reads:
latency of ``recent(limit=100)`` from L1 and from L2 on a full list, p50 and p99 over 2,000
calls, as ``TradeTick`` objects and as records.

Redis is the one at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``); every key is under a
prefix of this run's own and deleted afterwards. Event loop: ``--loop`` (default ``polling``,
trading-core live's; ``asyncio``; ``auto``: uvloop if it is installed, it is not a
dependency, else asyncio's own). A benchmark measures; it never fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from benchmarks.results import calibration, write_section
from ticklane.cache.base import TickCache
from ticklane.cache.memory import MemoryTickCache
from ticklane.cache.redis_cache import RedisTickCache
from ticklane.cache.tiered import TieredTickCache
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.ipc.loop import polling_loop

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
PREFIX = f"bench-{secrets.token_hex(4)}:"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
BATCHES = (1, 10, 100)
READS = 2_000
NOTES = (
    "Where the time goes (a one-off profile on this machine, not re-measured by each run): a "
    "batch of 1 is one round trip per tick, so the live pipeline should hand `put_many` "
    "whatever has queued up. L2 reads go through the cache's own RESP connection (`hiredis` "
    "parses, `cache.resp`), half redis-py's asyncio cost per round trip; each element is "
    "decoded once and remembered, so a list read again decodes only its new ticks; "
    "`TradeTick` objects, validated on construction, cost ~6 µs each on top. L1 keeps each "
    "tick's `TradeTick` once made."
)


def synthetic_records(count: int) -> list[TradeRecord]:
    """``count`` trades received just now, prices in cents around 40,000, mixed sides."""
    now = time.time_ns()
    out = []
    for n in range(count):
        ts = now - (count - n) * 1_000
        price = (4_000_000 + (n * 7919) % 2_001 - 1_000) * 10_000_000  # cents, 1e9 scale
        quantity = 1_000 + (n * 104_729) % 5_000_000
        side = Side.BUY if n % 3 else Side.SELL
        out.append(
            TradeRecord("binance", SYMBOLS[n % 2], ts, ts + 400_000, n, price, quantity, side)
        )
    return out


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"  # nothing listens there after


def memory() -> MemoryTickCache:
    return MemoryTickCache(max_ticks_per_symbol=1000, ttl_seconds=300)


def l2(url: str = REDIS_URL) -> RedisTickCache:
    return RedisTickCache(url, key_prefix=PREFIX, max_ticks_per_symbol=10_000, ttl_seconds=3600)


def tiered(url: str = REDIS_URL) -> TieredTickCache:
    return TieredTickCache(memory(), l2(url))


async def write_rate(
    make: Callable[[], TickCache], records: list[TradeRecord], batch: int, seconds: float
) -> float:
    """Ticks/s of back-to-back ``put_many`` calls of ``batch`` ticks for about ``seconds``."""
    cache = make()
    try:
        await cache.put_many(records[:100])  # connect, warm up
        check_every = max(1, 1000 // batch)  # look at the clock about every 1,000 ticks
        calls, began = 0, time.perf_counter()
        while True:
            for start in range(0, len(records) - batch + 1, batch):
                await cache.put_many(records[start : start + batch])
                calls += 1
                if calls % check_every == 0 and time.perf_counter() - began >= seconds:
                    return calls * batch / (time.perf_counter() - began)
    finally:
        await cache.close()


async def latencies(call: Callable[[], Awaitable[object]]) -> list[float]:
    """Microseconds of ``READS`` calls after 100 warm-up calls."""
    for _ in range(100):
        await call()
    out = []
    for _ in range(READS):
        began = time.perf_counter_ns()
        await call()
        out.append((time.perf_counter_ns() - began) / 1_000)
    return out


async def read_latencies(records: list[TradeRecord]) -> dict[str, list[float]]:
    l1, redis_tier = memory(), l2()
    try:
        await l1.put_many(records[-2_000:])
        await redis_tier.put_many(records[-20_000:])
        sym = SYMBOLS[0]

        async def l1_records() -> object:
            return l1.recent_records("binance", sym, 100)

        return {
            "L1 recent(100) as TradeTick": await latencies(lambda: l1.recent("binance", sym, 100)),
            "L1 recent(100) as records": await latencies(l1_records),
            "L2 recent(100) as TradeTick": await latencies(
                lambda: redis_tier.recent("binance", sym, 100)
            ),
            "L2 recent(100) as records": await latencies(
                lambda: redis_tier.recent_records("binance", sym, 100)
            ),
        }
    finally:
        await l1.close()
        await redis_tier.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cleanup() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{PREFIX}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def redis_version() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def event_loop(choice: str = "polling") -> tuple[str, Callable[[Any], Any]]:
    """The loop to run on: ``polling`` (trading-core live's, which spins while a Redis reply
    is awaited: ``ticklane.ipc.loop``), ``asyncio``, ``uvloop``, or ``auto`` (uvloop when
    installed)."""
    if choice == "polling":

        def run(flow: Any) -> Any:
            with asyncio.Runner(loop_factory=polling_loop) as runner:
                return runner.run(flow)

        return "trading-core's polling loop", run
    if choice == "asyncio":
        return "asyncio default loop", asyncio.run
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("bench: --loop uvloop, but uvloop is not installed") from None
        return "asyncio default loop (uvloop not installed)", asyncio.run
    return f"uvloop {getattr(uvloop, '__version__', '')}", uvloop.run


async def measure(seconds: float) -> tuple[dict[str, float], dict[str, list[float]]]:
    records = synthetic_records(50_000)
    rates: dict[str, float] = {}
    for name, make in (("memory (L1)", memory), ("Redis (L2)", l2), ("tiered", tiered)):
        for batch in BATCHES:
            rates[f"put_many {name}, batch {batch}"] = await write_rate(
                make, records, batch, seconds
            )
    down = dead_url()
    rates[
        "put_many tiered, batch 100, Redis refusing connections (backing off)"
    ] = await write_rate(lambda: tiered(down), records, 100, seconds)
    return rates, await read_latencies(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per write figure and run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--loop",
        choices=("polling", "auto", "asyncio", "uvloop"),
        default="polling",
        help="event loop (default: trading-core live's)",
    )
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    loop_name, run = event_loop(args.loop)
    calibrated = calibration(REDIS_URL)
    load_before = os.getloadavg()[0]
    runs = []
    try:
        for index in range(args.repeat):
            runs.append(run(measure(args.seconds)))
            print(f"run {index + 1} of {args.repeat} done", file=sys.stderr)
    finally:
        cleanup()
    load_after = os.getloadavg()[0]
    lines = [
        "## cache",
        "",
        "Command: `.venv/bin/python -m benchmarks.bench_cache"
        + (f" --seconds {args.seconds:g}" if args.seconds != 1.0 else "")
        + (f" --repeat {args.repeat}" if args.repeat != 3 else "")
        + (f" --loop {args.loop}" if args.loop != "polling" else "")
        + " --write-results`",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, redis-py "
        f"{redis.__version__}, Redis {redis_version()} on 127.0.0.1 (TCP), {loop_name}, "
        f"{time.strftime('%Y-%m-%d')}; 1-minute load average {load_before:.1f} before the run, "
        f"{load_after:.1f} after",
        "",
        calibrated,
        "",
        f"Data: synthetic trades received just now, alternating binance {' and '.join(SYMBOLS)}; "
        "each `put_many` awaited before the next. Writes: median of "
        f"{args.repeat} runs of about {args.seconds:g} s each (range in brackets). Reads: "
        f"{READS:,} calls per run on a full list, the median run's p50 and p99.",
        "",
        "| figure | measured | reference system |",
        "| --- | --- | --- |",
    ]
    for name in runs[0][0]:
        values = sorted(r[0][name] for r in runs)
        lines.append(
            f"| {name} | {statistics.median(values):,.0f} ticks/s "
            f"({values[0]:,.0f}-{values[-1]:,.0f}) | |"
        )
    refs = {"L1": "cache hit (L1) ~10 µs", "L2": "cache hit (L2) ~100 µs"}
    for name in runs[0][1]:
        p50s = sorted((percentile(r[1][name], 0.5), r[1][name]) for r in runs)
        median_run = p50s[len(p50s) // 2][1]
        lines.append(
            f"| {name} p50 / p99 | {percentile(median_run, 0.5):,.1f} µs / "
            f"{percentile(median_run, 0.99):,.1f} µs | {refs[name[:2]]} |"
        )
    lines += ["", NOTES]
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write_results:
        write_section("cache", section)


if __name__ == "__main__":
    main()
