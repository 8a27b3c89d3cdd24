"""When no server answers, the test command starts throwaway PostgreSQL and Redis servers
from the locally installed binaries (what a fresh machine with the packages installed gets)."""

from __future__ import annotations

import socket

import psycopg
import pytest
import redis

from services import postgres_server, redis_server, scratch_database


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on exit: nothing listens there


def test_throwaway_postgres_is_started_when_no_server_answers() -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{_dead_port()}/postgres"
    with postgres_server((nowhere,)) as admin_url:
        assert admin_url != nowhere
        with scratch_database(admin_url) as url, psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
            assert conn.execute("SELECT x FROM t").fetchone() == (42,)
    with pytest.raises(psycopg.OperationalError):  # stopped and removed afterwards
        psycopg.connect(admin_url, connect_timeout=2)


def test_throwaway_redis_is_started_when_no_server_answers() -> None:
    nowhere = f"redis://127.0.0.1:{_dead_port()}/0"
    with redis_server((nowhere,)) as url:
        assert url != nowhere
        client = redis.Redis.from_url(url)
        client.set("ticklane:probe", "1")
        assert client.get("ticklane:probe") == b"1"
        client.close()
