"""The strategy log of the TickStore contract, on SQLite and on PostgreSQL (``store`` fixture):
rows come back exactly as written, a batch is stored whole or not at all, and writing the same
rows again (a retry after a lost commit) stores nothing twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ticklane.core.errors import BadDataError, StorageError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import Side
from ticklane.storage.base import Order, StrategyLogRow, TickStore

T0 = 1_704_067_200 * 10**9
HASH = "ab" * 32


def row(seq: int, event: str = "signal", **fields: object) -> StrategyLogRow:
    values: dict[str, object] = {
        "ts_event": T0 + seq,
        "strategy_id": "sma",
        "strategy_hash": HASH,
        "account_id": "SIM-001",
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "event": event,
        "run_id": "run-1",
        "seq": seq,
    }
    values.update(fields)
    return StrategyLogRow(**values)  # type: ignore[arg-type]


def without_ids(rows: list[StrategyLogRow]) -> list[StrategyLogRow]:
    return [StrategyLogRow(**{**{f: getattr(r, f) for f in r.__struct_fields__}, "id": None})
            for r in rows]  # fmt: skip


def test_a_fill_and_its_state_come_back_with_exact_money(store: TickStore) -> None:
    fill = row(
        1,
        "fill",
        side=int(Side.BUY),
        price=price_to_raw(Decimal("42150.123456789")),
        quantity=quantity_to_raw(Decimal("0.00000001")),
        client_order_id="O-00000001",
        fee=Decimal("0.00000042150123456789"),
        details={"liquidity": "taker"},
    )
    state = row(
        2,
        "state",
        cash=Decimal("99957.849455311543210"),
        position=Decimal("0.01"),
        equity=Decimal("99999.35"),
        realized_pnl=Decimal("-1.5E-7"),
        details={"reason": "fill", "positions": {"BTCUSDT.binance": "0.01"}, "last_trade": [1, 2]},
    )
    assert store.append_strategy_log([fill, state]) == 2
    back = store.read_strategy_log("sma")
    assert without_ids(back) == [fill, state]
    assert back[0].id is not None and back[1].id is not None and back[0].id < back[1].id
    assert back[1].realized_pnl == Decimal("-0.00000015")


def test_writing_the_same_rows_again_stores_nothing_twice(store: TickStore) -> None:
    rows = [row(n) for n in range(1, 6)]
    assert store.append_strategy_log(rows[:3]) == 3
    # A retry of a batch whose commit was lost, overlapping the next one.
    assert store.append_strategy_log(rows) == 2
    assert [r.seq for r in store.read_strategy_log("sma")] == [1, 2, 3, 4, 5]
    # Another run's rows with the same numbers are its own.
    assert store.append_strategy_log([row(1, run_id="run-2")]) == 1


def test_rows_are_filtered_by_account_time_and_event_and_read_newest_first(
    store: TickStore,
) -> None:
    store.append_strategy_log(
        [
            row(1, "signal"),
            row(2, "order", account_id="SIM-002"),
            row(3, "fill"),
            row(4, "state"),
            row(5, "state", strategy_id="rsi"),
            row(6, "reject"),
            row(7, "state"),
        ]
    )
    assert [r.seq for r in store.read_strategy_log("sma")] == [1, 2, 3, 4, 6, 7]
    assert [r.seq for r in store.read_strategy_log("sma", "SIM-002")] == [2]
    assert [r.seq for r in store.read_strategy_log("sma", since_ns=T0 + 3)] == [3, 4, 6, 7]
    assert [r.seq for r in store.read_strategy_log("sma", limit=2)] == [1, 2]
    last_state = store.read_strategy_log(
        "sma", "SIM-001", events=["state"], order=Order.DESC, limit=1
    )
    assert [r.seq for r in last_state] == [7]
    fills_and_states = store.read_strategy_log("sma", events=["fill", "state"])
    assert [(r.seq, r.event) for r in fills_and_states] == [(3, "fill"), (4, "state"), (7, "state")]
    assert store.read_strategy_log("sma", events=[]) == []
    assert store.read_strategy_log("nobody") == []


def test_a_batch_with_a_bad_row_stores_none_of_it(store: TickStore) -> None:
    store.append_strategy_log([row(1)])
    with pytest.raises(StorageError, match="intact"):
        store.append_strategy_log([row(2), row(3, strategy_hash=None)])  # NOT NULL column
    assert [r.seq for r in store.read_strategy_log("sma")] == [1]


def test_an_unknown_event_is_refused_before_it_reaches_the_store() -> None:
    with pytest.raises(BadDataError, match="not one of signal, order, fill, reject, state"):
        row(1, "trade")
