"""The TickStore contract, run unchanged on SQLite and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest

from ticklane.core.bars import BarType, Timeframe
from ticklane.core.columnar import QUOTE_DTYPE, TRADE_DTYPE, QuoteColumns, TradeColumns
from ticklane.core.errors import BadDataError, NotAvailableError, StorageError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, parse_datetime
from ticklane.storage.base import Gap, InsertResult, Order, SeriesStats, SymbolInfo, TickStore
from ticklane.storage.sqlite import SqliteTickStore

BTC = InstrumentId("binance", "BTCUSDT")
ETH = InstrumentId("binance", "ETHUSDT")
BYBIT_BTC = InstrumentId("bybit", "BTCUSDT")
T0 = parse_datetime("2024-01-02T10:00:00Z")  # a Tuesday
MAX_PRICE = "9223372036.854775807"
MAX_QUANTITY = "92233720368.54775807"
SECOND = 10**9
MINUTE, HOUR, DAY = 60 * SECOND, 3600 * SECOND, 86_400 * SECOND


def trade(
    ts: int,
    trade_id: int,
    price: str = "42150.25",
    quantity: str = "0.5",
    side: Side = Side.BUY,
    instrument: InstrumentId = BTC,
) -> TradeTick:
    exchange, symbol = instrument.exchange, instrument.symbol
    return TradeTick(exchange, symbol, Decimal(price), Decimal(quantity), side, ts, trade_id)


def batch(ticks: Iterable[TradeTick]) -> TradeColumns:
    return TradeColumns.from_ticks(list(ticks))


def stored(store: TickStore, instrument: InstrumentId = BTC) -> list[TradeTick]:
    return store.get_ticks(instrument, MIN_TS_NS, MAX_TS_NS)


def run_sql(store: TickStore, request: pytest.FixtureRequest, statement: str) -> None:
    """Raw SQL on the store's own database, from a separate connection."""
    if isinstance(store, SqliteTickStore):
        with closing(sqlite3.connect(store.path)) as conn:
            conn.executescript(statement)
    else:
        url = request.getfixturevalue("pg_schema_url")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement.encode())


# -- inserting trades ------------------------------------------------------------------------


def test_trade_is_new_only_the_first_time_it_is_stored(store: TickStore) -> None:
    tick = trade(T0, 1)
    assert store.insert_tick(tick) is True
    assert store.insert_tick(tick) is False
    assert stored(store) == [tick]


def test_batch_reports_every_trade_received_and_inserted(store: TickStore) -> None:
    ticks = [trade(T0 + i * SECOND, 100 + i) for i in range(5)]
    assert store.insert_trades(batch(ticks)) == InsertResult(5, 5, 0)
    assert stored(store) == ticks


def test_same_batch_stored_twice_adds_nothing(store: TickStore) -> None:
    ticks = [trade(T0 + i, i, side=Side.SELL) for i in range(5)]
    store.insert_trades(batch(ticks))
    assert store.insert_trades(batch(ticks)) == InsertResult(5, 0, 5)
    assert stored(store) == ticks


def test_trade_repeated_within_one_batch_is_stored_once(store: TickStore) -> None:
    a, b, c = trade(T0, 1), trade(T0, 2), trade(T0 + 1, 3)
    assert store.insert_trades(batch([a, b, a, c, a])) == InsertResult(5, 3, 2)
    assert stored(store) == [a, b, c]


def test_batch_overlapping_stored_trades_stores_only_the_new_ones(store: TickStore) -> None:
    ticks = [trade(T0 + i * MINUTE, i) for i in range(8)]
    store.insert_trades(batch(ticks[:5]))
    assert store.insert_trades(batch(ticks[3:])) == InsertResult(5, 3, 2)
    assert stored(store) == ticks


def test_trades_of_several_instruments_in_one_call_are_grouped(store: TickStore) -> None:
    ticks = [trade(T0, 1), trade(T0, 1, instrument=ETH), trade(T0 + 1, 2)]
    assert store.insert_ticks(ticks) == InsertResult(3, 3, 0)
    assert [t.trade_id for t in stored(store)] == [1, 2]
    assert stored(store, ETH) == [ticks[1]]


def test_bad_rows_of_a_batch_are_reported_and_the_good_stored(store: TickStore) -> None:
    earlier = [trade(T0 - HOUR, 7, "100.5")]
    store.insert_trades(batch(earlier))
    price, qty = price_to_raw("42150.25"), quantity_to_raw("0.5")
    rows = [
        (T0, 1, price, qty, 1, False),
        (T0, 2, 0, qty, 1, False),
        (T0, 3, price_to_raw("-1.5"), qty, 2, True),
        (T0, 4, price, 0, 1, False),
        (T0, 5, price, -qty, 1, False),
        (T0, 6, price, qty, 3, False),
        (T0, 7, price, qty, -1, False),
        (MIN_TS_NS - 1, 8, price, qty, 1, False),
        (MAX_TS_NS, 9, price, qty, 1, False),
        (T0 + 1, 10, price, qty, 2, True),
    ]
    result = store.insert_trades(TradeColumns(BTC, np.array(rows, dtype=TRADE_DTYPE)))
    assert (result.received, result.inserted, result.duplicates) == (10, 2, 0)
    fields = ["price", "price", "quantity", "quantity", "side", "side", "ts_event", "ts_event"]
    assert [(e.position, e.field) for e in result.rejected] == list(enumerate(fields, start=1))
    values = [e.value for e in result.rejected]
    assert Decimal(values[0]) == 0 and Decimal(values[1]) == Decimal("-1.5")
    assert Decimal(values[3]) == Decimal("-0.5")
    assert values[4:6] == ["3", "-1"]
    assert values[6].startswith(str(MIN_TS_NS - 1)) and values[7].startswith(str(MAX_TS_NS))
    assert [t.trade_id for t in stored(store)] == [7, 1, 10]
    assert stored(store)[0] == earlier[0]


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("price", {"price": Decimal("0")}),
        ("price", {"price": Decimal("-42150.25")}),
        ("price", {"price": Decimal("0.0000000001")}),
        ("quantity", {"quantity": Decimal("0")}),
        ("quantity", {"quantity": Decimal("92233720368.54775808")}),
        ("side", {"side": 3}),
        ("ts_event", {"ts_event": MIN_TS_NS - 1}),
        ("ts_event", {"ts_event": MAX_TS_NS}),
        ("trade_id", {"trade_id": "17"}),
        ("symbol", {"symbol": "BTC USDT"}),
    ],
)
def test_trade_with_a_bad_value_is_refused_when_made(field: str, change: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "price": Decimal("42150.25"),
        "quantity": Decimal("0.5"),
        "side": Side.BUY,
        "ts_event": T0,
        "trade_id": 1,
    }
    with pytest.raises(BadDataError) as refused:
        TradeTick(**(values | change))
    assert refused.value.field == field


REFUSE_666 = {
    "sqlite": "CREATE TRIGGER refuse_666 BEFORE INSERT ON tick_data WHEN NEW.trade_id = 666 "
    "BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    "postgresql": "CREATE FUNCTION refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.trade_id = 666 THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;"
    "CREATE TRIGGER refuse_666 BEFORE INSERT ON tick_data FOR EACH ROW "
    "EXECUTE FUNCTION refuse_666();",
}


def test_failed_batch_loses_nothing_stored_before(
    store: TickStore, request: pytest.FixtureRequest
) -> None:
    earlier = [trade(T0 + i, i) for i in range(3)]
    store.insert_trades(batch(earlier))
    # The database itself refuses one row in the middle of the next batch.
    run_sql(store, request, REFUSE_666[store.backend])
    failing = [trade(T0 + 10, 10), trade(T0 + 11, 666), trade(T0 + 12, 12)]
    with pytest.raises(StorageError):
        store.insert_trades(batch(failing))
    assert stored(store) == earlier  # nothing of the failed batch, all of the earlier ones
    run_sql(
        store, request, "DROP TRIGGER refuse_666" + " ON tick_data" * (store.backend != "sqlite")
    )
    assert store.insert_trades(batch(failing)) == InsertResult(3, 3, 0)
    assert len(stored(store)) == 6


# -- exactness -------------------------------------------------------------------------------

EXTREMES = [("0.000000001", "0.00000001"), ("42150.25", "1.5"), (MAX_PRICE, MAX_QUANTITY)]


def test_extreme_prices_and_quantities_round_trip_exactly(store: TickStore) -> None:
    # One trade per minute, so each extreme also makes its own one-minute bar.
    ticks = [trade(T0 + i * MINUTE, i, p, q) for i, (p, q) in enumerate(EXTREMES)]
    store.insert_trades(batch(ticks))
    expected = [(Decimal(p), Decimal(q)) for p, q in EXTREMES]
    assert [(t.price, t.quantity) for t in stored(store)] == expected
    streamed = [t for chunk in store.stream_trades(BTC, T0, MAX_TS_NS) for t in chunk.to_ticks()]
    assert [(t.price, t.quantity) for t in streamed] == expected
    raw = np.concatenate([c.data for c in store.stream_trades(BTC, T0, MAX_TS_NS, chunk_rows=2)])
    assert raw["price"].tolist() == [1, 42_150_250_000_000, 2**63 - 1]
    assert raw["quantity"].tolist() == [1, 150_000_000, 2**63 - 1]
    assert store.latest_price(BTC) == Decimal(MAX_PRICE)
    bars = store.ohlc(BTC, Timeframe.ONE_MINUTE, T0, T0 + HOUR)
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (Decimal(p), Decimal(p), Decimal(p), Decimal(p), Decimal(q)) for p, q in EXTREMES
    ]
    store.insert_tick(trade(T0 + 4 * MINUTE, 9, "0.000000001"))
    assert store.latest_price(BTC) == Decimal("0.000000001")


# -- reading trades --------------------------------------------------------------------------


def test_ticks_come_back_in_either_order_and_limited(store: TickStore) -> None:
    ticks = [trade(T0 + i * SECOND, 50 - i, str(100 + i)) for i in range(6)]
    store.insert_trades(batch(reversed(ticks)))
    assert store.get_ticks(BTC, T0, T0 + HOUR) == ticks
    assert store.get_ticks(BTC, T0, T0 + HOUR, order=Order.DESC) == ticks[::-1]
    assert store.get_ticks(BTC, T0, T0 + HOUR, limit=2) == ticks[:2]
    assert store.get_ticks(BTC, T0, T0 + HOUR, order=Order.DESC, limit=2) == ticks[:-3:-1]


def test_range_includes_a_trade_at_its_start_but_not_at_its_end(store: TickStore) -> None:
    start, end = T0, T0 + MINUTE
    store.insert_ticks([trade(start - 1, 1), trade(start, 2), trade(end - 1, 3), trade(end, 4)])
    assert [t.trade_id for t in store.get_ticks(BTC, start, end)] == [2, 3]
    assert store.get_ticks(BTC, start, start) == []
    with pytest.raises(BadDataError):
        store.get_ticks(BTC, end, start)


def test_trade_named_in_capitals_is_found_by_its_own_instrument(store: TickStore) -> None:
    tick = trade(T0, 1, instrument=InstrumentId("Binance", "BTCUSDT"))
    store.insert_tick(tick)
    assert store.get_ticks(tick.instrument_id, T0, T0 + 1) == [tick]
    assert store.latest_price(tick.instrument_id) == tick.price


def test_trades_of_other_symbols_and_exchanges_are_not_returned(store: TickStore) -> None:
    mine = trade(T0, 1)
    store.insert_ticks([mine, trade(T0, 1, instrument=ETH), trade(T0, 1, instrument=BYBIT_BTC)])
    assert store.get_ticks(BTC, T0, T0 + 1) == [mine]
    assert len(store.get_ticks(BYBIT_BTC, T0, T0 + 1)) == 1
    assert store.get_ticks(InstrumentId("binance", "SOLUSDT"), T0, T0 + 1) == []


def test_trades_in_the_same_nanosecond_are_ordered_by_trade_id(store: TickStore) -> None:
    store.insert_ticks([trade(T0, 30, "3"), trade(T0, 10, "1"), trade(T0, 20, "2")])
    assert [t.trade_id for t in store.get_ticks(BTC, T0, T0 + 1)] == [10, 20, 30]
    assert [t.trade_id for t in store.get_ticks(BTC, T0, T0 + 1, order=Order.DESC)] == [30, 20, 10]


def test_latest_price_is_none_before_any_trade(store: TickStore) -> None:
    assert store.latest_price(BTC) is None
    store.insert_tick(trade(T0, 1, instrument=ETH))
    assert store.latest_price(BTC) is None


def test_latest_price_is_the_last_trade_by_time_then_trade_id(store: TickStore) -> None:
    store.insert_ticks([trade(T0 + 200, 6, "3.0"), trade(T0 + 100, 999, "1"), trade(T0 + 200, 5)])
    store.insert_ticks([trade(T0 + 300, 1, "9", instrument=ETH)])
    store.insert_ticks([trade(T0 + 500, 1, "7", instrument=BYBIT_BTC)])
    assert store.latest_price(BTC) == Decimal("3")
    assert store.latest_price(ETH) == Decimal("9")
    assert store.latest_price(BYBIT_BTC) == Decimal("7")


# -- streaming -------------------------------------------------------------------------------

RUNS = [1, 4, 2, 5, 3, 1, 6]  # trades sharing one timestamp, second after second


def runs_of_equal_timestamps() -> list[TradeTick]:
    rng = random.Random(7)
    ticks, next_id = [], 1000
    for run, size in enumerate(RUNS):
        ids = list(range(next_id, next_id + size))
        rng.shuffle(ids)  # stored out of id order within the run
        next_id += size
        ticks += [trade(T0 + run * SECOND, i, str(100 + i)) for i in ids]
    return ticks


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 4, 5, 7, 11, 22, 1000])
def test_stream_pages_through_runs_of_equal_timestamps_without_loss(
    store: TickStore, chunk_rows: int
) -> None:
    ticks = runs_of_equal_timestamps()
    store.insert_ticks(ticks)
    store.insert_ticks([trade(t.ts_event, t.trade_id, instrument=ETH) for t in ticks])
    end = T0 + MINUTE
    chunks = list(store.stream_trades(BTC, T0, end, chunk_rows=chunk_rows))
    assert all(chunk.instrument == BTC for chunk in chunks)
    assert [len(c) for c in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1)
    assert 1 <= len(chunks[-1]) <= chunk_rows
    streamed = [t for chunk in chunks for t in chunk.to_ticks()]
    assert streamed == store.get_ticks(BTC, T0, end)
    assert len(streamed) == sum(RUNS)
    # A range that starts and ends inside the series.
    lo, hi = T0 + 1 * SECOND, T0 + 5 * SECOND
    part = [
        t for c in store.stream_trades(BTC, lo, hi, chunk_rows=chunk_rows) for t in c.to_ticks()
    ]
    assert part == store.get_ticks(BTC, lo, hi)
    assert len(part) == sum(RUNS[1:5])


def test_stream_of_an_empty_range_yields_nothing(store: TickStore) -> None:
    store.insert_tick(trade(T0, 1))
    assert list(store.stream_trades(BTC, T0 + 1, T0 + DAY)) == []
    assert list(store.stream_trades(BTC, T0, T0)) == []
    assert list(store.stream_trades(ETH, T0, T0 + 1)) == []


# -- bars ------------------------------------------------------------------------------------


def ten_days_of_trades() -> list[TradeTick]:
    """Trades from Friday 2023-12-29 to 2024-01-08, many on minute boundaries, some tied."""
    rng = random.Random(20240102)
    start = parse_datetime("2023-12-29T21:00:00Z")
    ids = rng.sample(range(1, 10**6), 460)
    ticks: list[TradeTick] = []
    for n in range(450):
        if ticks and rng.random() < 0.15:
            ts = rng.choice(ticks).ts_event
        else:
            ts = start + rng.randrange(10 * 24 * 60) * MINUTE
            ts += rng.choice([0, 0, 1, -1, rng.randrange(MINUTE)])
        price = str(Decimal(rng.randrange(4_000_000, 4_500_000)).scaleb(-2))
        quantity = str(Decimal(rng.randrange(1, 10**9)).scaleb(-8))
        ticks.append(trade(ts, ids[n], price, quantity))
    monday = parse_datetime("2024-01-08T00:00:00Z")
    ticks += [trade(monday - 1, ids[450], "1.5"), trade(monday, ids[451], "2.5")]
    return ticks


def reference_bars(
    ticks: list[TradeTick], timeframe: Timeframe, start: int, end: int
) -> list[tuple[Any, ...]]:
    buckets: dict[int, list[TradeTick]] = {}
    for t in sorted(ticks, key=lambda t: (t.ts_event, t.trade_id)):
        if start <= t.ts_event < end:
            buckets.setdefault(timeframe.bar_open(t.ts_event), []).append(t)
    return [
        (
            opened,
            opened + timeframe.nanos,
            group[0].price,
            max(t.price for t in group),
            min(t.price for t in group),
            group[-1].price,
            sum(t.quantity for t in group),
            len(group),
        )
        for opened, group in sorted(buckets.items())
    ]


def bar_rows(store: TickStore, timeframe: Timeframe, start: int, end: int) -> list[Any]:
    bars = store.ohlc(BTC, timeframe, start, end)
    assert all(b.bar_type == BarType.time(timeframe) and not b.is_synthetic for b in bars)
    assert all((b.exchange, b.symbol) == ("binance", "BTCUSDT") for b in bars)
    return [
        (b.open_time, b.close_time, b.open, b.high, b.low, b.close, b.volume, b.tick_count)
        for b in bars
    ]


@pytest.mark.parametrize("timeframe", list(Timeframe))
def test_bars_match_the_reference_over_whole_and_partial_ranges(
    store: TickStore, timeframe: Timeframe
) -> None:
    ticks = ten_days_of_trades()
    store.insert_ticks(ticks)
    store.insert_ticks([trade(t.ts_event, t.trade_id, "1", instrument=ETH) for t in ticks[:50]])
    everything = (MIN_TS_NS, MAX_TS_NS)
    expected = reference_bars(ticks, timeframe, *everything)
    assert bar_rows(store, timeframe, *everything) == expected
    assert sum(row[-1] for row in expected) == len(ticks)
    start = parse_datetime("2024-01-01T07:13:29.5Z")  # mid-bar for every timeframe
    end = parse_datetime("2024-01-06T02:01:00.000000001Z")
    assert bar_rows(store, timeframe, start, end) == reference_bars(ticks, timeframe, start, end)


def test_trade_exactly_on_a_bar_boundary_opens_the_next_bar(store: TickStore) -> None:
    boundary = parse_datetime("2024-01-02T10:05:00Z")
    store.insert_ticks([trade(boundary - 1, 1, "10"), trade(boundary, 2, "20")])
    bars = store.ohlc(BTC, Timeframe.FIVE_MINUTES, T0, T0 + HOUR)
    assert [(b.open_time, b.close_time, b.open) for b in bars] == [
        (T0, boundary, Decimal("10")),
        (boundary, boundary + 5 * MINUTE, Decimal("20")),
    ]


def test_weekly_bars_open_on_monday_midnight_utc(store: TickStore) -> None:
    wednesday = parse_datetime("2024-01-03T12:00:00Z")
    sunday_last_ns = parse_datetime("2024-01-07T23:59:59.999999999Z")
    monday = parse_datetime("2024-01-08T00:00:00Z")
    store.insert_ticks([trade(wednesday, 1), trade(sunday_last_ns, 2), trade(monday, 3)])
    bars = store.ohlc(BTC, Timeframe.ONE_WEEK, MIN_TS_NS, MAX_TS_NS)
    assert [(b.open_time, b.tick_count) for b in bars] == [
        (parse_datetime("2024-01-01T00:00:00Z"), 2),
        (monday, 1),
    ]
    assert bars[0].close_time == monday


def test_range_starting_mid_bar_counts_only_trades_inside_it(store: TickStore) -> None:
    minute = MINUTE
    store.insert_ticks(
        [trade(T0 + 5 * minute, 1, "10", "1"), trade(T0 + 20 * minute, 2, "30", "2")]
    )
    store.insert_tick(trade(T0 + 40 * minute, 3, "20", "4"))
    (bar,) = store.ohlc(BTC, Timeframe.ONE_HOUR, T0 + 15 * MINUTE, T0 + DAY)
    assert bar.open_time == T0 and (bar.volume, bar.tick_count) == (Decimal("6"), 2)
    assert (bar.open, bar.high, bar.low, bar.close) == tuple(map(Decimal, (30, 30, 20, 20)))


# -- quotes ----------------------------------------------------------------------------------


def quote(ts: int, sequence: int, bid: str = "42150.25", ask: str = "42150.5") -> QuoteTick:
    size = Decimal("1.25")
    return QuoteTick("binance", "BTCUSDT", Decimal(bid), size, Decimal(ask), size, ts, sequence)


def test_quotes_round_trip_and_repeat_by_time_and_sequence(store: TickStore) -> None:
    quotes = [quote(T0, 2), quote(T0, 1, "0.000000001", MAX_PRICE), quote(T0 + 1, 0)]
    assert store.insert_quotes(QuoteColumns.from_quotes(quotes)) == InsertResult(3, 3, 0)
    ordered = [quotes[1], quotes[0], quotes[2]]
    assert store.get_quotes(BTC, T0, T0 + 2) == ordered
    assert store.get_quotes(BTC, T0, T0 + 2, order=Order.DESC) == ordered[::-1]
    assert store.get_quotes(BTC, T0, T0 + 1) == ordered[:2]
    again = [quote(T0, 2, "1", "2"), quote(T0, 3)]  # same (ts, sequence) with new prices: kept
    assert store.insert_quotes(QuoteColumns.from_quotes(again)) == InsertResult(2, 1, 1)
    assert store.get_quotes(BTC, T0, T0 + 1)[1] == quotes[0]


def test_quote_batch_with_bad_rows_reports_them_by_position(store: TickStore) -> None:
    p, s = price_to_raw("100"), quantity_to_raw("1")
    rows = [
        (T0, 1, p, s, p, s),
        (T0, 2, 0, s, p, s),
        (T0, 3, p, s, -p, s),
        (T0, 4, p, -s, p, s),
        (T0, 5, p, s, p, -s),
        (MAX_TS_NS, 6, p, s, p, s),
        (T0, 7, p, 0, p, 0),
    ]
    result = store.insert_quotes(QuoteColumns(BTC, np.array(rows, dtype=QUOTE_DTYPE)))
    assert (result.received, result.inserted, result.duplicates) == (7, 2, 0)
    fields = ["bid_price", "ask_price", "bid_size", "ask_size", "ts_event"]
    assert [(e.position, e.field) for e in result.rejected] == list(enumerate(fields, start=1))
    assert Decimal(result.rejected[1].value) == Decimal("-100")
    assert [q.sequence for q in store.get_quotes(BTC, MIN_TS_NS, MAX_TS_NS)] == [1, 7]


# -- symbols ---------------------------------------------------------------------------------


def test_symbol_registry_adds_updates_lists_and_removes(store: TickStore) -> None:
    btc = SymbolInfo("binance", "BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"))
    eth = SymbolInfo("binance", "ETHUSDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"))
    bybit = SymbolInfo("bybit", "BTCUSDT", status="active", source="exchange_info")
    assert store.add_symbols([btc, eth]) == 2
    halted = msgspec.structs.replace(btc, status="halted", source="exchange_info")
    assert store.add_symbols([halted, bybit]) == 1
    assert store.add_symbols([halted]) == 0
    assert store.list_symbols() == [halted, eth, bybit]
    assert store.list_symbols("bybit") == [bybit]
    assert store.list_symbols("kraken") == []
    store.insert_tick(trade(T0, 1))
    assert store.remove_symbols([BTC, InstrumentId("binance", "DOGEUSDT")]) == 1
    assert store.list_symbols("binance") == [eth]
    assert len(stored(store)) == 1  # unregistering keeps the ticks


# -- maintenance -----------------------------------------------------------------------------


def test_trades_over_three_days_are_reported_per_series_and_partition(store: TickStore) -> None:
    day = parse_datetime("2024-01-02T00:00:00Z")
    store.insert_ticks([trade(day + d * DAY + HOUR, d) for d in range(3)])
    store.insert_ticks([trade(day + 5, 1, instrument=BYBIT_BTC)])
    store.insert_quotes(QuoteColumns.from_quotes([quote(day + 7, 1), quote(day + 9, 2)]))
    stats = store.stats()
    assert (stats.backend, stats.layout) == (store.backend, store.layout)
    last = day + 2 * DAY + HOUR
    assert [
        SeriesStats(s.table, s.exchange, s.symbol, s.rows, s.first_ts, s.last_ts, 0)
        for s in stats.series
    ] == [
        SeriesStats("tick_data", "binance", "BTCUSDT", 3, day + HOUR, last, 0),
        SeriesStats("tick_data", "bybit", "BTCUSDT", 1, day + 5, day + 5, 0),
        SeriesStats("quotes", "binance", "BTCUSDT", 2, day + 7, day + 9, 0),
    ]
    if store.layout == "partitioned":
        days = [(day + d * DAY, day + (d + 1) * DAY) for d in range(3)]
        ticks = sorted(
            (p.range_start, p.range_end) for p in stats.partitions if p.table == "tick_data"
        )
        assert ticks == days
        assert {p.name for p in stats.partitions if p.table == "quotes"} == {"quotes_20240102"}
    else:
        assert stats.partitions == ()


def test_compression_is_refused_saying_what_the_backend_offers(store: TickStore) -> None:
    assert store.layout in ("sqlite", "partitioned")  # no TimescaleDB on this machine
    with pytest.raises(NotAvailableError) as refused:
        store.compress(T0)
    message = str(refused.value)
    assert "TimescaleDB" in message
    assert ("SQLite" if store.backend == "sqlite" else "partitions") in message


def test_migrating_again_applies_nothing_and_keeps_the_data(store: TickStore) -> None:
    store.insert_tick(trade(T0, 1))
    before = store.migrate()
    after = store.migrate()
    assert [(m.version, m.name) for m in after] == [(m.version, m.name) for m in before]
    assert [m.version for m in after] == (
        [1, 2, 3, 4, 5, 6] if store.backend == "sqlite" else [1, 2, 3, 4, 5, 6, 7]
    )
    assert not any(m.newly_applied for m in before + after)
    assert stored(store) == [trade(T0, 1)]


def test_gaps_are_recorded_listed_in_time_order_and_marked_filled(store: TickStore) -> None:
    later = store.record_gap(Gap("binance", "BTCUSDT", 5_000, 9_000, "REST history too short"))
    earlier = store.record_gap(Gap("kraken", "BTC/USD", 1_000, 2_000, "REST failed: HTTP 503"))
    assert [g.id for g in store.list_gaps()] == [earlier, later]
    [kraken] = store.list_gaps("kraken")
    assert (kraken.symbol, kraken.from_ns, kraken.to_ns, kraken.reason, kraken.filled) == (
        "BTC/USD",
        1_000,
        2_000,
        "REST failed: HTTP 503",
        False,
    )
    store.mark_gap_filled(earlier)
    assert [g.id for g in store.list_gaps()] == [later]
    assert [(g.id, g.filled) for g in store.list_gaps(include_filled=True)] == [
        (earlier, True),
        (later, False),
    ]


def test_a_gap_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(BadDataError, match="to_ns 1 is before from_ns 2"):
        Gap("binance", "BTCUSDT", 2, 1, "clock went backwards")
