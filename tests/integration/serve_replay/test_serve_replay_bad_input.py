"""``serve --provider replay`` refuses bad input before it writes anything: exit 2 and one
line naming the file and what is wrong with it; the tick store is not even created."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_process import Cli


def missing(tmp_path: Path, shared_data: Path) -> Path:
    return tmp_path / "session.rec.gz"


def corrupt_gzip(tmp_path: Path, shared_data: Path) -> Path:
    path = tmp_path / "corrupt.dat.gz"
    data = bytearray((shared_data / "binance" / "btcusdt_20230405.dat.gz").read_bytes())
    data[2_000:2_100] = bytes(byte ^ 0x55 for byte in data[2_000:2_100])
    path.write_bytes(bytes(data))
    return path


def plain_text(tmp_path: Path, shared_data: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("these are not frames\n")
    return path


def binary(tmp_path: Path, shared_data: Path) -> Path:
    path = tmp_path / "ticks.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def unknown_venue(tmp_path: Path, shared_data: Path) -> Path:
    path = tmp_path / "other.0"
    path.write_text(
        "wss://ws.example.com/feed <-> 1618678132.385\n"
        '1618678132.826: {"event":"trade","price":"1.0"}\n'
    )
    return path


def rest_dump(tmp_path: Path, shared_data: Path) -> Path:
    path = tmp_path / "exchangeInfo.cryptofeed"
    shutil.copy(shared_data / "binance" / "exchangeInfo_2021.cryptofeed", path)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (missing, "no such file or directory"),
        (corrupt_gzip, "corrupt gzip data"),
        (plain_text, "not a recording ticklane can replay"),
        (binary, "not a text recording"),
        (unknown_venue, "cannot tell which venue"),
        (rest_dump, "holds no received frames"),
    ],
    ids=["missing", "corrupt-gzip", "unknown-format", "binary", "unknown-venue", "rest-dump"],
)
def test_bad_recording_exits_2_naming_the_file_before_writing_anything(
    make: Callable[[Path, Path], Path], problem: str, tmp_path: Path, shared_data: Path
) -> None:
    path = make(tmp_path, shared_data)
    result = Cli(tmp_path, None).run(
        "serve", "--provider", "replay", "--file", str(path), "--persist"
    )
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".ticklane-test").exists()  # the store was never opened


@pytest.mark.parametrize(
    "arguments",
    [
        ["--provider", "replay"],  # no --file
        ["--provider", "replay", "--file", "{capture}", "--speed", "-1"],
        ["--provider", "replay", "--file", "{capture}", "--record", "again"],
        ["--provider", "replay", "--provider", "binance", "--file", "{capture}"],
        ["--provider", "replay", "--file", "{capture}", "--symbols", "not a symbol!"],
        ["--live", "--provider", "binance", "--file", "{capture}"],
    ],
    ids=[
        "no-file",
        "negative-speed",
        "with-record",
        "with-live-provider",
        "bad-symbol",
        "file-without-replay",
    ],
)
def test_replay_options_that_do_not_fit_exit_2_before_writing_anything(
    arguments: list[str], tmp_path: Path, shared_data: Path
) -> None:
    capture = str(shared_data / "binance" / "btcusdt_20230405.dat.gz")
    filled = [argument.replace("{capture}", capture) for argument in arguments]
    result = Cli(tmp_path, None).run("serve", *filled, "--persist")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".ticklane-test").exists()
    assert not (tmp_path / "again").exists()
