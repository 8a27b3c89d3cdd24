"""Kraken Futures frames -> records: the recorded 2021 session, examples, broken frames."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from ticklane.core.identifiers import Side
from ticklane.core.records import BookFlags, BookRecord, QuoteRecord, TradeRecord
from ticklane.venues.common import ActionKind
from ticklane.venues.kraken_futures import KrakenFuturesParser
from ticklane.venues.numbers import hashed_trade_id

from venue_recordings import received

TS = 1_626_994_930_000_000_000


def frame(**fields: Any) -> bytes:
    return msgspec.json.encode(fields)


def snapshot(seq: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> bytes:
    return frame(
        feed="book_snapshot", product_id="PI_XBTUSD", timestamp=1612269825817, seq=seq,
        tickSize=None, bids=[{"price": p, "qty": q} for p, q in bids],
        asks=[{"price": p, "qty": q} for p, q in asks],
    )  # fmt: skip


def delta(seq: int, price: float = 34892.5, qty: float = 10.0, side: str = "buy") -> bytes:
    return frame(feed="book", product_id="PI_XBTUSD", side=side, seq=seq, price=price, qty=qty,
                 timestamp=1612269953629)  # fmt: skip


def trade(seq: int, uid: str = "u") -> dict[str, Any]:
    return {
        "feed": "trade",
        "product_id": "PI_XBTUSD",
        "uid": f"{uid}{seq}",
        "side": "sell",
        "type": "fill",
        "seq": seq,
        "time": 1612269657781 + seq,
        "qty": 440,
        "price": 34893,
    }


def test_2021_session_keeps_ten_books_in_sequence(shared_data: Path) -> None:
    parser = KrakenFuturesParser()
    records: list[Any] = []
    for ts_recv, message in received(shared_data / "kraken_futures" / "KRAKEN_FUTURES.ws.1.0"):
        records += parser.parse(message, ts_recv)
    kinds = Counter(type(r).__name__ for r in records)
    # Golden counts: 7,014 book deltas (all in sequence, none a gap) + 10 snapshots (10 clear
    # records and their 1,571 non-zero levels); 107 ticker_lite quotes; 3 live trades after the
    # 10 trade snapshots, which only set the sequence baseline.
    assert kinds == {"BookRecord": 7014 + 10 + 1571, "QuoteRecord": 107, "TradeRecord": 3}
    assert parser.errors.total == 0 and parser.take_actions() == []
    assert len(parser.books) == 10
    assert all(s.synced and not s.book.is_crossed() for s in parser.books.values())
    first_trade = next(r for r in records if isinstance(r, TradeRecord))
    assert first_trade == TradeRecord(
        "kraken_futures", "PI_LTCUSD", 1626994929946 * 10**6, 1626994929_929450000,
        hashed_trade_id("e2429e31-8b9d-4195-900e-fd42be2dec89"), 119_440_000_000,
        32_000_000_000, Side.BUY,
    )  # fmt: skip
    quote = next(r for r in records if isinstance(r, QuoteRecord))
    assert (quote.symbol, quote.bid_price, quote.ask_price, quote.bid_size) == (
        "FI_BCHUSD_210730",
        439_300_000_000,
        439_600_000_000,
        0,  # ticker_lite: no sizes
    )


def test_snapshot_then_deltas_with_flags_and_zero_qty_levels_left_out(shared_data: Path) -> None:
    parser = KrakenFuturesParser()
    example = (
        shared_data / "kraken_futures" / "examples" / "ws_futures_book_snapshot_with_zero_qty.json"
    )
    records = parser.parse(example.read_bytes(), TS)
    assert [(r.side, r.price, r.size, r.flags) for r in records] == [  # type: ignore[union-attr]
        (0, 0, 0, BookFlags.CLEAR | BookFlags.SNAPSHOT),
        (1, 34892_500_000_000, 638_500_000_000, BookFlags.SNAPSHOT),
        (1, 34891_500_000_000, 10_000_000_000, BookFlags.SNAPSHOT),
        (2, 34912_000_000_000, 230_000_000_000, BookFlags.SNAPSHOT | BookFlags.LAST),
    ]
    [record] = parser.parse(delta(326072250, qty=0), TS)
    assert isinstance(record, BookRecord) and record.flags == BookFlags.LAST and record.size == 0
    assert parser.books["PI_XBTUSD"].book.bids.best() == (34891_500_000_000, 10_000_000_000)


def test_a_book_seq_gap_clears_the_book_and_asks_to_resubscribe() -> None:
    parser = KrakenFuturesParser()
    parser.parse(snapshot(10, [(100.0, 1.0)], [(101.0, 1.0)]), TS)
    [cleared] = parser.parse(delta(12), TS)
    assert cleared.flags == BookFlags.CLEAR | BookFlags.LAST  # type: ignore[union-attr]
    [action] = parser.take_actions()
    assert (action.kind, action.symbol) == (ActionKind.RESUBSCRIBE_BOOK, "PI_XBTUSD")
    assert parser.parse(delta(13), TS) == []  # no book until the new snapshot
    assert parser.parse(delta(9), TS) == []
    assert {k: v for k, v in parser.errors.counts.items() if v} == {"gap": 1, "unsynced": 2}
    parser.parse(snapshot(20, [(100.0, 1.0)], []), TS)
    assert parser.parse(delta(20), TS) == []  # a repeat: out of order
    assert len(parser.parse(delta(21), TS)) == 1
    assert parser.errors.counts["out_of_order"] == 1


def test_trades_follow_the_snapshot_in_sequence_and_a_later_snapshot_fills_a_gap() -> None:
    parser = KrakenFuturesParser()
    assert parser.parse(frame(**trade(1)), TS) == []  # before the trade_snapshot
    assert parser.errors.counts["unsynced"] == 1
    first = frame(feed="trade_snapshot", product_id="PI_XBTUSD", trades=[trade(5), trade(4)])
    assert parser.parse(first, TS) == []  # history: baseline only
    assert [t.trade_id for t in parser.parse(frame(**trade(6)), TS)] == [hashed_trade_id("u6")]  # type: ignore[union-attr]
    assert parser.parse(frame(**trade(6)), TS) == []
    assert parser.errors.counts["out_of_order"] == 1
    assert len(parser.parse(frame(**trade(9)), TS)) == 1
    [action] = parser.take_actions()
    assert (action.after_ts, action.before_ts) == (1612269657787 * 10**6, 1612269657790 * 10**6)
    assert (action.kind, action.first_missing, action.last_missing) == (
        ActionKind.BACKFILL_TRADES,
        7,
        8,
    )
    # After a reconnect the new snapshot repeats old trades: only newer ones are published.
    later = frame(feed="trade_snapshot", product_id="PI_XBTUSD",
                  trades=[trade(11), trade(10), trade(9), trade(8)])  # fmt: skip
    assert [t.trade_id for t in parser.parse(later, TS)] == [  # type: ignore[union-attr]
        hashed_trade_id("u10"),
        hashed_trade_id("u11"),
    ]


def test_first_trade_snapshot_can_be_published_oldest_first(shared_data: Path) -> None:
    example = shared_data / "kraken_futures" / "examples" / "ws_futures_trade_snapshot.json"
    records = KrakenFuturesParser(publish_first_trade_snapshot=True).parse(example.read_bytes(), TS)
    assert [r.trade_id for r in records] == [  # type: ignore[union-attr]
        hashed_trade_id("45ee9737-1877-4682-bc68-e4ef818ef88a"),
        hashed_trade_id("caa9c653-420b-4c24-a9f1-462a054d86f1"),
    ]


def test_full_ticker_gives_sizes_and_time(shared_data: Path) -> None:
    example = shared_data / "kraken_futures" / "examples" / "ws_futures_ticker.json"
    [quote] = KrakenFuturesParser().parse(example.read_bytes(), TS)
    assert quote == QuoteRecord(
        "kraken_futures", "PI_XBTUSD", 1676393235406 * 10**6, TS, 0,
        21978_500_000_000, 253_600_000_000, 21987_000_000_000, 1_394_800_000_000,
    )  # fmt: skip


def test_bad_frames_are_counted_and_the_feed_goes_on() -> None:
    parser = KrakenFuturesParser()
    parser.parse(snapshot(1, [(100.0, 1.0)], []), TS)
    bad = [
        b'{"feed":"book","product_id"',  # cut short
        b'{"feed":"candles_trade_1m","candle":{}}',  # unknown feed
        b'{"event":"surprise"}',  # unknown event
        b'{"event":"error","message":"Invalid product id"}',
        b'{"event":"subscribed_failed","feed":"book","product_ids":["PI_NOPE"]}',
        b'{"feed":"book","product_id":"PI_XBTUSD","side":"buy","seq":2,"price":"abc","qty":1,"timestamp":1}',
        delta(2, side="middle"),  # a side that is neither buy nor sell
        b'{"feed":"ticker","product_id":"PI_XBTUSD","bid":1e400,"ask":1.0}',  # out of range
    ]
    for message in bad:
        assert parser.parse(message, TS) == []
    assert (
        parser.parse(b'{"event":"subscribed","feed":"book","product_ids":["PI_XBTUSD"]}', TS) == []
    )
    assert parser.parse(b'{"feed":"heartbeat","time":1534262350627}', TS) == []
    assert len(parser.parse(delta(3), TS)) == 1
    counts = {k: v for k, v in parser.errors.counts.items() if v}
    assert counts == {"malformed": 2, "unknown_type": 2, "venue_error": 2, "bad_value": 2}
    assert json.loads(bad[3])["event"] == "error"
