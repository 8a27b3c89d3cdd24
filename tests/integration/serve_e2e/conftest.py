"""Fixtures of the serve end-to-end tests: the CLI on each backend, a ring segment of the test's
own, and the processes a test starts (stopped whatever the outcome)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_e2e_support import Processes

from cli_process import Cli


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The CLI on each backend: a SQLite file in the test's folder, or a fresh PG schema."""
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    return Cli(tmp_path, url)


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path, None)


@pytest.fixture
def segment() -> Iterator[str]:
    """A ring segment name of this test's own, removed afterwards."""
    name = f"ticklane-e2e-{secrets.token_hex(6)}"
    yield name
    Path("/dev/shm", name).unlink(missing_ok=True)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()
