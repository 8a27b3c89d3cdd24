"""Shared venue pieces: exact number parsing, trade ids, sorted book levels, error counters."""

from __future__ import annotations

import logging
import random
from decimal import Decimal

import pytest

from ticklane.core.errors import OutOfRangeError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.datamanager.importer import derived_trade_id as importer_derived_id
from ticklane.datamanager.importer import hashed_trade_id as importer_hashed_id
from ticklane.venues.book import Book, book_level
from ticklane.venues.common import ActionKind, ActionQueue, FeedAction, ParseErrors, Reason
from ticklane.venues.numbers import (
    RepeatCounter,
    derived_trade_id,
    hashed_trade_id,
    price_raw,
    quantity_raw,
    rfc3339_to_ns,
    seconds_text_to_ns,
)

TEXTS = [
    "28165.47000000", "0.00056000", "0", "0.0", "5.", ".5", "100", "0.000000001", "1e-5",
    "5.1E-05", "-1.5", "+2", "0.1234567890", "0.1234567800", "9223372036.854775807",
    "9223372036.854775808", "92233720368.54775807", "abc", "", " 1", "1 ", "1_000", "١٢",
    "NaN", "Infinity", "1.2.3", "00012.50",
]  # fmt: skip


def same(fast: object, exact: object, text: str) -> None:
    try:
        expected = exact(text)  # type: ignore[operator]
    except OutOfRangeError:
        with pytest.raises(OutOfRangeError):
            fast(text)  # type: ignore[operator]
        return
    assert fast(text) == expected, text  # type: ignore[operator]


@pytest.mark.parametrize("text", TEXTS)
def test_fast_decimal_parsing_agrees_with_core_fixed(text: str) -> None:
    same(price_raw, price_to_raw, text)
    same(quantity_raw, quantity_to_raw, text)


def test_fast_decimal_parsing_agrees_on_random_venue_strings() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        whole = str(rng.randrange(0, 10 ** rng.randrange(1, 12)))
        frac = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 11)))
        text = f"{whole}.{frac}" if frac or rng.random() < 0.5 else whole
        same(price_raw, price_to_raw, text)
        same(quantity_raw, quantity_to_raw, text)


def test_times_are_exact_nanoseconds() -> None:
    assert seconds_text_to_ns("1534614057.321597") == 1534614057_321597000
    assert seconds_text_to_ns("1534614057") == 1534614057_000000000
    assert rfc3339_to_ns("2023-10-06T17:35:55.440295Z") == 1696613755_440295000
    assert rfc3339_to_ns("2023-10-04T16:25:00.123456789Z") == 1696436700_123456789
    for bad in ("1534614057.x", "-1.5", "1e9", ""):
        with pytest.raises(ValueError):
            seconds_text_to_ns(bad)


def test_trade_ids_match_the_bulk_importer_formulas() -> None:
    uid = "caa9c653-420b-4c24-a9f1-462a054d86f1"
    assert hashed_trade_id(uid) == importer_hashed_id(uid)
    key = (1617666461_465618000, 58721_200_000_000, 2_798_644, 3)
    assert derived_trade_id(*key) == importer_derived_id(*key)


def test_repeat_counter_counts_identical_trades_at_one_time() -> None:
    counter = RepeatCounter()
    assert [counter.next(1, 10, 5), counter.next(1, 10, 5), counter.next(1, 11, 5)] == [0, 1, 0]
    assert counter.next(2, 10, 5) == 0


def test_book_levels_stay_sorted_best_first() -> None:
    book = Book()
    for price in (5, 9, 1, 7):
        book.bids.set(price, price * 10)
        book.asks.set(price + 100, 1)
    book.bids.set(9, 0)  # remove
    book.bids.set(3, 0)  # remove an absent level: nothing
    book.bids.set(7, 70_000)  # update in place
    assert list(book.bids.levels()) == [(7, 70_000), (5, 50), (1, 10)]
    assert book.asks.prices(2) == [101, 105]
    assert book.asks.truncate(2) == [107, 109]
    assert book.bids.best() == (7, 70_000) and not book.is_crossed()
    book.bids.set(102, 1)
    assert book.is_crossed()


def test_book_level_leaves_out_unrepresentable_prices_and_removes_bad_sizes() -> None:
    assert book_level("10.5", "2") == (10_500_000_000, 200_000_000, True)
    assert book_level(Decimal("10.5"), Decimal("0")) == (10_500_000_000, 0, True)
    assert book_level("9999999997.00000", "1") == (0, 0, False)
    assert book_level("0", "1") == (0, 0, False)
    assert book_level("10", "nope") == (10_000_000_000, 0, False)
    assert book_level("10", "-1") == (10_000_000_000, 0, False)


def test_parse_errors_count_everything_and_log_each_reason_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = ParseErrors("binance", logging.getLogger("test.venues"), log_interval_s=3600)
    with caplog.at_level(logging.WARNING, logger="test.venues"):
        for _ in range(5):
            errors.add(Reason.MALFORMED, "BTCUSDT", "cut short", b"{" * 500)
        errors.add(Reason.GAP, "BTCUSDT", "ids 3..4")
    assert errors.counts["malformed"] == 5 and errors.counts["gap"] == 1 and errors.total == 6
    assert len(caplog.records) == 2


def test_action_queue_keeps_one_pending_request_per_symbol_and_kind() -> None:
    queue = ActionQueue()
    fetch = FeedAction(ActionKind.FETCH_BOOK_SNAPSHOT, "binance", "BTCUSDT", "gap")
    backfill = FeedAction(ActionKind.BACKFILL_TRADES, "binance", "BTCUSDT", "gap", 1, 2)
    for action in (fetch, fetch, backfill, backfill):
        queue.add(action)
    assert queue.take() == [fetch, backfill, backfill]
    assert queue.take() == []
