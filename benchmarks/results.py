"""Writing a benchmark's section of ``benchmarks/RESULTS.md`` (``--write-results``)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import redis

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(name: str, section: str, path: Path = RESULTS) -> None:
    """Put ``section`` (starting ``## name``) in place of the file's section of that name, or
    at the end; the other sections stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    head, marker, rest = text.partition(f"## {name}\n")
    if marker:
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def calibration(redis_url: str | None = None) -> str:
    """A line of figures of the machine itself, measured now, so results from different days or
    VMs can be compared: this VM's speed has moved by up to 2x from one session to the next.

    - a fixed pure-Python loop (interpreter speed: the backtest's and the pipeline's Python);
    - how long a 3 us sleep lasts (waking an idle vCPU: what every blocking wait pays);
    - with ``redis_url``, a PING from redis-py's sync client (near the network floor of
      every cache figure).
    """
    began = time.perf_counter()
    total = 0
    for step in range(10_000_000):
        total += step
    loop_ms = (time.perf_counter() - began) * 1000
    sleeps = []
    for _ in range(200):
        began = time.perf_counter()
        time.sleep(3e-6)
        sleeps.append(time.perf_counter() - began)
    parts = [
        f"a 10M-step Python loop takes {loop_ms:,.0f} ms",
        f"a 3 µs sleep lasts {statistics.median(sleeps) * 1e6:,.0f} µs (p50)",
    ]
    if redis_url is not None:
        parts.append(f"a redis-py (sync) PING {_redis_ping_us(redis_url):,.0f} µs (p50)")
    return "Calibration (this machine, at the start of this run): " + "; ".join(parts) + "."


def _redis_ping_us(redis_url: str) -> float:
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
        samples = []
        for _ in range(1000):
            began = time.perf_counter()
            client.ping()
            samples.append(time.perf_counter() - began)
        return statistics.median(samples) * 1e6
    finally:
        client.close()
