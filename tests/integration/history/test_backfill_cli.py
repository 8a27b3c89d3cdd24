"""``data-manager backfill`` as a process, on each backend, against a local Binance archive
serving zips built from recorded trades: jobs, resume after a kill and after Ctrl-C,
provenance, corrupted files, gap filling, and bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ticklane.core.time import NANOS_PER_DAY, NANOS_PER_MILLI, datetime_to_ns

from archive_server import (
    Answer,
    ArchiveTree,
    Query,
    Server,
    Trade,
    recorded_binance_trades,
    serve,
    trades_csv,
)
from cli_process import BIN, REPO, Cli

FIRST_DAY = datetime(2023, 4, 5, tzinfo=UTC)
DAYS = 4
DAILY = "/data/spot/daily/trades/BTCUSDT"


def zip_path(day: int) -> str:
    return f"{DAILY}/BTCUSDT-trades-{(FIRST_DAY + timedelta(days=day)):%Y-%m-%d}.zip"


@pytest.fixture(scope="module")
def day_trades(shared_data: Path) -> list[list[Trade]]:
    """The recorded day of trades, and copies of it shifted by whole days (new ids)."""
    first_ms = datetime_to_ns(FIRST_DAY) // NANOS_PER_MILLI
    day_ms = NANOS_PER_DAY // NANOS_PER_MILLI
    recorded = [
        t for t in recorded_binance_trades(shared_data) if first_ms <= t.time_ms < first_ms + day_ms
    ]
    step = recorded[-1].trade_id - recorded[0].trade_id + 1
    return [
        [
            replace(t, trade_id=t.trade_id + d * step, time_ms=t.time_ms + d * day_ms)
            for t in recorded
        ]
        for d in range(DAYS)
    ]


class Archive:
    """The archive tree and its server; ``hold(path)`` makes that file's download wait."""

    def __init__(self, tree: ArchiveTree) -> None:
        self.tree = tree
        self.server = Server(self._respond)
        self.url = ""
        self.held: str | None = None
        self.reached = threading.Event()
        self.release = threading.Event()

    def hold(self, path: str) -> None:
        self.held, self.reached, self.release = path, threading.Event(), threading.Event()

    def _respond(self, method: str, path: str, query: Query) -> Answer:
        if method == "GET" and path == self.held:
            self.reached.set()
            self.release.wait(30)
        return self.tree.respond(method, path, query)

    def downloads(self, path: str) -> int:
        return sum(1 for m, p, _ in self.server.requests if m == "GET" and p == path)


@pytest.fixture
def archive(day_trades: list[list[Trade]]) -> Iterator[Archive]:
    tree = ArchiveTree()
    for day, trades in enumerate(day_trades):
        tree.add(zip_path(day).lstrip("/"), trades_csv(trades))
    served = Archive(tree)
    with serve(served.server) as url:
        served.url = url
        yield served
        served.release.set()


@pytest.fixture
def config(tmp_path: Path, archive: Archive) -> Path:
    """config/test.toml with the archive pointed at the local server."""
    text = (REPO / "config" / "test.toml").read_text()
    text = text.replace('"https://data.binance.vision"', f'"{archive.url}"')
    path = tmp_path / "history.toml"
    path.write_text(text)
    return path


def fetch_args(config: Path, end_day: int = DAYS) -> tuple[str, ...]:
    end = FIRST_DAY + timedelta(days=end_day)
    return (
        "-c", str(config), "backfill", "fetch", "--source", "binance-archive",
        "--symbols", "BTCUSDT", "--start", f"{FIRST_DAY:%Y-%m-%d}", "--end", f"{end:%Y-%m-%d}",
    )  # fmt: skip


def start(cli: Cli, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "data-manager"), *args],
        cwd=cli.cwd,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def status(cli: Cli, config: Path, job: int | None = None) -> dict:  # type: ignore[type-arg]
    args = ["-c", str(config), "backfill", "status"] + (["--job", str(job)] if job else [])
    return cli.json(*args)  # type: ignore[no-any-return]


def test_a_job_killed_mid_way_resumes_without_fetching_a_finished_chunk_again(
    cli: Cli, config: Path, archive: Archive, day_trades: list[list[Trade]]
) -> None:
    archive.hold(zip_path(2))
    process = start(cli, *fetch_args(config))
    try:
        assert archive.reached.wait(60), "the third day's download never started"
        time.sleep(0.3)  # the first two chunks are committed before the third starts
        process.kill()  # no chance to record anything: a crash
        process.communicate(timeout=10)
    finally:
        archive.release.set()
    crashed = status(cli, config)["jobs"][0]
    assert crashed["state"] == "running" and crashed["chunks_done"] == 2

    archive.held = None
    resumed = cli.run(*fetch_args(config))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming job {crashed['id']}" in resumed.stderr
    assert [archive.downloads(zip_path(day)) for day in range(DAYS)] == [1, 1, 2, 1]

    job = status(cli, config, crashed["id"])
    assert [c["fetches"] for c in job["chunks"]] == [1, 1, 2, 1]
    total = sum(len(day) for day in day_trades)
    assert job["job"]["state"] == "done" and job["job"]["rows_stored"] == total
    assert all("sha256=" in c["detail"] for c in job["chunks"])

    stats = cli.json("-c", str(config), "db", "stats")
    assert [s["rows"] for s in stats["series"] if s["symbol"] == "BTCUSDT"] == [total]
    provenance = [p for p in stats["provenance"] if p["symbol"] == "BTCUSDT"]
    assert [(p["kind"], p["ranges"], p["rows"]) for p in provenance] == [("archive", 4, total)]


def test_ctrl_c_marks_the_job_interrupted_and_says_how_to_resume(
    cli: Cli, config: Path, archive: Archive
) -> None:
    archive.hold(zip_path(1))
    process = start(cli, *fetch_args(config))
    try:
        assert archive.reached.wait(60)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        archive.release.set()
    assert process.returncode == 130, stderr
    assert "backfill fetch --job" in stderr
    job = status(cli, config)["jobs"][0]
    assert job["state"] == "interrupted" and job["chunks_done"] == 1

    again = cli.run("-c", str(config), "backfill", "fetch", "--job", str(job["id"]))
    assert again.returncode == 0, again.stderr
    assert archive.downloads(zip_path(0)) == 1


def test_a_corrupted_zip_fails_the_job_naming_the_file_and_keeps_what_was_stored(
    cli: Cli, config: Path, archive: Archive, day_trades: list[list[Trade]]
) -> None:
    archive.tree.add(zip_path(1).lstrip("/"), trades_csv(day_trades[1]), damage=True)
    result = cli.run(*fetch_args(config))
    assert result.returncode == 1
    assert "BTCUSDT-trades-2023-04-06.zip" in result.stderr
    job = status(cli, config)["jobs"][0]
    assert job["state"] == "failed" and "2023-04-06" in job["error"]
    assert job["chunks_done"] == 1 and job["rows_stored"] == len(day_trades[0])
    stats = cli.json("-c", str(config), "db", "stats")
    assert [s["rows"] for s in stats["series"]] == [len(day_trades[0])]


def test_fill_gaps_finds_a_missing_day_and_fills_it_from_the_archive(
    cli: Cli, config: Path, archive: Archive, day_trades: list[list[Trade]]
) -> None:
    # Days 0 and 2 are stored; day 1 is a silence of a whole day.
    for day in (0, 2):
        first = FIRST_DAY + timedelta(days=day)
        args = list(fetch_args(config))
        args[args.index("--start") + 1] = f"{first:%Y-%m-%d}"
        args[args.index("--end") + 1] = f"{first + timedelta(days=1):%Y-%m-%d}"
        assert cli.run(*args).returncode == 0
    listed = cli.json(
        "-c", str(config), "backfill", "fill-gaps", "--symbols", "BTCUSDT", "--dry-run"
    )
    gaps = listed["gaps"]
    assert len(gaps) == 1
    assert gaps[0]["from_ns"] == day_trades[0][-1].time_ms * NANOS_PER_MILLI
    assert gaps[0]["to_ns"] == day_trades[2][0].time_ms * NANOS_PER_MILLI

    filled = cli.json("-c", str(config), "backfill", "fill-gaps", "--symbols", "BTCUSDT")
    assert [r["outcome"] for r in filled["results"]] == ["filled"]
    # The gap's range holds day 1, and the last trades of day 0 sharing its last millisecond.
    assert filled["results"][0]["rows"] >= len(day_trades[1])
    again = cli.run("-c", str(config), "backfill", "fill-gaps", "--symbols", "BTCUSDT")
    assert again.returncode == 0 and "no gaps found" in again.stdout


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2023-04-06", "2023-04-05", "is not after --start"),
        ("2023-04-05", "2099-01-01", "is in the future"),
        ("yesterday", "2023-04-05", "is not an ISO 8601 date"),
    ],
)
def test_a_wrong_range_is_refused_naming_it(
    cli_sqlite: Cli, start: str, end: str, message: str
) -> None:
    result = cli_sqlite.run(
        "backfill", "fetch", "--symbols", "BTCUSDT", "--start", start, "--end", end
    )
    assert result.returncode == 1 and message in result.stderr
    assert cli_sqlite.json("backfill", "status")["jobs"] == []


def test_a_source_that_does_not_serve_the_exchange_says_which_do_not(cli_sqlite: Cli) -> None:
    result = cli_sqlite.run(
        "backfill", "fetch", "--source", "binance-archive", "--exchange", "kraken",
        "--symbols", "XBT/USD", "--start", "2023-04-05", "--end", "2023-04-06",
    )  # fmt: skip
    assert result.returncode == 1
    assert "binance-archive cannot serve kraken" in result.stderr
    unknown = cli_sqlite.run(
        "backfill", "fetch", "--source", "nowhere", "--symbols", "BTCUSDT",
        "--start", "2023-04-05", "--end", "2023-04-06",
    )  # fmt: skip
    assert unknown.returncode == 2 and "'nowhere' is not one of" in unknown.stderr


def test_status_of_an_empty_store_and_of_an_unknown_job(cli_sqlite: Cli) -> None:
    assert "no backfill jobs yet" in cli_sqlite.run("backfill", "status").stdout
    unknown = cli_sqlite.run("backfill", "status", "--job", "7")
    assert unknown.returncode == 2 and "no backfill job 7" in unknown.stderr
    assert (
        json.loads(cli_sqlite.run("backfill", "cost-report", "--format", "json").stdout)[
            "total_usd"
        ]
        == "0"
    )


def test_gaps_in_one_day_are_filled_from_one_download_of_its_zip(
    cli_sqlite: Cli, config: Path, archive: Archive
) -> None:
    assert cli_sqlite.run(*fetch_args(config, end_day=1)).returncode == 0
    gaps = cli_sqlite.json(
        "-c", str(config), "backfill", "fill-gaps", "--symbols", "BTCUSDT",
        "--threshold-secs", "2", "--dry-run",
    )["gaps"]  # fmt: skip
    assert len(gaps) == 2  # two silences of over 2 s in the recorded day

    filled = cli_sqlite.json(
        "-c", str(config), "backfill", "fill-gaps", "--symbols", "BTCUSDT", "--threshold-secs", "2"
    )
    assert [r["outcome"] for r in filled["results"]] == ["quiet", "quiet"]
    assert archive.downloads(zip_path(0)) == 2  # the first fetch, then once for both gaps


def test_a_job_another_live_process_runs_is_not_run_twice(
    cli_sqlite: Cli, config: Path, archive: Archive
) -> None:
    archive.hold(zip_path(1))
    first = start(cli_sqlite, *fetch_args(config))
    try:
        assert archive.reached.wait(60)
        second = cli_sqlite.run(*fetch_args(config))
        assert second.returncode == 1
        assert f"being run by process {first.pid}" in second.stderr
    finally:
        archive.release.set()
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert archive.downloads(zip_path(0)) == 1


def test_status_says_when_a_running_job_lost_its_process(
    cli_sqlite: Cli, config: Path, archive: Archive
) -> None:
    archive.hold(zip_path(1))
    process = start(cli_sqlite, *fetch_args(config))
    try:
        assert archive.reached.wait(60)
        process.kill()
        process.communicate(timeout=10)
    finally:
        archive.release.set()
    shown = cli_sqlite.run("-c", str(config), "backfill", "status")
    assert "stopped: its process is gone" in shown.stdout
