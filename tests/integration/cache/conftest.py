"""Fixtures of the cache tests: a key prefix of each test's own on the shared Redis (its keys
deleted afterwards), and a redis-server of a test's own for the tests that need to stop it or
count its commands."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from cache_servers import RedisProcess


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"test-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        server.stop()
