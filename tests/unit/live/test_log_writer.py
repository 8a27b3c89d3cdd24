"""The strategy-log writer against stub stores: units stay whole, retries store nothing twice,
a failing store costs counted rows and never blocks ``submit``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ticklane.core.errors import BadDataError, StorageError
from ticklane.live.strategy_log import StrategyLogWriter
from ticklane.storage.base import StrategyLogRow, TickStore

T0 = 1_704_067_200 * 10**9


def row(seq: int) -> StrategyLogRow:
    return StrategyLogRow(
        ts_event=T0 + seq,
        strategy_id="sma",
        strategy_hash="ab" * 32,
        account_id="SIM-001",
        exchange="binance",
        symbol="BTCUSDT",
        event="signal",
        run_id="run",
        seq=seq,
    )


def units(*sizes: int) -> list[list[StrategyLogRow]]:
    made, seq = [], 0
    for size in sizes:
        made.append([row(seq + n) for n in range(1, size + 1)])
        seq += size
    return made


class StubStore:
    """Stores rows keyed by (run_id, seq) as the real stores do; fails as told."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.stored: dict[tuple[str | None, int | None], StrategyLogRow] = {}
        self.failures = failures
        self.error = error or StorageError("database is locked")
        self.commit_then_fail = False

    def append_strategy_log(self, rows: Sequence[StrategyLogRow]) -> int:
        if self.failures:
            self.failures -= 1
            if self.commit_then_fail:  # the commit went through, its answer was lost
                self._store(rows)
            raise self.error
        self.batches.append([r.seq or 0 for r in rows])
        return self._store(rows)

    def _store(self, rows: Sequence[StrategyLogRow]) -> int:
        new = [r for r in rows if (r.run_id, r.seq) not in self.stored]
        self.stored.update({(r.run_id, r.seq): r for r in new})
        return len(new)


def writer_for(store: StubStore, **options: float) -> StrategyLogWriter:
    settings = {"flush_interval": 0.01, "retry_delay": 0.0, **options}
    return StrategyLogWriter(store, **settings)  # type: ignore[arg-type]


def test_units_are_never_split_across_transactions() -> None:
    store = StubStore()

    async def scenario() -> None:
        writer = writer_for(store, batch_rows=4)
        for unit in units(2, 3, 1, 4, 2):
            assert writer.submit(unit)
        await writer.close()  # never started: close writes what is pending

    asyncio.run(scenario())
    # 2+3 would exceed 4 rows: the second unit starts a batch of its own, and so on.
    assert store.batches == [[1, 2], [3, 4, 5, 6], [7, 8, 9, 10], [11, 12]]


def test_a_batch_written_again_after_a_lost_commit_is_stored_once() -> None:
    store = StubStore(failures=2)
    store.commit_then_fail = True

    async def scenario() -> StrategyLogWriter:
        writer = writer_for(store, batch_rows=10)
        writer.start()
        writer.submit(units(3)[0])
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert sorted(seq for _, seq in store.stored) == [1, 2, 3]
    stats = writer.stats
    assert (stats.written, stats.duplicates, stats.failed, stats.pending) == (0, 3, 0, 0)


def test_a_store_that_keeps_failing_costs_counted_rows_and_writing_goes_on() -> None:
    store = StubStore(failures=3)

    async def scenario() -> StrategyLogWriter:
        writer = writer_for(store, batch_rows=2, attempts=3)
        writer.start()
        first, second = units(2, 2)
        writer.submit(first)  # tried three times, given up
        writer.submit(second)  # written after it
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert store.batches == [[3, 4]]
    assert (writer.stats.failed, writer.stats.written, writer.stats.batches) == (2, 2, 1)


def test_rows_the_store_refuses_as_bad_are_not_retried() -> None:
    store = StubStore(failures=1, error=BadDataError("bad row"))

    async def scenario() -> StrategyLogWriter:
        writer = writer_for(store, batch_rows=5, attempts=5)
        writer.submit(units(2)[0])
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert (writer.stats.failed, store.failures, store.batches) == (2, 0, [])


def test_units_beyond_the_bound_are_dropped_whole_and_counted() -> None:
    store = StubStore()

    async def scenario() -> tuple[list[bool], StrategyLogWriter]:
        writer = writer_for(store, batch_rows=2, max_pending_rows=5)
        accepted = [writer.submit(unit) for unit in units(2, 2, 2, 1)]  # no flusher running
        await writer.close()
        return accepted, writer

    accepted, writer = asyncio.run(scenario())
    assert accepted == [True, True, False, True]
    assert (writer.stats.dropped, writer.stats.written) == (2, 5)
    assert [seq for batch in store.batches for seq in batch] == [1, 2, 3, 4, 7]


def test_writer_options_are_checked() -> None:
    store: TickStore = StubStore()  # type: ignore[assignment]
    with pytest.raises(ValueError, match="batch_rows <= max_pending_rows"):
        StrategyLogWriter(store, batch_rows=10, max_pending_rows=5)
    with pytest.raises(ValueError, match="attempts >= 1"):
        StrategyLogWriter(store, attempts=0)
