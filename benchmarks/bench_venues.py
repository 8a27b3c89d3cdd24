"""Venue parser throughput: recorded frames normalized into records per second, one core.

Run ``.venv/bin/python -m benchmarks.bench_venues [--repeat K] [--write-results]``. Frames come
from the recordings in ``../shared/data`` (``TICKLANE_TEST_DATA`` overrides), already in
memory as the bytes a WebSocket client hands over; each pass builds a new parser (trade-id and
book state start afresh) and parses every frame of the workload, ``parse(frame, ts_recv)``
producing the ``core.records`` a feed would publish. The figure is the median over
``--repeat`` measurements of passes adding up to at least ~0.3 s each.

Workloads: Binance 2023-04-05 BTCUSDT ``@trade``, ``@bookTicker`` and ``@depth@100ms`` frames
(the depth book started from an empty snapshot, as the capture holds none), and the whole
capture mixed; Kraken v1 ``book-1000`` (checksum verified on every update), v1 trade and
ticker frames, v2 ``book`` (the 2023 book-10 session re-expressed as v2 messages, checksums
verified) and v2 ``trade`` frames made from the recorded v1 trades; Kraken Futures: the 2021
session (book deltas, tickers, trades) and single ``trade`` frames made from its trade
snapshots. Plus the cost of one decimal string -> scaled int, the fast path against
``core.fixed``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.results import write_section
from ticklane.core.fixed import price_to_raw
from ticklane.venues.binance import BinanceParser
from ticklane.venues.binance.schemas import DepthSnapshot
from ticklane.venues.kraken import KrakenParser
from ticklane.venues.kraken_futures import KrakenFuturesParser
from ticklane.venues.numbers import price_raw

REPO = Path(__file__).resolve().parent.parent
TARGET_TRADES = 200_000
Frames = list[tuple[int, bytes]]


def data_dir() -> Path:
    return Path(os.environ.get("TICKLANE_TEST_DATA", REPO.parent / "shared" / "data"))


def capture(path: Path) -> Frames:
    """A recv-ns capture: ``<recv time> <frame>`` lines (16-digit times are µs)."""
    frames = []
    for line in gzip.decompress(path.read_bytes()).split(b"\n"):
        if line:
            stamp, _, frame = line.partition(b" ")
            frames.append((int(stamp) * 1000 if len(stamp) <= 16 else int(stamp), frame))
    return frames


def session(path: Path) -> Frames:
    """The received frames of a cryptofeed session file."""
    frames = []
    for line in path.read_bytes().split(b"\n"):
        if not line or line.startswith(b"configuration: ") or b" <-> " in line:
            continue
        head, _, frame = line.partition(b": ")
        if b" <- " in head or b" -> " in head:
            continue
        whole, _, frac = head.partition(b".")
        frames.append((int(whole) * 10**9 + int(frac.ljust(9, b"0")[:9] or b"0"), frame))
    return frames


def kraken_v2_book(document: dict[str, Any]) -> list[bytes]:
    """The 2023 v1 book-10 session as v2 ``book`` messages, numbers written as received."""

    def levels(rows: list[list[str]]) -> list[dict[str, msgspec.Raw]]:
        return [
            {"price": msgspec.Raw(r[0].encode()), "qty": msgspec.Raw(r[1].encode())} for r in rows
        ]

    init = document["init"][1]
    frames = [
        {"channel": "book", "type": "snapshot",
         "data": [{"symbol": "BTC/USD", "bids": levels(init["bs"]), "asks": levels(init["as"])}]}
    ]  # fmt: skip
    for update in document["updates"]:
        data: dict[str, Any] = {"symbol": "BTC/USD", "bids": [], "asks": []}
        for payload in update[1:-2]:
            data["bids"] += levels(payload.get("b", []))
            data["asks"] += levels(payload.get("a", []))
            if "c" in payload:
                data["checksum"] = int(payload["c"])
        data["timestamp"] = "2023-05-29T09:25:35.063741Z"
        frames.append({"channel": "book", "type": "update", "data": [data]})
    return [msgspec.json.encode(frame) for frame in frames]


def kraken_v2_trades(v1_frames: Frames) -> list[bytes]:
    """v2 ``trade`` frames, one trade each, from the recorded v1 trades (ids made up)."""
    out = []
    trade_id = 1
    for _, frame in v1_frames:
        message = json.loads(frame)
        if not isinstance(message, list) or message[-2] != "trade":
            continue
        for row in message[1]:
            seconds = float(row[2])
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            trade = {"symbol": "BTC/USD", "side": "buy" if row[3] == "b" else "sell",
                     "price": msgspec.Raw(row[0].encode()), "qty": msgspec.Raw(row[1].encode()),
                     "ord_type": "limit", "trade_id": trade_id,
                     "timestamp": f"{stamp}.{row[2].split('.')[1]}Z"}  # fmt: skip
            out.append(msgspec.json.encode({"channel": "trade", "type": "update", "data": [trade]}))
            trade_id += 1
    return out


def futures_trades(frames: Frames) -> tuple[bytes, list[bytes]]:
    """A baseline ``trade_snapshot`` and single ``trade`` frames from the recorded snapshots."""
    trades = []
    for _, frame in frames:
        if b'"feed":"trade_snapshot"' in frame:
            trades += json.loads(frame)["trades"]
    for seq, trade in enumerate(trades, start=2):
        trade.update(product_id="PI_XBTUSD", seq=seq)
    baseline = msgspec.json.encode(
        {"feed": "trade_snapshot", "product_id": "PI_XBTUSD", "trades": [{**trades[0], "seq": 1}]}
    )
    return baseline, [msgspec.json.encode(trade) for trade in trades]


def rate(run_once: Callable[[], int], repeat: int) -> tuple[float, float, float]:
    """Median, lowest and highest items/s over ``repeat`` timed batches of passes."""
    run_once()  # warm up
    started = time.perf_counter()
    run_once()
    passes = max(1, int(0.3 / max(time.perf_counter() - started, 1e-6)))
    rates = []
    for _ in range(repeat):
        count = 0
        started = time.perf_counter()
        for _ in range(passes):
            count += run_once()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates), min(rates), max(rates)


def parser_pass(
    new: Callable[[], Any],
    frames: list[bytes],
    setup: Callable[[Any], None] | None = None,
    errors: int = 0,
) -> Callable[[], int]:
    """One pass: a new parser parses every frame; it must count exactly ``errors`` problems."""

    def run_once() -> int:
        parser = new()
        if setup is not None:
            setup(parser)
        parse = parser.parse
        for frame in frames:
            parse(frame, 1_700_000_000_000_000_000)
        if parser.errors.total != errors:
            raise RuntimeError(f"unexpected parse errors: {parser.errors.counts}")
        return len(frames)

    return run_once


def workloads(data: Path) -> list[tuple[str, Callable[[], int], str, str]]:
    """(figure, one pass, target, what the frames are)."""
    binance = capture(data / "binance" / "btcusdt_20230405.dat.gz")
    by_stream: dict[str, list[bytes]] = {"trade": [], "bookTicker": [], "depth": []}
    for _, frame in binance:
        kind = json.loads(frame)["stream"].split("@", 1)[1].split("@")[0]
        by_stream[kind].append(frame)
    first_u = json.loads(by_stream["depth"][0])["data"]["U"]
    levels = sum(
        len(json.loads(f)["data"]["b"]) + len(json.loads(f)["data"]["a"])
        for f in by_stream["depth"]
    )

    def seed(parser: BinanceParser) -> None:
        parser.apply_snapshot("BTCUSDT", DepthSnapshot(first_u - 1, [], []), 0)

    kraken = data / "kraken"
    book_1000 = [f for _, f in session(kraken / "KRAKEN.ws.50.0")]
    v1_trades = session(kraken / "KRAKEN.ws.48.0") + session(
        kraken / "2021-04-05_7136ce8d_KRAKEN-82ac16.0"
    )
    v1_tickers = session(kraken / "KRAKEN.ws.49.0") + session(
        kraken / "2021-04-05_7136ce8d_KRAKEN-4b7396.0"
    )
    v1_small = [f for _, f in v1_trades + v1_tickers if f.startswith(b"[")]
    v2_book = kraken_v2_book(json.loads((kraken / "orderbook-v1-2023-05-29.json").read_bytes()))
    futures = session(data / "kraken_futures" / "KRAKEN_FUTURES.ws.1.0")
    baseline, futures_single = futures_trades(futures)

    def futures_seed(parser: KrakenFuturesParser) -> None:
        parser.parse(baseline, 0)

    n = len
    return [
        ("Binance @trade", parser_pass(BinanceParser, by_stream["trade"]),
         f"≥ {TARGET_TRADES:,} frames/s", f"{n(by_stream['trade']):,} frames, 1 trade each"),
        ("Binance @bookTicker", parser_pass(BinanceParser, by_stream["bookTicker"]), "-",
         f"{n(by_stream['bookTicker']):,} frames, 1 quote each"),
        ("Binance @depth@100ms (book kept)", parser_pass(BinanceParser, by_stream["depth"], seed),
         "-", f"{n(by_stream['depth']):,} diffs, {levels / n(by_stream['depth']):.1f} levels each"),
        ("Binance whole capture (mixed)", parser_pass(BinanceParser, [f for _, f in binance], seed),
         "-", f"{n(binance):,} frames"),
        # One BTC/CHF ask (9,999,999,997) is beyond the price column: counted, left out.
        ("Kraken v1 book-1000 (checksums verified)",
         parser_pass(KrakenParser, book_1000, errors=1), "-",
         f"{n(book_1000):,} frames of 10 pairs (10 snapshots of up to 1,000 levels a side), "
         "4,269 checksums"),
        ("Kraken v1 trade + ticker", parser_pass(KrakenParser, v1_small), "-",
         f"{n(v1_small)} frames"),
        ("Kraken v2 book-10 (checksums verified)", parser_pass(KrakenParser, v2_book), "-",
         f"{n(v2_book)} frames (2023 v1 session as v2)"),
        ("Kraken v2 trade", parser_pass(KrakenParser, kraken_v2_trades(v1_trades)), "-",
         "38 frames from the v1 trades, 1 trade each"),
        ("Kraken Futures session", parser_pass(KrakenFuturesParser, [f for _, f in futures]),
         "-", f"{n(futures):,} frames, mostly book deltas"),
        ("Kraken Futures trade", parser_pass(KrakenFuturesParser, futures_single, futures_seed),
         "-", f"{n(futures_single):,} frames, 1 trade each"),
    ]  # fmt: skip


def decimal_costs() -> list[tuple[str, float]]:
    """ns per call of one Binance price string -> scaled int."""
    text = "28165.47000000"
    costs = []
    for name, convert in (
        ("price_raw (fast path)", price_raw),
        ("core.fixed.price_to_raw", price_to_raw),
    ):
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(200_000):
                convert(text)
            best = min(best, (time.perf_counter() - started) / 200_000 * 1e9)
        costs.append((name, best))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the one expected bad value would be logged each pass
    load_before = os.getloadavg()[0]
    rows = []
    for name, run_once, target, what in workloads(data_dir()):
        median, low, high = rate(run_once, args.repeat)
        print(f"{name:44} {median:12,.0f} frames/s  ({low:,.0f}-{high:,.0f})")
        if target != "-":
            target += ": met" if median >= TARGET_TRADES else ": missed"
        rows.append(
            f"| {name} | {median:,.0f} frames/s | {target} | {what}; range {low:,.0f}-{high:,.0f} |"
        )
    costs = decimal_costs()
    for name, ns in costs:
        print(f"{name:44} {ns:12,.0f} ns per value")
        rows.append(f"| {name}, one 8-decimal string | {ns:,.0f} ns | - | best of 5 x 200,000 |")
    if args.write_results:
        section = "\n".join(
            [
                "## venues",
                "",
                "Command: `.venv/bin/python -m benchmarks.bench_venues --write-results`",
                "",
                f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
                f"{platform.python_version()}, msgspec {msgspec.__version__}, "
                f"{time.strftime('%Y-%m-%d')}; one core; 1-minute load average "
                f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after.",
                "",
                "Each figure: recorded frames (bytes in memory) through `parser.parse(frame, "
                "ts_recv)` into the records a feed publishes, a new parser per pass; median of "
                f"{args.repeat} timed batches of passes (~0.3 s each), range in the last column. "
                "Targets come from the project issue; the reference Rust system gives none.",
                "",
                "| figure | measured | target | frames |",
                "| --- | --- | --- | --- |",
                *rows,
                "",
            ]
        )
        write_section("venues", section)


if __name__ == "__main__":
    main()
