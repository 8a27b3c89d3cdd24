"""Fixtures running the command-line apps on each backend (cli, history, ... tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_process import Cli


@pytest.fixture
def cli_sqlite(tmp_path: Path) -> Cli:
    return Cli(tmp_path, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The CLI on each backend: the embedded SQLite file, or a fresh PostgreSQL schema."""
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    return Cli(tmp_path, url)
