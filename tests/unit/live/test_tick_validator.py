"""The live pipeline's tick validation: each rule, at its boundary, names its reason."""

from __future__ import annotations

import pytest

from ticklane.core.identifiers import Side
from ticklane.core.records import TradeRecord
from ticklane.live.market_data import TickValidator

NOW = 1_750_000_000_000_000_000
SECOND = 1_000_000_000


def trade(
    trade_id: int = 1,
    *,
    ts: int = NOW,
    price: int = 42_000 * 10**9,
    quantity: int = 10**6,
    symbol: str = "BTCUSDT",
) -> TradeRecord:
    return TradeRecord("binance", symbol, ts, ts, trade_id, price, quantity, Side.BUY)


def validator() -> TickValidator:
    return TickValidator(
        ["BTCUSDT"], max_future_ns=2 * SECOND, max_age_ns=60 * SECOND, clock=lambda: NOW
    )


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (trade(price=0), "non_positive_price"),
        (trade(price=-1), "non_positive_price"),
        (trade(quantity=0), "non_positive_quantity"),
        (trade(symbol="ETHUSDT"), "unknown_symbol"),
        (trade(ts=NOW + 2 * SECOND + 1), "future_timestamp"),
        (trade(ts=NOW - 60 * SECOND - 1), "stale_timestamp"),
    ],
)
def test_a_bad_trade_is_refused_with_its_reason(bad: TradeRecord, reason: str) -> None:
    assert validator().check(bad) == reason


def test_trades_exactly_at_the_time_bounds_are_accepted() -> None:
    check = validator().check
    assert check(trade(1, ts=NOW + 2 * SECOND)) is None
    assert check(trade(2, ts=NOW - 60 * SECOND)) is None


def test_a_trade_id_seen_before_is_a_duplicate_but_not_on_another_instrument() -> None:
    check = TickValidator(
        ["BTCUSDT", "ETHUSDT"], max_future_ns=SECOND, max_age_ns=SECOND, clock=lambda: NOW
    ).check
    assert check(trade(7)) is None
    assert check(trade(7)) == "duplicate"
    assert check(trade(7, symbol="ETHUSDT")) is None
