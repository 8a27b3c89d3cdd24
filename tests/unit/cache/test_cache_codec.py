"""The JSON form of a cached trade: readable by any tool, exact both ways."""

from __future__ import annotations

import json

import pytest

from ticklane.cache import codec
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import INT64_MAX, INT64_MIN
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord

T0 = 1_717_372_800_123_456_789


def record(price: int, quantity: int, side: int = Side.BUY) -> TradeRecord:
    return TradeRecord("binance", "BTCUSDT", T0, T0 + 411, 3_141_592, price, quantity, side)


def test_a_trade_is_a_json_object_with_decimal_strings() -> None:
    data = json.loads(codec.encode(record(42_150_250_000_000, 123_000)))
    assert data == {
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "ts_event": T0,
        "ts_recv": T0 + 411,
        "trade_id": 3_141_592,
        "price": "42150.25",
        "quantity": "0.00123",
        "side": "buy",
    }


@pytest.mark.parametrize(
    ("price", "quantity"),
    [
        (1, 1),  # the smallest steps: 1e-9 and 1e-8
        (42_150_000_000_000, 100_000_000),  # whole numbers
        (INT64_MAX, INT64_MAX),
        (123_456_789, 99_999_999),
    ],
)
def test_round_trip_gives_back_the_same_scaled_integers(price: int, quantity: int) -> None:
    for side in Side:
        original = record(price, quantity, side)
        assert codec.decode(codec.encode(original)) == original
        assert codec.decode(codec.encode(original)).to_trade_tick() == original.to_trade_tick()


@pytest.mark.parametrize("raw", [1, 10, 500_000_000, 10**9, INT64_MAX, INT64_MIN, -1, 0])
def test_decimal_text_is_exact_in_both_directions(raw: int) -> None:
    for decimals in (8, 9):
        assert codec.text_to_raw(codec.raw_to_text(raw, decimals), decimals, field="x") == raw


def test_text_in_other_spellings_is_read_when_exact() -> None:
    assert codec.text_to_raw("4.215025E+4", 9, field="price") == 42_150_250_000_000
    assert codec.text_to_raw("42150.250", 9, field="price") == 42_150_250_000_000
    with pytest.raises(BadDataError, match="decimal places"):
        codec.text_to_raw("0.0000000001", 9, field="price")
    with pytest.raises(BadDataError, match="range"):
        codec.text_to_raw("9223372037", 9, field="price")


def test_elements_another_tool_broke_are_skipped_and_counted() -> None:
    good = [codec.encode(record(n * 10**9, 10**8)) for n in (1, 2, 3)]
    broken = [b"not json", b'{"exchange":"binance"}', good[0].replace(b'"buy"', b'"up"')]
    records, bad = codec.decode_all([good[0], broken[0], good[1], broken[1], broken[2], good[2]])
    assert [r.price for r in records] == [10**9, 2 * 10**9, 3 * 10**9]
    assert bad == 3


def test_unknown_extra_fields_are_ignored() -> None:
    element = codec.encode(record(10**9, 10**8))[:-1] + b',"venue_seq":7}'
    assert codec.decode(element) == record(10**9, 10**8)


def test_elements_with_a_price_or_time_no_trade_can_have_are_skipped() -> None:
    good = codec.encode(record(10**9, 10**8))
    free = good.replace(b'"price":"1"', b'"price":"0"')
    negative = good.replace(b'"quantity":"1"', b'"quantity":"-1"')
    too_early = good.replace(str(T0).encode(), b"5", 1)
    assert free != good and negative != good and too_early != good
    records, bad = codec.decode_all([free, good, negative, too_early])
    assert records == [record(10**9, 10**8)]
    assert bad == 3
