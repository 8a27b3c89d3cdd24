"""Shared fixtures: real PostgreSQL and Redis (see ``services.py``), and a tick store of each
backend, so the storage suite runs unchanged on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ticklane.storage.base import TickStore
from ticklane.storage.postgres import PostgresTickStore
from ticklane.storage.sqlite import SqliteTickStore

from services import (
    ServiceUnavailable,
    postgres_server,
    redis_server,
    scratch_database,
    with_database,
)

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """The recorded venue data in ``../shared/data`` (override with ``TICKLANE_TEST_DATA``)."""
    return Path(os.environ.get("TICKLANE_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Recorded venue data; always present in CI, so its absence is an error, not a skip."""
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.fail(f"recorded data not found at {folder}; set TICKLANE_TEST_DATA")
    return folder


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own on a real PostgreSQL server."""
    try:
        with postgres_server() as admin_url, scratch_database(admin_url) as url:
            yield url
    except ServiceUnavailable as error:
        pytest.exit(str(error), returncode=3)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except ServiceUnavailable as error:
        pytest.exit(str(error), returncode=3)


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections work in a fresh schema, dropped after the test."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    dbname = str(psycopg.conninfo.conninfo_to_dict(postgres_url)["dbname"])
    try:
        yield with_database(postgres_url, dbname, search_path=schema)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TickStore]:
    """A migrated, empty tick store of each backend."""
    created: TickStore
    if request.param == "sqlite":
        created = SqliteTickStore(tmp_path / "ticks.sqlite3")
    else:
        url = request.getfixturevalue("pg_schema_url")
        created = PostgresTickStore(url, min_connections=1, max_connections=3)
    created.migrate()
    try:
        yield created
    finally:
        created.close()
