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

from benchmarks.results import write_section
from ticklane.venues.sim.recordings import ReceivedFrame, RestBody
from ticklane.venues.sim.synthetic import SyntheticMarket

SECTION: Final = "serve"
BENCH_DIR: Final = Path(__file__).resolve().parent
REPO: Final = BENCH_DIR.parent
WORK_DIR: Final = BENCH_DIR / ".work"
BIN: Final = Path(sys.executable).parent
DEFAULT_PG_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_TICKS: Final = 30_000
SYMBOLS: Final = 16
SEED: Final = 11
VENUE_RATES: Final = (5_000, 10_000, 20_000)  # frames/s asked of the local venue
SYNTHETIC_RATES: Final = (40_000, 0)  # frames/s of the wire feeder, synthetic; 0: unpaced
WIRE_RATES: Final = (20_000, 40_000, 60_000, 0)  # frames/s of the wire feeder, recorded
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
CAPTURE: Final = REPO.parent / "shared" / "data" / "binance" / "btcusdt_20230405.dat.gz"
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


@dataclass(frozen=True)
class Market:
    """Frames framed for the wire (``frames.bin``, ``offsets.npy``), the REST depth snapshots
    that match them (``snapshots.json``), and the symbols to subscribe."""

    name: str
    folder: Path
    symbols: tuple[str, ...]


def _write_market(folder: Path, frames: Iterator[str], snapshots: dict[str, str]) -> None:
    offsets = [0]
    with (folder / "frames.bin").open("wb") as out:
        for frame in frames:
            payload = frame.encode()
            wire = _ws_header(len(payload)) + payload
            out.write(wire)
            offsets.append(offsets[-1] + len(wire))
    np.save(folder / "offsets.npy", np.array(offsets, dtype=np.int64))
    (folder / "snapshots.json").write_text(json.dumps(snapshots))
    (folder / "done").touch()


def synthetic_market(frames: int) -> Market:
    """The seeded synthetic market of ``SYMBOLS`` symbols (made once under
    ``benchmarks/.work``: 1.5M frames take ~3 minutes to generate)."""
    folder = WORK_DIR / f"serve-market-{SYMBOLS}x{frames}-seed{SEED}"
    symbols = tuple(SyntheticMarket(SEED, SYMBOLS).symbol_names())
    market = Market(f"synthetic, {SYMBOLS} symbols", folder, symbols)
    if (folder / "done").exists():
        return market
    folder.mkdir(parents=True, exist_ok=True)
    progress(f"generating {frames:,} frames of the synthetic market into {folder}")
    snapshots: dict[str, str] = {}

    def generated() -> Iterator[str]:
        for event in SyntheticMarket(SEED, SYMBOLS, rate=1_000.0, frames=frames).events():
            if isinstance(event, RestBody):
                symbol = dict(parse_qsl(urlsplit(event.url).query))["symbol"]
                snapshots[symbol] = event.body
            elif isinstance(event, ReceivedFrame):
                yield event.frame

    _write_market(folder, generated(), snapshots)
    return market


def recorded_market(capture: Path, frames: int) -> Market:
    """The recorded BTCUSDT session (real Binance: 21 % trades, 53 % book tickers, 26 % depth
    diffs) played again and again, each round's trade ids, update ids and times moved on past
    the round before, so that they stay contiguous and the parser takes every round as new."""
    folder = WORK_DIR / f"serve-market-recorded-{frames}"
    market = Market("recorded BTCUSDT, repeated", folder, ("BTCUSDT",))
    if (folder / "done").exists():
        return market
    folder.mkdir(parents=True, exist_ok=True)
    progress(f"repeating {capture.name} into {frames:,} frames in {folder}")
    import gzip

    with gzip.open(capture, "rt") as lines:
        session = [json.loads(line.split(" ", 1)[1]) for line in lines]
    session = [frame for frame in session if "stream" in frame]
    trades = [f["data"]["t"] for f in session if f["stream"].endswith("@trade")]
    diffs = [f["data"] for f in session if "@depth" in f["stream"]]
    times = [f["data"]["E"] for f in session if "E" in f["data"]]
    trade_step = trades[-1] - trades[0] + 1
    update_step = diffs[-1]["u"] - diffs[0]["U"] + 1
    time_step = max(times) - min(times) + 1
    # The book starts from a snapshot at the first diff's last update: the next one follows it.
    snapshot = {"lastUpdateId": diffs[0]["u"], "bids": [["28000.00", "1.0"]],
                "asks": [["28001.00", "1.0"]]}  # fmt: skip

    def repeated() -> Iterator[str]:
        made = 0
        for round_ in range(frames // len(session) + 1):
            for frame in session:
                if made == frames:
                    return
                data = dict(frame["data"])
                for key, step in (("t", trade_step), ("U", update_step), ("u", update_step),
                                  ("E", time_step), ("T", time_step)):  # fmt: skip
                    if key in data:
                        data[key] += round_ * step
                yield json.dumps({"stream": frame["stream"], "data": data}, separators=(",", ":"))
                made += 1

    _write_market(folder, repeated(), {"BTCUSDT": json.dumps(snapshot)})
    return market


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
    market: Market
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
        symbols = ",".join(run.market.symbols)
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
        synthetic = synthetic_market(args.frames)
        venue_args = [
            "-m",
            "ticklane.venues.sim",
            "--venue",
            "binance",
            "--seed",
            str(SEED),
            "--synthetic-symbols",
            str(SYMBOLS),
            "--frames",
            "0",
            "--speed",
            "1",
        ]
        for rate in args.venue_rates:
            progress(f"local venue at {rate:,} frames/s")
            source, ready = start_source([*venue_args, "--rate", str(rate), "--port", "0"])
            urls = {"url": ready["ws_url"], "rest": ready["http_url"]}
            runs.append(_run(Run("local venue", synthetic, rate), source, urls, pg, args))
        recorded = recorded_market(args.capture, args.frames)
        plan = [(synthetic, rate) for rate in args.synthetic_rates]
        plan += [(recorded, rate) for rate in args.wire_rates]
        for market, rate in plan:
            progress(f"wire feeder, {market.name}, at {rate:,} frames/s (0: unpaced)")
            feed = ["-m", "benchmarks.bench_serve", "--feeder", str(market.folder)]
            source, urls = start_source([*feed, "--rate", str(rate)])
            profile = market is recorded and rate == 0
            runs.append(_run(Run("wire feeder", market, rate), source, urls, pg, args, profile))
    finally:
        pg.drop()
    return runs, pg


def _run(
    run: Run,
    source: subprocess.Popen[str],
    urls: dict[str, str],
    pg: Postgres,
    args: argparse.Namespace,
    profile: bool = False,
) -> Run:
    try:
        measure(run, source, urls, pg, args, profile)
    finally:
        stop_source(source)
    _print_run(run)
    return run


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
    verdict = "none sustained"
    if best is not None:
        verdict = (f"{best.stored:,.0f} ticks/s stored ({best.frames:,.0f} frames/s, "
                   f"{best.source}, {best.market.name}, {_asked(best)})")  # fmt: skip
    met = "met" if best and best.stored >= TARGET_TICKS else "missed"
    lines = [
        f"## {SECTION}",
        "",
        "Command: `.venv/bin/python -m benchmarks.bench_serve --write-results`",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, PostgreSQL {pg.version}, {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average {loads[0]} before the run, {loads[1]} after (a shared machine: "
        f"other work ran meanwhile); each run {args.warmup:.0f} s of warm-up, then "
        f"{args.seconds:.0f} s measured",
        "",
        "serve: `data-manager serve --live --provider binance --symbols ... --persist --ipc` as a "
        "process, with the production writer settings (batches of 5,000, flushed every 0.5 s) "
        "and no ring reader. Ticks are trades + book-ticker quotes, the rows serve stores; depth "
        "diffs go to the ring only. Sustained: nothing dropped and the writer's queue under two "
        "batches at the end. Markets: the seeded synthetic one (16 symbols; a depth diff with "
        "every event: 17 % trades, 28 % tickers), and the recorded 2023-04-05 BTCUSDT session "
        "repeated (real Binance: 21 % trades, 53 % tickers, 26 % depth diffs).",
        "",
        f"Sustained end to end: **{verdict}**; target ≥ {TARGET_TICKS:,} ticks/s: {met}.",
        "",
        "| source, market (frames/s asked) | frames/s in | ticks/s in | trades/s stored "
        "| ticks/s stored | queue at end | dropped | ring records/s | CPU serve | CPU source "
        "| CPU PostgreSQL | rows stored / published |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run.source}, {run.market.name} ({_asked(run)}) | {run.frames:,.0f} "
            f"| {run.ticks:,.0f} | {run.stored_trades:,.0f} | {run.stored:,.0f} "
            f"| {run.queue_end:,.0f} | {run.dropped:,.0f} | {run.ring:,.0f} | {run.serve_cpu:.0%} "
            f"| {run.source_cpu:.0%} | {run.postgres_cpu:.0%} | {run.rows:,} / {run.published:,} |"
        )
    profiled = next((r for r in runs if r.profile), None)
    if profiled is not None:
        lines += ["", f"Where serve's time goes (py-spy, {args.profile_seconds:.0f} s of the "
                  f"unpaced run of the {profiled.market.name} market; share of each thread's "
                  "samples, by the innermost frame):", ""]  # fmt: skip
        lines += [f"- {line}" for line in profiled.profile]
    return "\n".join([*lines, "", *NOTES]) + "\n"


NOTES: Final = (
    "Notes (one-off measurements on this machine, not re-measured by each run):",
    "",
    "- Before issue #4's fixes serve's main thread took 44 µs of CPU per frame with `--persist "
    "--ipc` (in process, against the wire feeder), and as a process it read 21,500 frames/s of "
    "a 4-symbol synthetic market (9,600 ticks/s) with the store falling behind. The feed runner "
    "now arms one watchdog timeout re-armed every 1/8 of its period instead of one per frame, "
    "reads frames as bytes (the parsers re-encoded every str) and hands the records of the frames "
    "already queued to the sinks in one call (the ring's cost is mostly per call): 16 µs a frame. "
    "The store writer lowers the switch interval to 0.5 ms while it runs: at 40,000 frames/s of "
    "the synthetic market it stored 14,000 of 17,800 ticks/s with the default 5 ms, all at 0.5 ms.",
    "- The local venue sends about 10,000 frames/s at most (it generates and sends frame by "
    "frame, under its lock, on a core it shares with serve), and serve, woken once per frame at "
    "that pace, spends ~90 µs of CPU a frame against ~20 µs when frames come in bursts: hence the "
    "wire feeder for the higher rates.",
    "- The synthetic market's unpaced run stores less than it reads: 16 symbols make 32 store "
    "transactions per batch (one per instrument and kind, about 7 round trips each), and after "
    "each round trip the writer thread waits for the GIL held by a saturated event loop. "
    "Proposals, by expected gain: one COPY and one INSERT for all the instruments of a batch (a "
    "staging table with exchange and symbol columns), 2 transactions instead of 32; the ring "
    "writer packing records straight into its staging buffer (`struct.pack_into`) instead of a "
    "bytes object per record (22 % of the main thread above); `StoreWriter.submit_many`, called "
    "once per burst by `Server._publish`; uvloop for the event loop; a leaner WebSocket frame "
    "reader than websockets' (27 % above).",
)


def _asked(run: Run) -> str:
    return f"{run.rate:,}" if run.rate else "unpaced"


def _rates(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=1_500_000, help="wire market size")
    parser.add_argument("--pg-url", default=os.environ.get("TICKLANE_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--venue-rates", type=_rates, default=VENUE_RATES, help="frames/s, ...")
    parser.add_argument("--synthetic-rates", type=_rates, default=SYNTHETIC_RATES)
    parser.add_argument("--wire-rates", type=_rates, default=WIRE_RATES, help="0: unpaced")
    parser.add_argument("--capture", type=Path, default=CAPTURE, help="recv-ns Binance capture")
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
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
