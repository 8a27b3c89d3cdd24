"""Columnar batches of trades and quotes: conversion to and from objects, row validation."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from ticklane.core.columnar import (
    QUOTE_DTYPE,
    TRADE_DTYPE,
    ColumnCopier,
    QuoteColumns,
    TradeColumns,
    group_trades,
    validate_quotes,
    validate_trades,
)
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, parse_datetime

BTC = InstrumentId("binance", "BTCUSDT")
T0 = parse_datetime("2024-01-02T10:00:00Z")
P, Q = 42_150_250_000_000, 50_000_000  # 42150.25 and 0.5, scaled


def trade(
    ts: int,
    trade_id: int,
    price: str,
    quantity: str,
    side: Side,
    symbol: str = "BTCUSDT",
    is_buyer_maker: bool | None = None,
) -> TradeTick:
    exact = Decimal(price), Decimal(quantity)
    return TradeTick("binance", symbol, *exact, side, ts, trade_id, is_buyer_maker)


def test_trades_round_trip_through_columns_exactly() -> None:
    ticks = [
        trade(T0, 7, "0.000000001", "0.00000001", Side.BUY),
        trade(T0, 3, "9223372036.854775807", "92233720368.54775807", Side.SELL),
        trade(T0 + 1, -4, "42150.25", "1.5", Side.NONE, is_buyer_maker=True),
    ]
    columns = TradeColumns.from_ticks(ticks)
    assert columns.instrument == BTC and len(columns) == 3
    assert columns.data.dtype == TRADE_DTYPE
    assert columns.data["price"].tolist() == [1, 2**63 - 1, P]
    assert columns.data["quantity"].tolist() == [1, 2**63 - 1, 150_000_000]
    assert columns.data["trade_id"].tolist() == [7, 3, -4]  # the given order is kept
    assert columns.to_ticks() == ticks


def test_buyer_maker_flag_follows_the_aggressor_side_unless_given() -> None:
    assert trade(T0, 1, "1", "1", Side.SELL).is_buyer_maker is True
    assert trade(T0, 1, "1", "1", Side.BUY).is_buyer_maker is False
    assert trade(T0, 1, "1", "1", Side.NONE).is_buyer_maker is False
    given = trade(T0, 1, "1", "1", Side.BUY, is_buyer_maker=True)
    assert TradeColumns.from_ticks([given]).to_ticks()[0].is_buyer_maker is True


def test_no_ticks_make_no_batch() -> None:
    with pytest.raises(BadDataError):
        TradeColumns.from_ticks([])
    assert len(TradeColumns.empty(BTC)) == 0 and len(TradeColumns.empty(BTC, 4)) == 4


def test_ticks_of_two_instruments_do_not_make_one_batch() -> None:
    mixed = [trade(T0, 1, "1", "1", Side.BUY), trade(T0, 2, "1", "1", Side.BUY, symbol="ETHUSDT")]
    with pytest.raises(BadDataError, match=r"tick 1 is ETHUSDT\.binance") as refused:
        TradeColumns.from_ticks(mixed)
    assert refused.value.field == "symbol"


def test_ticks_of_many_instruments_are_grouped_keeping_their_order() -> None:
    a1, b1 = trade(T0, 1, "1", "1", Side.BUY), trade(T0, 1, "2", "1", Side.BUY, symbol="ETHUSDT")
    a2, b2 = trade(T0, 2, "3", "1", Side.BUY), trade(T0, 2, "4", "1", Side.BUY, symbol="ETHUSDT")
    groups = group_trades([a1, b1, b2, a2])
    assert [g.instrument.symbol for g in groups] == ["BTCUSDT", "ETHUSDT"]
    assert [g.to_ticks() for g in groups] == [[a1, a2], [b1, b2]]
    assert group_trades([]) == []


def rows(*records: tuple[int, ...]) -> np.ndarray:
    return np.array(list(records), dtype=TRADE_DTYPE)


def test_bad_trade_rows_are_reported_by_position_field_and_value() -> None:
    data = rows(
        (T0, 1, P, Q, 1, False),
        (T0, 2, 0, Q, 1, False),
        (T0, 3, P, -Q, 2, True),
        (T0, 4, P, Q, 7, False),
        (MIN_TS_NS - 1, 5, P, Q, 1, False),
        (MAX_TS_NS - 1, 6, P, Q, 1, False),
        (MIN_TS_NS, 7, P, Q, 0, False),
    )
    good, errors = validate_trades(data)
    assert good.tolist() == [True, False, False, False, False, True, True]
    assert [(e.position, e.field) for e in errors] == [
        (1, "price"),
        (2, "quantity"),
        (3, "side"),
        (4, "ts_event"),
    ]
    assert [Decimal(e.value) for e in errors[:2]] == [0, Decimal("-0.5")]
    assert errors[2].value == "7"
    assert errors[3].value == f"{MIN_TS_NS - 1} (1979-12-31T23:59:59.999999999Z)"
    assert errors[0].message.startswith("price") and "is not positive" in errors[0].message
    assert "1980-01-01" in errors[3].message


def test_row_wrong_in_several_fields_is_reported_once_for_the_first() -> None:
    good, errors = validate_trades(rows((0, 1, -1, 0, 9, False), (T0, 2, P, Q, 1, False)))
    assert good.tolist() == [False, True]
    assert [(e.position, e.field) for e in errors] == [(0, "price")]


def test_validated_batch_keeps_only_the_good_rows_in_order() -> None:
    batch = TradeColumns(
        BTC, rows((T0, 3, P, Q, 1, False), (T0, 1, 0, Q, 1, False), (T0, 2, P, Q, 2, True))
    )
    kept, errors = batch.validated()
    assert kept.data["trade_id"].tolist() == [3, 2] and kept.instrument == BTC
    assert [e.position for e in errors] == [1]
    clean = TradeColumns(BTC, rows((T0, 3, P, Q, 1, False)))
    assert clean.validated() == (clean, [])


def test_empty_batch_is_valid() -> None:
    good, errors = validate_trades(np.zeros(0, dtype=TRADE_DTYPE))
    assert len(good) == 0 and errors == []


def quote(ts: int, sequence: int, bid: str, ask: str, size: str = "1.25") -> QuoteTick:
    prices = Decimal(bid), Decimal(size), Decimal(ask), Decimal(size)
    return QuoteTick("binance", "BTCUSDT", *prices, ts, sequence)


def test_quotes_round_trip_through_columns_exactly() -> None:
    quotes = [
        quote(T0, 2, "42150.25", "42150.5"),
        quote(T0, 1, "0.000000001", "9223372036.854775807", "0"),
    ]
    columns = QuoteColumns.from_quotes(quotes)
    assert columns.data.dtype == QUOTE_DTYPE and len(columns) == 2
    assert columns.data["ask_price"].tolist() == [42_150_500_000_000, 2**63 - 1]
    assert columns.to_quotes() == quotes
    assert quotes[0].mid_price == Decimal("42150.375")


def test_quotes_of_two_instruments_do_not_make_one_batch() -> None:
    other = QuoteTick("bybit", "BTCUSDT", Decimal(1), Decimal(1), Decimal(2), Decimal(1), T0)
    with pytest.raises(BadDataError, match="quote 1"):
        QuoteColumns.from_quotes([quote(T0, 1, "1", "2"), other])
    with pytest.raises(BadDataError):
        QuoteColumns.from_quotes([])


def test_bad_quote_rows_are_reported_by_position() -> None:
    data = np.array(
        [
            (T0, 0, P, Q, P, Q),
            (T0, 1, 0, Q, P, Q),
            (T0, 2, P, Q, -P, Q),
            (T0, 3, P, -1, P, Q),
            (T0, 4, P, Q, P, -1),
            (MAX_TS_NS, 5, P, Q, P, Q),
            (T0, 6, P, 0, P, 0),  # an empty side of the book is a real quote
        ],
        dtype=QUOTE_DTYPE,
    )
    good, errors = validate_quotes(data)
    assert good.tolist() == [True, False, False, False, False, False, True]
    fields = ["bid_price", "ask_price", "bid_size", "ask_size", "ts_event"]
    assert [(e.position, e.field) for e in errors] == list(enumerate(fields, start=1))
    assert Decimal(errors[2].value) == Decimal("-0.00000001")
    kept, _ = QuoteColumns(BTC, data).validated()
    assert kept.data["sequence"].tolist() == [0, 6]


@pytest.mark.parametrize(
    ("field", "value"),
    [("bid_price", "0"), ("ask_price", "-1"), ("bid_size", "-0.5"), ("ask_size", "-1")],
)
def test_quote_object_with_a_bad_value_is_refused_naming_the_field(field: str, value: str) -> None:
    values = {"bid_price": "1", "ask_price": "2", "bid_size": "1", "ask_size": "1"}
    values[field] = value
    exact = {name: Decimal(text) for name, text in values.items()}
    with pytest.raises(BadDataError) as refused:
        bid, bid_size, ask, ask_size = (
            exact[k] for k in ("bid_price", "bid_size", "ask_price", "ask_size")
        )
        QuoteTick("binance", "BTCUSDT", bid, bid_size, ask, ask_size, T0)
    assert refused.value.field == field


def test_column_copies_equal_the_fields_whatever_the_batch_sizes_and_reuse_their_memory() -> None:
    copier = ColumnCopier(TRADE_DTYPE, "ts_event", "price")
    rng = np.random.default_rng(3)
    previous = None
    for rows in (100_000, 70_000, 0, 150_001):  # more than one copy block; shrinking; growing
        data = np.zeros(rows, dtype=TRADE_DTYPE)
        data["ts_event"] = rng.integers(0, 2**62, size=rows)
        data["price"] = rng.integers(0, 2**62, size=rows)
        ts, price = copier.copy(data)
        assert ts.flags.c_contiguous and price.dtype == np.int64
        assert np.array_equal(ts, data["ts_event"]) and np.array_equal(price, data["price"])
        if previous is not None and 0 < rows <= len(previous):
            assert np.shares_memory(ts, previous)  # the buffer of the larger batch, reused
        previous = ts
