"""The cache's lean read connection against a real Redis: replies in order, errors, timeouts,
a connection killed under it, AUTH and SELECT from the URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from ticklane.cache.resp import RespConnection, encode, supports
from ticklane.ipc.loop import polling_loop, selector_of

from cache_servers import RedisProcess


def test_commands_are_encoded_as_arrays_of_bulk_strings() -> None:
    assert encode([("LRANGE", "k", 0, -1)]) == (
        b"*4\r\n$6\r\nLRANGE\r\n$1\r\nk\r\n$1\r\n0\r\n$2\r\n-1\r\n"
    )
    assert encode([("GET", b"\x00\r\n")]) == b"*2\r\n$3\r\nGET\r\n$3\r\n\x00\r\n\r\n"


def test_only_plain_tcp_and_unix_urls_are_served() -> None:
    assert supports("redis://127.0.0.1:6379/0") and supports("unix:///run/redis.sock")
    assert not supports("rediss://example.com:6380/0")
    with pytest.raises(ValueError, match="rediss://"):
        RespConnection("rediss://example.com:6380/0", connect_timeout=1.0)


def test_pipelined_replies_come_back_in_order_equal_to_redis_py(
    redis_url: str, key_prefix: str
) -> None:
    key = f"{key_prefix}list"
    client = redis.Redis.from_url(redis_url)
    client.rpush(key, *[f"v{i}".encode() for i in range(50)])
    expected = client.lrange(key, 0, 19)

    async def read() -> list[object]:
        connection = RespConnection(redis_url, connect_timeout=1.0)
        try:
            return await connection.execute(
                [("LRANGE", key, 0, 19), ("LINDEX", key, -1), ("LINDEX", f"{key}-none", 0)], 1.0
            )
        finally:
            await connection.close()

    assert asyncio.run(read()) == [expected, b"v49", None]
    client.close()


def test_an_error_reply_raises_and_the_connection_keeps_serving(
    redis_url: str, key_prefix: str
) -> None:
    key = f"{key_prefix}text"
    redis.Redis.from_url(redis_url).set(key, b"not a list")

    async def run() -> list[object]:
        connection = RespConnection(redis_url, connect_timeout=1.0)
        try:
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await connection.execute([("LRANGE", key, 0, 1), ("GET", key)], 1.0)
            return await connection.execute([("GET", key)], 1.0)
        finally:
            await connection.close()

    assert asyncio.run(run()) == [b"not a list"]


async def ids_around(
    url: str, disrupt: Callable[[RespConnection, int], Awaitable[None]]
) -> tuple[int, int]:
    """The connection's CLIENT ID before and after ``disrupt`` (given the first id)."""
    connection = RespConnection(url, connect_timeout=1.0)
    try:
        [first_id] = await connection.execute([("CLIENT", "ID")], 1.0)
        await disrupt(connection, int(first_id))
        [second_id] = await connection.execute([("CLIENT", "ID")], 1.0)
        return int(first_id), int(second_id)
    finally:
        await connection.close()


def test_a_timeout_fails_the_command_and_the_next_call_reconnects(
    own_redis: RedisProcess,
) -> None:
    async def pause_the_server(connection: RespConnection, _: int) -> None:
        own_redis.client().execute_command("CLIENT", "PAUSE", 300, "ALL")
        with pytest.raises(TimeoutError, match=r"did not answer within 0\.05 s"):
            await connection.execute([("LRANGE", "k", 0, 1)], 0.05)
        await asyncio.sleep(0.4)  # the pause is over

    first, second = asyncio.run(ids_around(own_redis.url, pause_the_server))
    assert second != first  # the timed-out connection was closed, a new one opened


def test_on_the_polling_loop_a_call_is_awaited_while_in_flight_and_not_once_over(
    own_redis: RedisProcess,
) -> None:
    """trading-core's loop spins while a reply is awaited: the count must come back to zero
    after a reply, a timeout and an error, or the loop would spin for nothing."""

    async def run() -> list[int]:
        selector = selector_of(asyncio.get_running_loop())
        assert selector is not None
        connection = RespConnection(own_redis.url, connect_timeout=1.0)
        counts = []
        try:
            await connection.execute([("PING",)], 1.0)
            counts.append(selector._awaited)
            own_redis.client().execute_command("CLIENT", "PAUSE", 300, "ALL")
            call = asyncio.ensure_future(connection.execute([("PING",), ("PING",)], 0.1))
            await asyncio.sleep(0)  # the call runs up to waiting for its replies
            counts.append(selector._awaited)  # in flight: the server is paused
            with pytest.raises(TimeoutError):
                await call
            counts.append(selector._awaited)
            with pytest.raises(ResponseError):  # a new connection, answered once unpaused
                await connection.execute([("LRANGE",)], 1.0)
            counts.append(selector._awaited)
        finally:
            await connection.close()
        return counts

    with asyncio.Runner(loop_factory=polling_loop) as runner:
        assert runner.run(run()) == [0, 2, 0, 0]


def test_a_connection_killed_by_the_server_is_replaced_on_the_next_call(
    own_redis: RedisProcess,
) -> None:
    async def kill_it(_: RespConnection, client_id: int) -> None:
        own_redis.client().client_kill_filter(_id=str(client_id))
        await asyncio.sleep(0.05)  # the loop sees the connection close

    first, second = asyncio.run(ids_around(own_redis.url, kill_it))
    assert second != first


def test_password_and_database_come_from_the_url(own_redis: RedisProcess) -> None:
    admin = own_redis.client()
    admin.config_set("requirepass", "s3cret")
    writer = redis.Redis(host="127.0.0.1", port=own_redis.port, db=3, password="s3cret")
    writer.rpush("in-db-3", b"x")
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/3"
    wrong = f"redis://:wrong@127.0.0.1:{own_redis.port}/3"

    async def run(target: str) -> list[object]:
        connection = RespConnection(target, connect_timeout=1.0)
        try:
            return await connection.execute([("LRANGE", "in-db-3", 0, -1)], 1.0)
        finally:
            await connection.close()

    assert asyncio.run(run(url)) == [[b"x"]]
    with pytest.raises(ResponseError, match=r"WRONGPASS|invalid password"):
        asyncio.run(run(wrong))
    writer.close()


def test_a_refused_connection_is_a_connection_error(own_redis: RedisProcess) -> None:
    url = own_redis.url
    own_redis.stop()

    async def run() -> None:
        connection = RespConnection(url, connect_timeout=1.0)
        await connection.execute([("PING",)], 1.0)

    with pytest.raises((OSError, RedisConnectionError)):
        asyncio.run(run())
