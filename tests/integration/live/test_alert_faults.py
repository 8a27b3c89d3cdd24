"""``trading-core live`` as a process under the faults its alert rules watch for: no
data-manager, Redis down, a flooded channel and a data-manager restarting over and over. Each
test runs the process with alerting every second (cooldown 3 s) and looks for the alert in
its stderr, where the ``ticklane.alerts`` logger writes; data-manager's side of the ring is a
``RingWriter`` in the test."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
import redis

from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.ipc.segment import unlink_segment
from ticklane.ipc.writer import RingWriter

BIN = Path(sys.executable).parent
DEADLINE_S = 60.0
COOLDOWN_S = 3
ALERT_LINE = re.compile(r"^(\S+ \S+) (\w+) ticklane\.alerts: ALERT (\w+) (\w+): ", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def trade(n: int) -> TradeRecord:
    now = time.time_ns()
    return TradeRecord("binance", "BTCUSDT", now, now, n, 42_000 * 10**9, 10**6, Side.BUY)


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:  # the metrics endpoint is not up yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class LiveProcess:
    """``trading-core live`` with a config of the test's own; stderr goes to a file."""

    def __init__(
        self,
        tmp_path: Path,
        ring: str,
        *,
        redis_url: str | None,
        args: tuple[str, ...] = (),
        extra_config: str = "",
        **live: int,
    ) -> None:
        self.port = free_port()
        self.ring = ring
        settings = {"metrics_port": self.port, "max_age_secs": 3600, **live}
        config = tmp_path / "live.toml"
        config.write_text(
            f'symbols = ["BTCUSDT"]\n[data_manager.ipc]\nname = "{ring}"\n[live]\n'
            + "".join(f"{key} = {value}\n" for key, value in settings.items())
            + f"[alerting]\nenabled = true\ninterval_secs = 1\ncooldown_secs = {COOLDOWN_S}\n"
            "reconnection_storm_threshold = 1\nchannel_backpressure_threshold = 50.0\n"
            "cache_failure_threshold = 0.1\n"
            f'[cache.redis]\nkey_prefix = "t{secrets.token_hex(3)}:"\n'
            f'[database]\nsqlite_path = "{tmp_path / "paper.sqlite3"}"\n' + extra_config
        )
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        if redis_url is not None:
            env["REDIS_URL"] = redis_url
        self.stderr_path = tmp_path / "stderr.log"
        self._stderr = self.stderr_path.open("w")
        self.process = subprocess.Popen(
            [str(BIN / "trading-core"), "-c", str(config), "live", *args],
            env=env,
            cwd=tmp_path,  # no stray .env
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        wait_for(lambda: "ticklane_ipc_connected" in self.metrics_text(), "the metrics endpoint")

    def metrics_text(self) -> str:
        if self.process.poll() is not None:
            raise AssertionError(f"trading-core exited early:\n{self.stderr()}")
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    def metric(self, name: str) -> float:
        for line in self.metrics_text().splitlines():
            if line.startswith(name + " "):
                return float(line.rpartition(" ")[2])
        return 0.0

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def alerts(self, rule: str) -> list[tuple[datetime, str]]:
        """(time logged, severity) of each alert line of ``rule``."""
        return [
            (datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f"), match[3])
            for match in ALERT_LINE.finditer(self.stderr())
            if match[4] == rule
        ]

    def interrupt(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Ctrl-C (or ``sig``); the exit code."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=DEADLINE_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


class TradeFeed:
    """A data-manager stand-in: ``per_write`` trades every ``pause_s`` from a thread."""

    def __init__(self, writer: RingWriter, *, per_write: int = 1, pause_s: float = 0.005) -> None:
        self._writer = writer
        self._per_write = per_write
        self._pause_s = pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> TradeFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(DEADLINE_S)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        n = 0
        try:
            while not self._stop.is_set():
                batch = [trade(n + i) for i in range(1, self._per_write + 1)]
                n += self._per_write
                self._writer.write_batch(batch)
                self._stop.wait(self._pause_s)
        except BaseException as error:
            self.error = error


class RedisServer:
    """A redis-server of the test's own on a free port, to be killed mid-test."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
        self.url = f"redis://127.0.0.1:{free_port()}/0"
        port = self.url.rsplit(":", 1)[1].split("/")[0]
        self.process = subprocess.Popen(
            [binary, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, "redis-server")

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE_S)


def processed_at_least(process: LiveProcess, count: int) -> Callable[[], bool]:
    return lambda: process.metric("ticklane_ticks_processed_total") >= count


@pytest.fixture
def ring_name() -> Iterator[str]:
    name = f"ticklane-test-{secrets.token_hex(4)}"
    yield name
    unlink_segment(name)


@pytest.fixture
def live(tmp_path: Path, ring_name: str) -> Iterator[Callable[..., LiveProcess]]:
    started: list[LiveProcess] = []

    def start(
        *,
        redis_url: str | None = None,
        args: tuple[str, ...] = (),
        extra_config: str = "",
        **settings: int,
    ) -> LiveProcess:
        process = LiveProcess(
            tmp_path, ring_name, redis_url=redis_url, args=args, extra_config=extra_config,
            **settings,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def assert_once_per_cooldown(process: LiveProcess, rule: str) -> None:
    """The fault lasted for several evaluations: ``rule`` fired again only after a cooldown."""
    alerts = process.alerts(rule)
    assert len(alerts) >= 2, alerts
    gaps = [(later[0] - earlier[0]).total_seconds() for earlier, later in pairwise(alerts)]
    assert min(gaps) >= COOLDOWN_S - 0.1, gaps


def test_no_data_manager_raises_ipc_disconnected_once_per_cooldown(
    live: Callable[..., LiveProcess], ring_name: str
) -> None:
    process = live()
    wait_for(lambda: len(process.alerts("ipc_disconnected")) >= 3, "three disconnected alerts")
    assert {severity for _, severity in process.alerts("ipc_disconnected")} == {"CRITICAL"}
    # Evaluated every second, but fired again only once the cooldown has passed.
    assert_once_per_cooldown(process, "ipc_disconnected")
    assert process.interrupt() == 0, process.stderr()


def test_a_start_with_data_manager_running_raises_no_disconnected_alert(
    live: Callable[..., LiveProcess], ring_name: str
) -> None:
    with RingWriter(ring_name, capacity=1024) as writer:  # data-manager started first
        process = live()
        wait_for(lambda: process.metric("ticklane_ipc_connected") == 1.0, "the ring")
        writer.write(trade(1))
        wait_for(lambda: process.metric("ticklane_alert_evaluations_total") >= 3, "evaluations")
        assert process.metric("ticklane_ticks_processed_total") == 1
        assert process.alerts("ipc_disconnected") == []  # attaching is not a lost connection
    assert process.interrupt() == 0, process.stderr()


def test_paper_trading_enabled_in_the_config_runs_without_the_flag_and_the_flag_can_refuse_it(
    live: Callable[..., LiveProcess], ring_name: str
) -> None:
    config = '[paper_trading]\nenabled = true\nstrategy = "sma"\n'
    enabled = live(extra_config=config, args=("--fresh",))
    wait_for(lambda: "start: paper sma" in enabled.stderr(), "the paper trader")
    assert enabled.interrupt() == 0, enabled.stderr()
    refused = live(extra_config=config, args=("--no-paper-trading",))
    with RingWriter(ring_name, capacity=1024) as writer:
        wait_for(lambda: refused.metric("ticklane_ipc_connected") == 1.0, "the ring")
        writer.write(trade(1))
        wait_for(lambda: refused.metric("ticklane_ticks_processed_total") == 1, "the trade")
    assert refused.interrupt(signal.SIGTERM) == 0, refused.stderr()  # as a service manager stops it
    assert "stopped: 1 trades processed" in refused.stderr()
    assert "start: paper" not in refused.stderr()


@pytest.mark.parametrize(
    ("extra_config", "args", "said"),
    [
        ("", ("--paper-trading", "--strategy", "nosuch"), "unknown strategy 'nosuch'"),
        (
            '[paper_trading]\nenabled = true\ninitial_capital = "-5"\n',
            (),
            "paper_trading.initial_capital",
        ),
    ],
)
def test_a_strategy_that_cannot_run_is_reported_and_the_pipeline_runs_without_it(
    live: Callable[..., LiveProcess],
    ring_name: str,
    extra_config: str,
    args: tuple[str, ...],
    said: str,
) -> None:
    process = live(extra_config=extra_config, args=args)
    with RingWriter(ring_name, capacity=1024) as writer:
        wait_for(lambda: process.metric("ticklane_ipc_connected") == 1.0, "the ring")
        writer.write(trade(1))
        wait_for(lambda: process.metric("ticklane_ticks_processed_total") == 1, "the trade")
    assert process.interrupt() == 0, process.stderr()
    stderr = process.stderr()
    assert said in stderr and "the market-data pipeline runs on" in stderr
    assert "start: paper" not in stderr


def test_data_manager_gone_raises_ipc_disconnected_and_trading_core_keeps_running(
    live: Callable[..., LiveProcess], ring_name: str
) -> None:
    process = live()
    with RingWriter(ring_name, capacity=1024) as writer:
        wait_for(lambda: process.metric("ticklane_ipc_connected") == 1.0, "the ring")
        writer.write(trade(1))
        wait_for(lambda: process.metric("ticklane_ticks_processed_total") == 1, "the trade")
        before = len(process.alerts("ipc_disconnected"))
    wait_for(lambda: process.metric("ticklane_ipc_connected") == 0.0, "the writer to be gone")
    wait_for(lambda: len(process.alerts("ipc_disconnected")) > before, "a disconnected alert")
    assert process.process.poll() is None  # still running, waiting for data-manager
    with RingWriter(ring_name, capacity=1024) as writer:  # data-manager is back
        wait_for(lambda: process.metric("ticklane_ipc_connected") == 1.0, "the ring again")
        writer.write(trade(2))
        wait_for(lambda: process.metric("ticklane_ticks_processed_total") == 2, "the next trade")
    assert process.interrupt() == 0, process.stderr()


def test_redis_down_raises_cache_failure_rate_while_trades_keep_flowing(
    live: Callable[..., LiveProcess], ring_name: str
) -> None:
    server = RedisServer()
    try:
        process = live(redis_url=server.url)
        with RingWriter(ring_name, capacity=4096) as writer, TradeFeed(writer):
            wait_for(lambda: process.metric("ticklane_ticks_processed_total") > 50, "trades")
            assert process.metric('ticklane_cache_ticks_total{outcome="failed"}') == 0
            server.kill()
            wait_for(lambda: process.alerts("cache_failure_rate"), "a cache failure alert")
            processed = process.metric("ticklane_ticks_processed_total")
            wait_for(
                lambda: process.metric("ticklane_ticks_processed_total") > processed + 50,
                "trades after the alert",
            )
            wait_for(lambda: len(process.alerts("cache_failure_rate")) >= 2, "a second alert")
        assert process.metric('ticklane_cache_ticks_total{outcome="failed"}') > 0
        assert {severity for _, severity in process.alerts("cache_failure_rate")} == {"WARNING"}
        assert_once_per_cooldown(process, "cache_failure_rate")
        assert process.interrupt() == 0, process.stderr()
    finally:
        server.kill()


SLOW_STRATEGY = """
import time

from ticklane.bars.events import BarDataMode
from ticklane.strategy.sma import SmaCrossover


class SlowOnEachTick(SmaCrossover):
    name = "slow_on_each_tick"
    description = "SMA crossover taking 2 ms over every trade."

    def bar_data_mode(self):
        return BarDataMode.ON_EACH_TICK

    def on_bar_data(self, bar_data):
        time.sleep(0.002)
        return super().on_bar_data(bar_data)
"""


def test_flooded_channel_raises_channel_backpressure(
    live: Callable[..., LiveProcess], ring_name: str, tmp_path: Path
) -> None:
    # A strategy slower than the feed: the reader fills the channel while it works.
    strategy = tmp_path / "slow_on_each_tick.py"
    strategy.write_text(SLOW_STRATEGY)
    args = ("--paper-trading", "--strategy", str(strategy), "--fresh")
    process = live(channel_capacity=4, args=args)
    with (
        RingWriter(ring_name, capacity=65_536) as writer,
        TradeFeed(writer, per_write=1024, pause_s=0.0),
    ):
        wait_for(lambda: len(process.alerts("channel_backpressure")) >= 2, "backpressure alerts")
    assert {severity for _, severity in process.alerts("channel_backpressure")} == {"WARNING"}
    assert_once_per_cooldown(process, "channel_backpressure")
    assert process.interrupt() == 0, process.stderr()


def test_data_manager_restarting_over_and_over_raises_reconnection_storm(
    live: Callable[..., LiveProcess], ring_name: str
) -> None:
    process = live()
    n = 0
    deadline = time.monotonic() + DEADLINE_S
    while len(process.alerts("ipc_reconnection_storm")) < 2:
        assert time.monotonic() < deadline, "no second reconnection storm alert"
        with RingWriter(ring_name, capacity=1024) as writer:  # each one a new generation
            wait_for(lambda: process.metric("ticklane_ipc_connected") == 1.0, "the ring")
            n += 1
            writer.write(trade(n))
            wait_for(processed_at_least(process, n), "the trade")
    assert process.metric("ticklane_ipc_reconnections_total") >= 2
    assert {severity for _, severity in process.alerts("ipc_reconnection_storm")} == {"WARNING"}
    assert_once_per_cooldown(process, "ipc_reconnection_storm")
    assert process.interrupt() == 0, process.stderr()


def start_data_manager(tmp_path: Path, ring_name: str) -> subprocess.Popen[bytes]:
    """A real ``data-manager demo`` (the offline venue, serve, the ring) writing ``ring_name``."""
    config = tmp_path / "data-manager.toml"
    config.write_text(f'symbols = ["BTCUSDT"]\n[data_manager.ipc]\nname = "{ring_name}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return subprocess.Popen(
        [str(BIN / "data-manager"), "-c", str(config), "demo", "--no-persist", "--rate", "200",
         "--symbols", "BTCUSDT"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_data_manager_killed_and_restarted_is_alerted_followed_and_counted_once(
    live: Callable[..., LiveProcess], ring_name: str, tmp_path: Path
) -> None:
    process = live()
    data_manager = start_data_manager(tmp_path, ring_name)
    try:
        wait_for(lambda: process.metric("ticklane_ticks_processed_total") > 20, "live trades")
        data_manager.kill()  # SIGKILL: no clean close of the ring
        data_manager.wait()
        wait_for(lambda: process.metric("ticklane_ipc_connected") == 0.0, "the kill to be seen")
        wait_for(lambda: process.alerts("ipc_disconnected"), "a disconnected alert")
        processed = process.metric("ticklane_ticks_processed_total")
        data_manager = start_data_manager(tmp_path, ring_name)
        wait_for(
            lambda: process.metric("ticklane_ticks_processed_total") > processed + 20,
            "trades from the restarted data-manager",
        )
        assert process.metric("ticklane_ipc_reconnections_total") == 1
        assert process.metric("ticklane_ipc_lost_records_total") == 0
        assert process.interrupt() == 0, process.stderr()
    finally:
        data_manager.kill()
        data_manager.wait()
