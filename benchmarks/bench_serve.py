"""``data-manager serve`` end to end (issue #4 figures): from a venue's socket to rows in
PostgreSQL, with ``--persist --ipc``, serve running as a process of its own.

    .venv/bin/python -m benchmarks.bench_serve [--seconds S] [--write-results]

Two sources feed serve the seeded synthetic Binance market (``ticklane.venues.sim.synthetic``:
``@trade``, ``@bookTicker`` and ``@depth@100ms`` frames of 16 symbols, with the REST depth
snapshots that match them; about 17 % of the frames are trades and 28 % book tickers):

- the local venue (``python -m ticklane.venues.sim --synthetic-symbols 16 --rate R --speed 1``)
  at increasing rates, up to the venue's own ceiling;
- a wire feeder (this module run with ``--feeder DIR``): the same market generated once (cached
  under ``benchmarks/.work/``), each frame framed for the wire in advance and written to the
  socket at a paced rate or as fast as serve reads; it answers the REST depth snapshots and
  the WebSocket pings and nothing else, so that serve, not the sender, is what is measured.

Each run stores into a fresh schema of a scratch database. After ``--warmup`` seconds the
figures are taken over ``--seconds``: frames/s received, ticks/s (trades + quotes) published
and stored by the writer, the writer's queue at the end and its drops, records/s into the ring,
and the CPU of serve, of the source and of PostgreSQL (its backends serving the scratch
database and its WAL writer, checkpointer and background writer): user + system time over wall
time from ``/proc``, 100 % being one core. Then serve is stopped with SIGINT and the rows are
counted. In the unpaced run ``py-spy`` samples serve for ``--profile-seconds``, and the section
says where its time goes. A benchmark reports; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import numpy as np
import psycopg
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from ticklane.venues.sim.recordings import ReceivedFrame, RestBody
from ticklane.venues.sim.synthetic import SyntheticMarket

SECTION: Final = "serve"
BENCH_DIR: Final = Path(__file__).resolve().parent
REPO: Final = BENCH_DIR.parent
WORK_DIR: Final = BENCH_DIR / ".work"
RESULTS_FILE: Final = BENCH_DIR / "RESULTS.md"
BIN: Final = Path(sys.executable).parent
DEFAULT_PG_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_TICKS: Final = 30_000
SYMBOLS: Final = 16
SEED: Final = 11
VENUE_RATES: Final = (5_000, 10_000, 20_000)  # frames/s asked of the local venue
WIRE_RATES: Final = (20_000, 40_000, 60_000, 0)  # frames/s of the wire feeder; 0: unpaced
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
PG_HELPERS: Final = ("walwriter", "checkpointer", "background writer")

_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


# -- the market, framed for the wire once ------------------------------------------------------


def _ws_header(length: int) -> bytes:
    """A server's (unmasked) text frame header: FIN + opcode 1, then the payload length."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65_536:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


def prepare_market(frames: int) -> Path:
    """The seeded synthetic market of ``frames`` frames, framed for the wire, in a folder under
    ``benchmarks/.work`` (made once: 1.5M frames take ~3 minutes to generate)."""
    folder = WORK_DIR / f"serve-market-{SYMBOLS}x{frames}-seed{SEED}"
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    progress(f"generating {frames:,} frames of the synthetic market into {folder}")
    market = SyntheticMarket(SEED, SYMBOLS, rate=1_000.0, frames=frames)
    snapshots: dict[str, str] = {}
    offsets = [0]
    with (folder / "frames.bin").open("wb") as out:
        for event in market.events():
            if isinstance(event, RestBody):
                symbol = dict(parse_qsl(urlsplit(event.url).query))["symbol"]
                snapshots[symbol] = event.body
            elif isinstance(event, ReceivedFrame):
                payload = event.frame.encode()
                wire = _ws_header(len(payload)) + payload
                out.write(wire)
                offsets.append(offsets[-1] + len(wire))
    np.save(folder / "offsets.npy", np.array(offsets, dtype=np.int64))
    (folder / "snapshots.json").write_text(json.dumps(snapshots))
    (folder / "done").touch()
    return folder


# -- the wire feeder (a process of its own: --feeder DIR) --------------------------------------

_WS_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def feeder(folder: Path, rate: float) -> None:
    """Serve the market in ``folder`` to every WebSocket client until SIGTERM."""
    data = memoryview((folder / "frames.bin").read_bytes())
    offsets = np.load(folder / "offsets.npy")
    snapshots: dict[str, str] = json.loads((folder / "snapshots.json").read_text())

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(
            ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError
        ):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            headers = {
                key.strip().lower(): value.strip()
                for key, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
            }
            if headers.get("upgrade", "").lower() != "websocket":  # REST: a depth snapshot
                query = dict(parse_qsl(urlsplit(head.split(" ", 2)[1]).query))
                body = snapshots.get(query.get("symbol", ""), "[]").encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
            else:
                key = headers["sec-websocket-key"] + _WS_GUID
                accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    + f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
                )
                pongs = asyncio.create_task(_answer_pings(reader, writer))
                await _blast(writer, data, offsets, rate)
                await pongs  # the socket stays open: serve sees silence, not a close
        writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"url": f"ws://127.0.0.1:{port}", "rest": f"http://127.0.0.1:{port}"}))
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


async def _blast(writer: asyncio.StreamWriter, data: memoryview, offsets: Any, rate: float) -> None:
    """Write the frames paced at ``rate`` a second (0: as fast as the reader takes them)."""
    transport = writer.transport
    total = len(offsets) - 1
    sent = 0
    began = time.perf_counter()
    while sent < total and not transport.is_closing():
        upto = min(total, sent + 1_000)
        if rate > 0:
            upto = min(upto, int((time.perf_counter() - began) * rate) + 1)
            if upto <= sent:
                await asyncio.sleep(0.002)
                continue
        transport.write(data[offsets[sent] : offsets[upto]])
        sent = upto
        while transport.get_write_buffer_size() > 1 << 20 and not transport.is_closing():
            await asyncio.sleep(0.001)  # the reader's pace (TCP)
        await asyncio.sleep(0)


async def _answer_pings(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the client's (masked) frames; answer a ping with a pong, stop at a close."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length >= 126:
            length = int.from_bytes(await reader.readexactly(2 if length == 126 else 8), "big")
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if first & 0x0F == 0x9 and len(payload) < 126:
            writer.write(bytes((0x8A, len(payload))) + payload)
        elif first & 0x0F == 0x8:
            return


# -- processes and their figures ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, its threads included (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_source(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A process that prints one JSON line with its URLs once it listens."""
    process = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{' '.join(args)}: exited with {process.wait()}")
    return process, json.loads(line)


def stop_source(source: subprocess.Popen[str]) -> None:
    # SIGKILL after a while: a paced local venue that fell behind its schedule plays on
    # without yielding to its event loop once nobody is subscribed, and misses SIGTERM.
    source.terminate()
    try:
        source.wait(10)
    except subprocess.TimeoutExpired:
        source.kill()
        source.wait()
    if source.stdout is not None:
        source.stdout.close()


def scrape(port: int) -> dict[str, float]:
    """serve's samples summed by name (records by kind, writer rows by outcome)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    sums: dict[str, float] = collections.defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if name == "ticklane_records_total":
                name = f"records_{sample.labels['kind']}"
            elif name == "ticklane_writer_rows_total":
                name = f"writer_{sample.labels['outcome']}"
            sums[name] += sample.value
    return sums


class Postgres:
    """A scratch database for the runs, a schema per run, and the CPU its processes use."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"ticklane_bench_serve_{os.getpid()}"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            row = admin.execute("SHOW server_version").fetchone()
            self.version = str(row[0]).split()[0] if row else "?"
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        parts = urlsplit(admin_url)
        self.url = urlunsplit((parts.scheme, parts.netloc, f"/{self.name}", "", ""))

    @contextlib.contextmanager
    def schema(self) -> Iterator[str]:
        """A URL whose connections work in a new schema of the scratch database."""
        name = f"run_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        try:
            yield f"{self.url}?options=-csearch_path%3D{name}"
        finally:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))

    def cpu(self) -> float:
        """CPU seconds of the backends on the scratch database and of the WAL helpers."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE (datname = %s AND pid <> "
                "pg_backend_pid()) OR backend_type = ANY(%s)",
                (self.name, list(PG_HELPERS)),
            ).fetchall()
        return sum(cpu_seconds(int(row[0])) for row in rows)

    def count_rows(self, url: str) -> int:
        with psycopg.connect(url) as conn:
            trades = conn.execute("SELECT count(*) FROM tick_data").fetchone()
            quotes = conn.execute("SELECT count(*) FROM quotes").fetchone()
        return int(trades[0] if trades else 0) + int(quotes[0] if quotes else 0)

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


@dataclass
class Run:
    """One source at one rate: what serve did over the measured window."""

    source: str
    rate: int  # asked of the source, frames/s; 0: unpaced
    frames: float = 0.0
    trades: float = 0.0
    quotes: float = 0.0
    stored: float = 0.0
    ring: float = 0.0
    queue_end: float = 0.0
    dropped: float = 0.0
    serve_cpu: float = 0.0
    source_cpu: float = 0.0
    postgres_cpu: float = 0.0
    rows: int = 0
    published: int = 0
    summary: str = ""
    profile: list[str] = field(default_factory=list)

    @property
    def ticks(self) -> float:
        return self.trades + self.quotes

    @property
    def stored_trades(self) -> float:
        return self.stored * self.trades / self.ticks if self.ticks else 0.0

    @property
    def sustained(self) -> bool:
        """The store kept up: no drop, the queue at the end under two batches."""
        return self.dropped == 0 and self.queue_end < 10_000


def serve_config(folder: Path, urls: dict[str, str], metrics_port: int, segment: str) -> Path:
    path = folder / "serve.toml"
    path.write_text(f"""[database]
sqlite_path = "{folder / "unused.sqlite3"}"
[data_manager]
metrics_port = {metrics_port}
watchdog_secs = 30.0
[data_manager.ipc]
name = "{segment}"
[venues.binance]
ws_url = "{urls["url"]}"
rest_url = "{urls["rest"]}"
[logging]
level = "WARNING"
""")  # the production writer settings: batches of 5,000, flushed every 0.5 s
    return path


def measure(
    run: Run,
    source: subprocess.Popen[str],
    urls: dict[str, str],
    pg: Postgres,
    args: argparse.Namespace,
    profile: bool,
) -> Run:
    segment = f"ticklane-bench-serve-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as tmp, pg.schema() as url:
        folder = Path(tmp)
        port = free_port()
        config = serve_config(folder, urls, port, segment)
        env = {k: v for k, v in os.environ.items() if k not in ("RUN_MODE", "REDIS_URL")}
        env["DATABASE_URL"] = url
        symbols = ",".join(SyntheticMarket(SEED, SYMBOLS).symbol_names())
        err = (folder / "serve.err").open("w")
        serve = subprocess.Popen(
            [
                str(BIN / "data-manager"),
                "-c",
                str(config),
                "serve",
                "--live",
                "--provider",
                "binance",
                "--symbols",
                symbols,
                "--persist",
                "--ipc",
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            _wait_for_endpoint(serve, port, folder)
            time.sleep(args.warmup)
            before, pg0, t0 = scrape(port), pg.cpu(), time.perf_counter()
            cpu0 = cpu_seconds(serve.pid), cpu_seconds(source.pid)
            if profile:
                run.profile = profile_serve(serve.pid, args.profile_seconds, folder)
            time.sleep(max(0.0, t0 + args.seconds - time.perf_counter()))
            after, pg1, t1 = scrape(port), pg.cpu(), time.perf_counter()
            cpu1 = cpu_seconds(serve.pid), cpu_seconds(source.pid)
            span = t1 - t0

            def rate(name: str) -> float:
                return (after[name] - before[name]) / span

            run.frames = rate("ticklane_ws_frames_received_total")
            run.trades, run.quotes = rate("records_trade"), rate("records_quote")
            run.stored, run.ring = (
                rate("writer_written"),
                rate("ticklane_ipc_records_written_total"),
            )
            run.queue_end = after["ticklane_writer_queue_depth"]
            run.dropped = after["ticklane_writer_dropped_records_total"]
            run.serve_cpu, run.source_cpu = (cpu1[0] - cpu0[0]) / span, (cpu1[1] - cpu0[1]) / span
            run.postgres_cpu = (pg1 - pg0) / span
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=120)
            published = scrape_published(folder)
            run.summary = published[0]
            run.published = published[1]
            run.rows = pg.count_rows(url)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
            err.close()
            Path("/dev/shm", segment).unlink(missing_ok=True)
    return run


def _wait_for_endpoint(serve: subprocess.Popen[bytes], port: int, folder: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            scrape(port)
            return
        except OSError:
            if serve.poll() is not None or time.monotonic() > deadline:
                log = (folder / "serve.err").read_text()[-2000:]
                raise RuntimeError(f"serve did not start: {log}") from None
            time.sleep(0.2)


def scrape_published(folder: Path) -> tuple[str, int]:
    """serve's summary line and the trades + quotes it says it published."""
    lines = [
        line
        for line in (folder / "serve.err").read_text().splitlines()
        if line.startswith("stopped after")
    ]
    if not lines:
        return "", 0
    words = lines[-1].replace(",", "").split()
    trades = int(words[words.index("trades") - 1])
    quotes = int(words[words.index("quotes") - 1])
    return lines[-1], trades + quotes


# -- where serve's time goes -------------------------------------------------------------------

CATEGORIES: Final = (  # (category, markers of the innermost frame), first match wins
    (
        "waiting (idle)",
        (
            "select (selectors",
            "wait (threading",
            "_worker (concurrent",
            "serve_forever",
            "_beat_loop",
        ),
    ),
    ("websockets: frame parsing, recv", ("websockets/",)),
    (
        "venue parsers and books",
        ("ticklane/venues/binance", "ticklane/venues/book", "ticklane/venues/numbers", "msgspec"),
    ),
    ("feed runner", ("ticklane/venues/feed",)),
    ("IPC ring writer", ("ticklane/ipc/",)),
    (
        "store writer and psycopg",
        ("ticklane/datamanager/writer", "ticklane/storage", "psycopg", "numpy"),
    ),
    ("serve sinks", ("ticklane/datamanager/serve",)),
    ("asyncio event loop", ("asyncio/",)),
)


def profile_serve(pid: int, seconds: float, folder: Path) -> list[str]:
    """py-spy's samples of serve's threads, as 'share  category' lines per thread."""
    out = folder / "profile.txt"
    subprocess.run(
        [
            str(BIN / "py-spy"),
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
            "--threads",
        ],
        check=False,
        capture_output=True,
    )
    if not out.exists():
        return ["(py-spy could not sample serve)"]
    per_thread: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = frames[0].rpartition(": ")[2] if frames[0].startswith("thread") else "?"
        per_thread[thread][_category(frames[-1])] += int(count)
    lines = []
    for thread, counts in sorted(per_thread.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(counts.values())
        if total < 20:
            continue  # the heartbeat and the metrics threads
        parts = [
            f"{name} {100 * n / total:.0f} %"
            for name, n in counts.most_common()
            if 100 * n / total >= 1
        ]
        lines.append(f"{thread}: {'; '.join(parts)}")
    return lines


def _category(frame: str) -> str:
    for name, markers in CATEGORIES:
        if any(marker in frame for marker in markers):
            return name
    return "other"


# -- the runs and the report -------------------------------------------------------------------


def run_all(args: argparse.Namespace) -> tuple[list[Run], Postgres]:
    runs: list[Run] = []
    pg = Postgres(args.pg_url)
    try:
        for venue_rate in VENUE_RATES:
            progress(f"local venue at {venue_rate:,} frames/s")
            source, ready = start_source(
                [
                    "-m",
                    "ticklane.venues.sim",
                    "--venue",
                    "binance",
                    "--synthetic-symbols",
                    str(SYMBOLS),
                    "--seed",
                    str(SEED),
                    "--rate",
                    str(venue_rate),
                    "--frames",
                    "0",
                    "--speed",
                    "1",
                    "--port",
                    "0",
                ],
            )
            urls = {"url": ready["ws_url"], "rest": ready["http_url"]}
            try:
                runs.append(measure(Run("local venue", venue_rate), source, urls, pg, args, False))
            finally:
                stop_source(source)
            _print_run(runs[-1])
        market = prepare_market(args.frames)
        for wire_rate in WIRE_RATES:
            progress(f"wire feeder at {wire_rate:,} frames/s" if wire_rate else "wire feeder")
            source, urls = start_source(
                ["-m", "benchmarks.bench_serve", "--feeder", str(market), "--rate", str(wire_rate)]
            )
            try:
                run = Run("wire feeder", wire_rate)
                runs.append(measure(run, source, urls, pg, args, profile=wire_rate == 0))
            finally:
                stop_source(source)
            _print_run(runs[-1])
    except BaseException:
        pg.drop()
        raise
    pg.drop()
    return runs, pg


def _print_run(run: Run) -> None:
    progress(
        f"{run.source} {run.rate:,}: {run.frames:,.0f} frames/s, {run.ticks:,.0f} ticks/s in, "
        f"{run.stored:,.0f} stored/s, queue {run.queue_end:,.0f}, dropped {run.dropped:,.0f}, "
        f"cpu serve {run.serve_cpu:.0%} source {run.source_cpu:.0%} pg {run.postgres_cpu:.0%}; "
        f"rows {run.rows:,} of {run.published:,}"
    )


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def report(runs: list[Run], pg: Postgres, args: argparse.Namespace, loads: tuple[str, str]) -> str:
    best = max((r for r in runs if r.sustained), key=lambda r: r.stored, default=None)
    verdict = (
        f"{best.stored:,.0f} ticks/s stored ({best.frames:,.0f} frames/s, {best.source} "
        f"{_asked(best)})"
        if best
        else "none sustained"
    )
    met = "met" if best and best.stored >= TARGET_TICKS else "missed"
    lines = [
        f"## {SECTION}",
        "",
        "Command: `.venv/bin/python -m benchmarks.bench_serve --write-results`",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, PostgreSQL {pg.version}, {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average {loads[0]} before the run, {loads[1]} after; each run "
        f"{args.warmup:.0f} s of warm-up, then {args.seconds:.0f} s measured",
        "",
        f"serve: `data-manager serve --live --provider binance --symbols <16 symbols> --persist "
        f"--ipc` as a process, production writer settings (batches of 5,000, 0.5 s), no ring "
        f"reader. Market: the seeded synthetic Binance market of {SYMBOLS} symbols. Ticks are "
        "trades + book-ticker quotes, the rows serve stores; book diffs go to the ring only. "
        "Sustained: no record dropped and the writer's queue under two batches at the end.",
        "",
        f"Sustained end to end: **{verdict}**; target ≥ {TARGET_TICKS:,} ticks/s: {met}.",
        "",
        "| source (frames/s asked) | frames/s in | ticks/s in | trades/s stored "
        "| ticks/s stored | queue at end | dropped | ring records/s | CPU serve | CPU source "
        "| CPU PostgreSQL | rows stored / published |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run.source} ({_asked(run)}) | {run.frames:,.0f} | {run.ticks:,.0f} "
            f"| {run.stored_trades:,.0f} | {run.stored:,.0f} | {run.queue_end:,.0f} "
            f"| {run.dropped:,.0f} | {run.ring:,.0f} | {run.serve_cpu:.0%} | {run.source_cpu:.0%} "
            f"| {run.postgres_cpu:.0%} | {run.rows:,} / {run.published:,} |"
        )
    profiled = next((r for r in runs if r.profile), None)
    if profiled is not None:
        lines += [
            "",
            f"Where serve's time goes (py-spy, {args.profile_seconds:.0f} s of the "
            f"unpaced run, share of each thread's samples):",
            "",
        ]
        lines += [f"- {line}" for line in profiled.profile]
    return "\n".join(lines) + "\n"


def _asked(run: Run) -> str:
    return f"{run.rate:,}" if run.rate else "unpaced"


def _write_section(path: Path, name: str, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    head, marker, rest = text.partition(f"## {name}\n")
    if marker:
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=1_500_000, help="wire market size")
    parser.add_argument("--pg-url", default=os.environ.get("TICKLANE_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    if args.feeder is not None:
        asyncio.run(feeder(args.feeder, args.rate))
        return
    before = load_average()
    runs, pg = run_all(args)
    section = report(runs, pg, args, (before, load_average()))
    print(section)
    if args.write_results:
        _write_section(RESULTS_FILE, SECTION, section)


if __name__ == "__main__":
    main()
