"""Real processes for the serve end-to-end tests: the local venue (``python -m
ticklane.venues.sim``) and ``data-manager serve``, its configuration, its Prometheus endpoint,
and a reader of the IPC ring in a thread of the test process.

Every wait has a generous deadline and fails with what the processes printed; no test asserts
on time."""

from __future__ import annotations

import gzip
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Final

from prometheus_client.parser import text_string_to_metric_families

from ticklane.core.identifiers import InstrumentId
from ticklane.core.records import TradeRecord
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.ipc.reader import RingReader
from ticklane.storage.base import TickStore
from ticklane.storage.postgres import PostgresTickStore
from ticklane.storage.sqlite import SqliteTickStore

from cli_process import BIN, Cli

DEADLINE_S: Final = 120.0  # generous: a loaded 2-core machine runs these
START_S: Final = 60.0
ALL_TIME: Final = (0, 2**62)

Metrics = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recorded_binance_trades(capture: Path) -> list[int]:
    """Trade ids in order of a recv-ns Binance capture."""
    trade_ids = []
    with gzip.open(capture, "rt") as lines:
        for line in lines:
            frame = json.loads(line.split(" ", 1)[1])
            if frame.get("stream", "").endswith("@trade"):
                trade_ids.append(frame["data"]["t"])
    return trade_ids


class VenueProcess:
    """``python -m ticklane.venues.sim`` with ``args``; its URLs once it listens."""

    def __init__(self, folder: Path, venue: str, *args: str) -> None:
        self.venue = venue
        self.log_path = folder / f"venue-{venue}-{os.urandom(3).hex()}.log"
        self._log: IO[str] = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ticklane.venues.sim", "--venue", venue, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.info: dict[str, object] = json.loads(self._first_line())

    def _first_line(self) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_S)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise AssertionError(
                f"local {self.venue} venue did not start: {self.log_path.read_text()[-3000:]}"
            )
        return line

    @property
    def ws_url(self) -> str:
        """The WebSocket URL as ``[venues.<venue>] ws_url`` takes it (Binance: the base)."""
        endpoints = self.info["endpoints"]
        assert isinstance(endpoints, dict)
        return str(self.info["ws_url"]) if self.venue == "binance" else str(endpoints["ws"])

    @property
    def rest_url(self) -> str:
        return str(self.info["http_url"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


def serve_config(
    folder: Path,
    venues: Sequence[VenueProcess],
    *,
    metrics_port: int,
    segment: str,
    watchdog_secs: float = 20.0,
    batch_size: int = 5_000,
    flush_interval_secs: float = 0.5,
) -> Path:
    """A config file pointing ``[venues.*]`` at the local venues (the rest: test defaults)."""
    lines = [
        "[database]",
        f'sqlite_path = "{folder / "ticks.sqlite3"}"',
        "max_connections = 2",
        "min_connections = 1",
        "[data_manager]",
        f"metrics_port = {metrics_port}",
        f"watchdog_secs = {watchdog_secs}",
        "reconnect_initial_secs = 0.05",
        "reconnect_max_secs = 1.0",
        "[data_manager.writer]",
        f"batch_size = {batch_size}",
        f"flush_interval_secs = {flush_interval_secs}",
        f"max_pending = {max(batch_size, 1_000_000)}",
        "[data_manager.ipc]",
        f'name = "{segment}"',
        "capacity = 262144",  # larger than a replay: a reader in the test loses nothing
        "[logging]",
        'level = "INFO"',
        "[logging.levels]",
        'httpx = "WARNING"',
    ]
    for venue in venues:
        lines += [f"[venues.{venue.venue}]", f'ws_url = "{venue.ws_url}"']
        lines.append(f'rest_url = "{venue.rest_url}"')
    path = folder / f"serve-{os.urandom(3).hex()}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class ServeProcess:
    """``data-manager -c CONFIG serve ARGS`` with the test's database; stderr to a file."""

    def __init__(self, cli: Cli, config: Path, metrics_port: int, *args: str) -> None:
        self.metrics_port = metrics_port
        self.log_path = cli.cwd / f"serve-{os.urandom(3).hex()}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(BIN / "data-manager"), "-c", str(config), "serve", *args],
            cwd=cli.cwd,
            env=cli.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def metrics(self) -> Metrics:
        """Every sample of the endpoint, by (name, labels)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        samples: Metrics = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name, frozenset(sample.labels.items())] = sample.value
        return samples

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples carrying ``labels`` (0 when there is none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.metrics().items() if n == name and wanted <= ls)

    def wait_until(self, what: str, condition: Callable[[], bool]) -> None:
        """Poll ``condition`` (which may scrape the endpoint) until it holds."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}) before {what}:"
                                     f"\n{self.log[-4000:]}")  # fmt: skip
            try:
                if condition():
                    return
            except (urllib.error.URLError, ConnectionError):
                pass  # the endpoint is not up yet
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {DEADLINE_S:.0f} s:\n{self.log[-4000:]}")
            time.sleep(0.2)

    def stop(self, sig: signal.Signals = signal.SIGINT) -> tuple[int, str]:
        """Send ``sig``; the exit code and the whole log once serve has exited."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"serve did not stop on {sig.name}:\n{self.log[-4000:]}") from None
        self._log.close()
        return code, self.log

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


class RingTrades:
    """A reader of the serve ring in a thread of the test process: the trades in ring order."""

    def __init__(self, segment: str, expected: int) -> None:
        self.segment = segment
        self.expected = expected
        self.trade_ids: list[int] = []
        self.lost = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ring-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            reader = RingReader(self.segment, start="oldest", attach_timeout=START_S)
            with reader:
                deadline = time.monotonic() + DEADLINE_S
                while len(self.trade_ids) < self.expected and not self._stop.is_set():
                    if time.monotonic() > deadline:
                        break
                    for record in reader.read_batch(1024, timeout=0.2):
                        if type(record) is TradeRecord:
                            self.trade_ids.append(record.trade_id)
                self.lost = reader.lost
        except BaseException as error:  # handed to the test thread by ``join``
            self.error = error

    def join(self) -> list[int]:
        self._thread.join(DEADLINE_S + START_S)
        self._stop.set()
        if self.error is not None:
            raise self.error
        return self.trade_ids


def open_test_store(cli: Cli) -> TickStore:
    """The store serve wrote to: the test's PostgreSQL schema, else the config's SQLite file."""
    url = cli.env.get("DATABASE_URL")
    if url:
        return PostgresTickStore(url, min_connections=1, max_connections=1)
    return SqliteTickStore(cli.cwd / "ticks.sqlite3")


def stored_trades(store: TickStore, exchange: str, symbol: str) -> list[TradeTick]:
    return store.get_ticks(InstrumentId(exchange, symbol), *ALL_TIME)


def stored_quotes(store: TickStore, exchange: str, symbol: str) -> list[QuoteTick]:
    return store.get_quotes(InstrumentId(exchange, symbol), *ALL_TIME)


class Processes:
    """Starts venue and serve processes and stops whatever is left at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.venues: list[VenueProcess] = []
        self.serves: list[ServeProcess] = []

    def venue(self, venue: str, *args: str) -> VenueProcess:
        started = VenueProcess(self.folder, venue, *args)
        self.venues.append(started)
        return started

    def serve(self, cli: Cli, config: Path, metrics_port: int, *args: str) -> ServeProcess:
        started = ServeProcess(cli, config, metrics_port, *args)
        self.serves.append(started)
        return started

    def close(self) -> None:
        for serve in self.serves:
            serve.kill()
        for venue in self.venues:
            venue.stop()
