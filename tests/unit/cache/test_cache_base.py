"""Trade objects made from cached records: the same objects, and the same refusals, as
``TradeRecord.to_trade_tick``."""

from __future__ import annotations

import pytest

from ticklane.cache.base import to_tick
from ticklane.core.fixed import INT64_MAX
from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord

T0 = 1_717_372_800_123_456_789


def record(
    price: int = 42_150_250_000_000,
    quantity: int = 123_000,
    side: int = Side.BUY,
    exchange: str = "binance",
    symbol: str = "BTCUSDT",
    ts_event: int = T0,
    trade_id: int = 7,
) -> TradeRecord:
    return TradeRecord(exchange, symbol, ts_event, ts_event + 411, trade_id, price, quantity, side)


@pytest.mark.parametrize(
    "given",
    [
        record(),
        record(side=Side.SELL),
        record(side=Side.NONE, price=1, quantity=1),
        record(price=INT64_MAX, quantity=INT64_MAX),
        record(exchange="Kraken", symbol="XBT/USD"),  # the name made canonical, as the tick does
        record(price=42_150_000_000_000, quantity=100_000_000),  # trailing zeros kept alike
    ],
)
def test_the_object_is_the_one_the_record_makes(given: TradeRecord) -> None:
    made, expected = to_tick(given), given.to_trade_tick()
    assert made == expected
    assert repr(made) == repr(expected)
    assert str(made.price) == str(expected.price)
    assert made.side is expected.side
    assert made.is_buyer_maker is expected.is_buyer_maker


@pytest.mark.parametrize(
    "given",
    [
        record(price=0),
        record(quantity=-1),
        record(price=INT64_MAX + 1),
        record(ts_event=5),
        record(side=9),
        record(exchange="not a venue"),
        record(symbol=""),
        record(trade_id=True),
    ],
)
def test_a_record_no_trade_could_be_is_refused_alike(given: TradeRecord) -> None:
    with pytest.raises(Exception) as expected:
        given.to_trade_tick()
    with pytest.raises(type(expected.value), match=None) as made:
        to_tick(given)
    assert str(made.value) == str(expected.value)
