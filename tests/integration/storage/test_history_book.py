"""The history tables (jobs, chunks, cost ledger, provenance) on both backends."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import numpy as np

from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_SECOND
from ticklane.storage.base import TickStore
from ticklane.storage.history import BackfillJob, CostEntry, JobChunk, ProvenanceRange

DAY = 86_400 * NANOS_PER_SECOND
T0 = 1_704_067_200 * NANOS_PER_SECOND  # 2024-01-01


def _job() -> BackfillJob:
    return BackfillJob(
        kind="backfill",
        source="binance-archive",
        exchange="binance",
        symbols=("BTCUSDT", "ETHUSDT"),
        schema="trades",
        start_ns=T0,
        end_ns=T0 + 2 * DAY,
    )


def test_a_job_keeps_its_chunks_and_totals_count_each_chunk_once(store: TickStore) -> None:
    book = store.history
    chunks = [("binance", "BTCUSDT", T0 + i * DAY, T0 + (i + 1) * DAY) for i in range(2)]
    job_id = book.create_job(_job(), chunks)
    job = book.job(job_id)
    assert job is not None and job.state == "pending" and job.chunks_total == 2
    assert job.symbols == ("BTCUSDT", "ETHUSDT")

    first = book.chunks(job_id)[0]
    book.chunk_started(job_id, 0)
    book.chunk_started(job_id, 0)  # fetched again after a crash
    done = _done(first, stored=100, cost=Decimal("0.25"))
    book.chunk_done(done, None)
    book.chunk_done(done, None)  # marking it twice must not count it twice
    job = book.job(job_id)
    assert job is not None
    assert (job.chunks_done, job.rows_stored, job.cost_usd) == (1, 100, Decimal("0.25"))
    assert book.chunks(job_id)[0].fetches == 2
    assert book.chunks(job_id)[1].state == "pending"

    book.chunk_failed(job_id, 1, "HTTP 500")
    book.set_job_state(job_id, "failed", "HTTP 500")
    resumable = book.find_unfinished(_job())
    assert resumable is not None and resumable.id == job_id and resumable.error == "HTTP 500"
    assert book.chunks(job_id)[1].error == "HTTP 500"

    book.set_job_state(job_id, "done")
    assert book.find_unfinished(_job()) is None
    assert [j.id for j in book.jobs()] == [job_id]


def _done(chunk: JobChunk, *, stored: int, cost: Decimal) -> JobChunk:
    return msgspec.structs.replace(chunk, state="done", rows_stored=stored, cost_usd=cost)


def test_cost_ledger_sums_only_what_was_fetched_since_a_time(store: TickStore) -> None:
    book = store.history

    def entry(outcome: str, usd: str, ts: int) -> CostEntry:
        return CostEntry(
            source="databento",
            exchange="cme",
            symbol="ESH1",
            start_ns=T0,
            end_ns=T0 + DAY,
            estimated_usd=Decimal(usd),
            outcome=outcome,  # type: ignore[arg-type]
            ts_ns=ts,
        )

    fetched = book.record_cost(entry("estimate", "1.50", T0))
    book.settle_cost(fetched, "fetched", Decimal("1.4999"), "GLBX.MDP3 trades")
    book.record_cost(entry("refused", "40", T0 + 1))
    old = book.record_cost(entry("estimate", "7", T0 - 40 * DAY))
    book.settle_cost(old, "fetched", Decimal("7"))
    assert book.spent(T0) == Decimal("1.4999")
    assert book.spent(0) == Decimal("8.4999")
    outcomes = [(c.outcome, c.actual_usd) for c in book.costs(T0)]
    assert outcomes == [("fetched", Decimal("1.4999")), ("refused", None)]


def test_provenance_ranges_grow_and_summarise_by_kind(store: TickStore) -> None:
    book = store.history
    live = book.record_provenance(
        ProvenanceRange(
            exchange="binance",
            symbol="BTCUSDT",
            start_ns=T0,
            end_ns=T0 + 10,
            kind="live",
            source="serve",
            rows=5,
        )
    )
    book.extend_provenance(live, T0 + 100, 7)
    book.extend_provenance(live, T0 + 50, 1)  # an earlier end never shrinks the range
    book.record_provenance(
        ProvenanceRange(
            exchange="binance",
            symbol="BTCUSDT",
            start_ns=T0 - DAY,
            end_ns=T0,
            kind="archive",
            source="binance-archive",
            detail="BTCUSDT-trades-2023-12-31.zip sha256=ab",
            rows=1000,
        )
    )
    ranges = book.provenance("binance", "BTCUSDT")
    assert [(r.kind, r.start_ns, r.end_ns, r.rows) for r in ranges] == [
        ("archive", T0 - DAY, T0, 1000),
        ("live", T0, T0 + 100, 13),
    ]
    summary = {s.kind: s for s in book.provenance_summary()}
    assert summary["archive"].rows == 1000 and summary["live"].last_ns == T0 + 100
    assert book.provenance("kraken") == []


def test_silences_are_the_steps_between_stored_trades_longer_than_the_threshold(
    store: TickStore,
) -> None:
    times = [
        T0,
        T0 + 1 * NANOS_PER_SECOND,
        T0 + 400 * NANOS_PER_SECOND,
        T0 + 401 * NANOS_PER_SECOND,
    ]
    data = np.zeros(len(times), dtype=TRADE_DTYPE)
    data["ts_event"] = times
    data["trade_id"] = range(len(times))
    data["price"] = 10**9
    data["quantity"] = 10**8
    data["side"] = 1
    store.insert_trades(TradeColumns(InstrumentId("binance", "BTCUSDT"), data))
    book = store.history
    threshold = 300 * NANOS_PER_SECOND
    assert book.silences("binance", "BTCUSDT", T0, T0 + DAY, threshold) == [
        (T0 + NANOS_PER_SECOND, T0 + 400 * NANOS_PER_SECOND)
    ]
    assert book.silences("binance", "BTCUSDT", T0, T0 + DAY, 500 * NANOS_PER_SECOND) == []
    assert book.stored_span("binance", "BTCUSDT") == (T0, T0 + 401 * NANOS_PER_SECOND)
    assert book.stored_span("binance", "ETHUSDT") is None
