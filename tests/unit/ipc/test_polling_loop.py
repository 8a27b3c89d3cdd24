"""The event loop that polls the IPC ring itself: records reach the consumer on the loop's
thread in ring order, no more than it has room for, a writer that starts late or restarts is
followed, and the loop still serves timers and sockets."""

from __future__ import annotations

import asyncio
import logging
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.ipc.loop import PollingSelector, polling_loop, selector_of
from ticklane.ipc.segment import unlink_segment
from ticklane.ipc.writer import RingWriter
from ticklane.live.ipc_exchange import IpcExchange

DEADLINE_S = 30.0


def trade(n: int) -> TradeRecord:
    now = time.time_ns()
    return TradeRecord("binance", "BTCUSDT", now, now, n, 42_000 * 10**9, 10**6, Side.BUY)


@pytest.fixture
def ring_name() -> Iterator[str]:
    name = f"ticklane-test-{secrets.token_hex(4)}"
    yield name
    unlink_segment(name)


def run_polling(flow: object) -> None:
    with asyncio.Runner(loop_factory=polling_loop) as runner:
        runner.run(flow)  # type: ignore[arg-type]


async def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def test_only_a_loop_made_by_polling_loop_has_a_polling_selector() -> None:
    async def which() -> PollingSelector | None:
        return selector_of(asyncio.get_running_loop())

    assert asyncio.run(which()) is None
    with asyncio.Runner(loop_factory=polling_loop) as runner:
        assert isinstance(runner.run(which()), PollingSelector)


def test_records_come_in_ring_order_on_the_loops_thread(ring_name: str) -> None:
    seen: list[int] = []
    threads: set[int] = set()
    exchange = IpcExchange(ring_name)

    def on_trade(record: TradeRecord) -> None:
        seen.append(record.trade_id)
        threads.add(threading.get_ident())

    exchange.subscribe_trades(on_trade)

    async def flow() -> None:
        exchange.start()
        assert exchange.polled_by_loop
        with RingWriter(ring_name, capacity=4096) as writer:
            await until(lambda: exchange.stats.connected, "the exchange to attach")
            for n in range(1, 1001):
                writer.write(trade(n))
            await until(lambda: len(seen) == 1000, "1,000 trades")
        exchange.stop()
        await asyncio.sleep(0.01)  # the next poll drops the exchange

    run_polling(flow())
    assert seen == list(range(1, 1001))
    assert threads == {threading.get_ident()}  # the loop runs on this (the main) thread
    assert exchange.stats.records == 1000 and exchange.stats.lost == 0
    assert not exchange.stats.connected  # stopped


def test_no_more_is_read_than_the_consumer_has_room_for(ring_name: str) -> None:
    seen: list[int] = []
    exchange = IpcExchange(ring_name)
    exchange.subscribe_trades(lambda record: seen.append(record.trade_id))
    room = {"left": 0}
    exchange.accepting = lambda: room["left"]

    async def flow() -> None:
        exchange.start()
        with RingWriter(ring_name, capacity=4096) as writer:
            await until(lambda: exchange.stats.connected, "the exchange to attach")
            for n in range(1, 101):
                writer.write(trade(n))
            await asyncio.sleep(0.05)
            assert seen == []  # no room: the records wait in the ring
            room["left"] = 30
            await until(lambda: len(seen) >= 30, "30 trades")
            await asyncio.sleep(0.02)
            assert len(seen) <= 100
        exchange.stop()
        await asyncio.sleep(0.01)

    run_polling(flow())
    assert seen[:30] == list(range(1, 31))  # at most the room, every poll: never skipped


def test_a_writer_that_starts_late_and_restarts_is_followed(ring_name: str) -> None:
    seen: list[int] = []
    exchange = IpcExchange(ring_name)
    exchange.subscribe_trades(lambda record: seen.append(record.trade_id))

    async def flow() -> None:
        exchange.start()
        await asyncio.sleep(0.3)  # nothing to attach to yet: the loop keeps serving
        assert not exchange.stats.connected
        with RingWriter(ring_name, capacity=4096) as writer:
            await until(lambda: exchange.stats.connected, "the exchange to attach")
            writer.write(trade(1))
            await until(lambda: seen == [1], "the first trade")
        await until(lambda: not exchange.stats.connected, "the writer to be seen gone")
        with RingWriter(ring_name, capacity=4096) as writer:  # data-manager restarted
            await until(lambda: exchange.stats.connected, "the writer to be back")
            writer.write(trade(2))
            await until(lambda: seen == [1, 2], "the trade after the restart")
        exchange.stop()
        await asyncio.sleep(0.01)

    run_polling(flow())
    assert exchange.stats.reconnections == 1  # one restart, counted once


def test_a_failing_poller_is_removed_and_the_loop_serves_timers_and_sockets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"good": 0}

    def good() -> bool:
        calls["good"] += 1
        return False

    def bad() -> bool:
        raise RuntimeError("broken poller")

    async def flow() -> bytes:
        selector = selector_of(asyncio.get_running_loop())
        assert selector is not None
        selector.add_poller(good)
        selector.add_poller(bad)
        await asyncio.sleep(0.01)  # a timer fires while the pollers run
        left, right = socket.socketpair()
        with right:
            reader, writer = await asyncio.open_connection(sock=left)
            right.sendall(b"ping")
            data = await asyncio.wait_for(reader.read(4), 5.0)
            writer.close()
            await writer.wait_closed()
        selector.remove_poller(good)
        return data

    with (
        caplog.at_level(logging.ERROR, logger="ticklane.ipc.loop"),
        asyncio.Runner(loop_factory=polling_loop) as runner,
    ):
        assert runner.run(flow()) == b"ping"
    assert calls["good"] > 0
    assert any("failed and was removed" in r.message for r in caplog.records)


class _RecordingSelector(selectors.DefaultSelector):
    """The real epoll selector, keeping the timeout of each wait."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.timeouts.append(timeout)
        return super().select(timeout)


@contextmanager
def awaiting_selector(
    spin_us: float,
) -> Iterator[tuple[PollingSelector, _RecordingSelector, socket.socket, socket.socket]]:
    """A selector watching ``left`` of a socket pair, its waits recorded, one reply awaited
    (a request sent on ``left``; ``right`` plays the server)."""
    selector = PollingSelector(spin_us=spin_us)
    inner = selector._inner = _RecordingSelector()
    left, right = socket.socketpair()
    with left, right:
        selector.register(left, selectors.EVENT_READ)
        selector.awaiting(1)
        yield selector, inner, left, right
    selector.close()


def test_while_a_reply_is_awaited_the_selector_spins_and_blocks_again_once_it_came() -> None:
    # spin_us: it spins for as long as the test needs
    with awaiting_selector(spin_us=10_000_000) as (selector, inner, left, right):
        answer = threading.Timer(0.05, right.sendall, (b"+OK\r\n",))
        answer.start()
        ready = selector.select(5.0)
        answer.join()
        assert [key.fileobj for key, _ in ready] == [left]
        assert len(inner.timeouts) > 1 and set(inner.timeouts) == {0}  # never blocked
        left.recv(16)
        selector.awaiting(-1)  # the reply is in: back to a plain wait
        inner.timeouts.clear()
        assert selector.select(0.01) == []
        assert inner.timeouts == [0.01]


def test_a_reply_that_never_comes_costs_one_spin_not_one_per_wait() -> None:
    with awaiting_selector(spin_us=20_000) as (selector, inner, _left, _right):  # Redis hangs
        assert selector.select(0.05) == []
        assert inner.timeouts.count(0) > 2  # it spun for the first 20 ms
        for _ in range(3):  # the loop wakes for its timers: each wait blocks at once
            inner.timeouts.clear()
            assert selector.select(0.01) == []
            assert len(inner.timeouts) == 2 and inner.timeouts[0] == 0
            assert inner.timeouts[1] is not None and 0 < inner.timeouts[1] <= 0.01
        selector.awaiting(1)  # a new request: a new spin
        inner.timeouts.clear()
        selector.select(0.05)
        assert inner.timeouts.count(0) > 2


def test_a_reply_slower_than_the_spin_is_waited_for_without_spinning_on() -> None:
    with awaiting_selector(spin_us=1_000) as (selector, inner, left, right):
        answer = threading.Timer(0.2, right.sendall, (b"+OK\r\n",))
        answer.start()
        ready = selector.select(5.0)
        answer.join()
        assert [key.fileobj for key, _ in ready] == [left]
        blocking = [timeout for timeout in inner.timeouts if timeout != 0]
        assert len(blocking) == 1 and blocking[0] > 4.0  # one wait for the rest of the time


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_through_the_reader_thread_a_restart_is_counted_once_too(ring_name: str) -> None:
    seen: list[int] = []
    exchange = IpcExchange(ring_name)
    exchange.subscribe_trades(lambda record: seen.append(record.trade_id))
    exchange.start()  # no running loop: a reader thread of its own
    try:
        assert not exchange.polled_by_loop
        for n in (1, 2):  # data-manager, then data-manager restarted
            with RingWriter(ring_name, capacity=4096) as writer:
                wait_until(lambda: exchange.stats.connected, "the writer")
                writer.write(trade(n))
                wait_until(lambda n=n: seen[-1:] == [n], f"trade {n}")
            wait_until(lambda: not exchange.stats.connected, "the writer to be seen gone")
    finally:
        exchange.stop()
    assert seen == [1, 2]
    assert exchange.stats.reconnections == 1
