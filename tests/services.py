"""Find or start the PostgreSQL and Redis servers the tests talk to.

Order for each: the URL in the environment (``DATABASE_URL`` / ``REDIS_URL``) when it answers;
the default local server (127.0.0.1:5432 as user postgres, 127.0.0.1:6379) when it answers;
a throwaway instance started from locally installed binaries; otherwise stop and say what to
install.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class ServiceUnavailable(RuntimeError):
    """No server could be reached or started; the message says what to install."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


@contextmanager
def postgres_server(candidates: tuple[str | None, ...] | None = None) -> Iterator[str]:
    """An admin URL of a PostgreSQL server that lets us create databases."""
    if candidates is None:
        candidates = (os.environ.get("DATABASE_URL"), DEFAULT_POSTGRES)
    for url in candidates:
        if url and _postgres_answers(url):
            yield url
            return
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServiceUnavailable(
            "PostgreSQL is not reachable (tried $DATABASE_URL and "
            f"{DEFAULT_POSTGRES}) and no initdb/pg_ctl is installed to start one: install "
            "PostgreSQL (Debian: apt-get install postgresql) or set DATABASE_URL"
        )
    with tempfile.TemporaryDirectory(prefix="ticklane-pg-") as tmp:
        data, port = Path(tmp) / "data", _free_port()
        # initdb refuses to run as root: run the throwaway server as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if prefix:
            shutil.chown(tmp, "postgres")
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-w",
                "-l",
                str(Path(tmp) / "log"),
                "-o",
                f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                check=False,
                capture_output=True,
            )


@contextmanager
def redis_server(candidates: tuple[str | None, ...] | None = None) -> Iterator[str]:
    """The URL of a Redis server."""
    if candidates is None:
        candidates = (os.environ.get("REDIS_URL"), DEFAULT_REDIS)
    for url in candidates:
        if url and _redis_answers(url):
            yield url
            return
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceUnavailable(
            f"Redis is not reachable (tried $REDIS_URL and {DEFAULT_REDIS}) and redis-server is "
            "not installed to start one: install Redis (Debian: apt-get install redis-server) "
            "or set REDIS_URL"
        )
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(url):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"redis-server on port {port} did not start in 10 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def with_database(url: str, dbname: str, *, search_path: str | None = None) -> str:
    """``url`` pointed at another database (and schema), as a ``postgresql://`` URL."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    user = quote(str(info.get("user") or "postgres"))
    password = f":{quote(str(info['password']))}" if info.get("password") else ""
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or 5432
    query = f"?options={quote(f'-csearch_path={search_path}')}" if search_path else ""
    return f"postgresql://{user}{password}@{host}:{port}/{quote(dbname)}{query}"


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A database of its own for this test run, dropped afterwards."""
    name = f"ticklane_test_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
