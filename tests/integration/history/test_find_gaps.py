"""Finding gaps on each backend: silences, the live feed's recorded gaps, merging, and stretches
a fill already checked."""

from __future__ import annotations

import numpy as np

from ticklane.core.columnar import TRADE_DTYPE, TradeColumns
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import NANOS_PER_SECOND
from ticklane.datamanager.history.gaps import FoundGap, find_gaps
from ticklane.storage.base import Gap, TickStore

S = NANOS_PER_SECOND
T0 = 1_704_067_200 * S


def store_trades(store: TickStore, symbol: str, seconds: list[int]) -> None:
    data = np.zeros(len(seconds), dtype=TRADE_DTYPE)
    data["ts_event"] = [T0 + s * S for s in seconds]
    data["trade_id"] = range(len(seconds))
    data["price"] = 10**12
    data["quantity"] = 10**6
    data["side"] = 1
    store.insert_trades(TradeColumns(InstrumentId("binance", symbol), data))


def gaps(
    store: TickStore,
    symbols: list[str],
    *,
    by_symbol: dict[str, float] | None = None,
    start_ns: int | None = None,
) -> list[FoundGap]:
    return find_gaps(
        store, "binance", symbols, default_secs=60, by_symbol=by_symbol or {}, start_ns=start_ns
    )


def test_silences_longer_than_the_threshold_per_symbol(store: TickStore) -> None:
    store_trades(store, "BTCUSDT", [0, 10, 200, 210, 400])
    store_trades(store, "ETHUSDT", [0, 100, 200])
    found = gaps(store, ["BTCUSDT", "ETHUSDT"], by_symbol={"ETHUSDT": 150.0})
    assert [(g.symbol, g.from_ns, g.to_ns, g.origin) for g in found] == [
        ("BTCUSDT", T0 + 10 * S, T0 + 200 * S, "silence"),
        ("BTCUSDT", T0 + 210 * S, T0 + 400 * S, "silence"),
    ]
    assert found[0].fetch_range == (T0 + 10 * S + 1, T0 + 200 * S)
    later = gaps(store, ["BTCUSDT"], start_ns=T0 + 205 * S)
    assert [g.from_ns for g in later] == [T0 + 210 * S]


def test_a_recorded_gap_overlapping_a_silence_becomes_one_gap_keeping_its_id(
    store: TickStore,
) -> None:
    store_trades(store, "BTCUSDT", [0, 10, 200])
    gap_id = store.record_gap(
        Gap("binance", "BTCUSDT", T0 + 10 * S, T0 + 150 * S, "REST history too short")
    )
    lonely = store.record_gap(Gap("binance", "BTCUSDT", T0 + 500 * S, T0 + 501 * S, "reconnect"))
    found = gaps(store, ["BTCUSDT"])
    assert [(g.from_ns, g.to_ns, g.gap_ids) for g in found] == [
        (T0 + 10 * S, T0 + 200 * S, (gap_id,)),
        (T0 + 500 * S, T0 + 501 * S, (lonely,)),
    ]
    assert found[0].origin == "live feed: REST history too short"


def test_a_stretch_already_fetched_is_not_a_gap_again(store: TickStore) -> None:
    store_trades(store, "BTCUSDT", [0, 100, 300])
    checked = store.record_gap(Gap("binance", "BTCUSDT", T0, T0 + 100 * S, "checked: auto"))
    store.mark_gap_filled(checked)
    found = gaps(store, ["BTCUSDT"])
    assert [(g.from_ns, g.to_ns) for g in found] == [(T0 + 100 * S, T0 + 300 * S)]
