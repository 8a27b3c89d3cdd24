"""Kraken v1 and v2 frames -> records, on recorded sessions, examples and broken frames."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import msgspec

from ticklane.core.identifiers import Side
from ticklane.core.records import QuoteRecord, TradeRecord
from ticklane.venues.common import ActionKind
from ticklane.venues.kraken import KrakenParser
from ticklane.venues.numbers import derived_trade_id

from venue_recordings import received

TS = 1_700_000_000_000_000_000


def replay(parser: KrakenParser, path: Path) -> list[object]:
    records: list[object] = []
    for ts_recv, frame in received(path):
        records += parser.parse(frame, ts_recv)
    return records


def v2_trade(trade_id: int, *, kind: str = "update", price: object = 105944.2) -> bytes:
    return msgspec.json.encode(
        {"channel": "trade", "type": kind, "data": [{"symbol": "BTC/USD", "side": "sell",
         "price": price, "qty": 0.5, "ord_type": "market", "trade_id": trade_id,
         "timestamp": "2023-10-06T17:35:55.440295Z"}]}
    )  # fmt: skip


def test_v1_trade_sessions_give_every_trade_with_derived_ids(shared_data: Path) -> None:
    parser = KrakenParser()
    records = replay(parser, shared_data / "kraken" / "KRAKEN.ws.48.0")
    records += replay(parser, shared_data / "kraken" / "2021-04-05_7136ce8d_KRAKEN-82ac16.0")
    assert len(records) == 10 + 28 and parser.errors.total == 0
    first = records[0]
    ts = 1618678142_557535000
    assert first == TradeRecord(
        "kraken", "XMR/USD", ts, 1618678142_592855000,
        derived_trade_id(ts, 354_110_000_000, 89_594_024, 0), 354_110_000_000, 89_594_024,
        Side.SELL,
    )  # fmt: skip
    trades = [r for r in records if isinstance(r, TradeRecord)]
    assert "BTC/USD" in {t.symbol for t in trades}  # XBT/USD on the wire
    assert len({t.trade_id for t in trades}) == len(trades)


def test_identical_trades_in_one_message_get_distinct_stable_ids() -> None:
    row = ["58721.20000", "0.1", "1617666461.465618", "b", "m", ""]
    frame = json.dumps([321, [row, row], "trade", "XBT/USD"])
    first = KrakenParser().parse(frame, TS)
    again = KrakenParser().parse(frame, TS)
    assert [t.trade_id for t in first] == [t.trade_id for t in again]  # type: ignore[union-attr]
    assert first[0].trade_id != first[1].trade_id  # type: ignore[union-attr]
    assert first[0].side == Side.BUY  # type: ignore[union-attr]


def test_v1_tickers_become_quotes(shared_data: Path) -> None:
    parser = KrakenParser()
    records = replay(parser, shared_data / "kraken" / "KRAKEN.ws.49.0")
    records += replay(parser, shared_data / "kraken" / "2021-04-05_7136ce8d_KRAKEN-4b7396.0")
    assert Counter(type(r).__name__ for r in records) == {"QuoteRecord": 18 + 22}
    assert parser.errors.total == 0
    algo = next(r for r in records if isinstance(r, QuoteRecord) and r.symbol == "ALGO/BTC")
    # [2500,{"a":["0.000023630",7289,"7289.86759215"],"b":["0.000023610",1173,"1173.00000000"]
    assert (algo.bid_price, algo.bid_size, algo.ask_price, algo.ask_size) == (
        23_610,
        117_300_000_000,
        23_630,
        728_986_759_215,
    )
    assert algo.ts_event == algo.ts_recv and algo.sequence == 0


def test_v1_spread_becomes_a_quote_at_its_time() -> None:
    frame = b'[0,["5698.40000","5700.00000","1542057299.545897","1.01234567","0.98765432"],"spread","XBT/USD"]'  # noqa: E501
    [quote] = KrakenParser().parse(frame, TS)
    assert isinstance(quote, QuoteRecord)
    assert (quote.symbol, quote.ts_event, quote.bid_size) == (
        "BTC/USD",
        1542057299_545897000,
        101_234_567,
    )


def test_v2_trade_and_ticker_examples(shared_data: Path) -> None:
    examples = shared_data / "kraken" / "examples"
    parser = KrakenParser()
    trades = parser.parse((examples / "ws_trade_update.json").read_bytes(), TS)
    [quote] = parser.parse((examples / "ws_ticker_snapshot.json").read_bytes(), TS)
    assert [(t.trade_id, t.side, t.price, t.quantity) for t in trades] == [  # type: ignore[union-attr]
        (10218208, Side.BUY, 105944_200_000_000, 27_625),
        (10218209, Side.SELL, 105910_500_000_000, 12_460),
    ]
    assert trades[0].ts_event == 1696613755_440295000  # type: ignore[union-attr]
    assert isinstance(quote, QuoteRecord)
    assert (quote.bid_price, quote.bid_size, quote.ask_price) == (
        105944_200_000_000,
        250_000_000,
        105944_300_000_000,
    )
    assert quote.ts_event == 1671960659_123456000
    assert parser.errors.total == 0


def test_v2_numbers_are_exact_never_floats() -> None:
    [trade] = KrakenParser().parse(v2_trade(1, price=msgspec.Raw(b"0.123456789")), TS)
    assert trade.price == 123_456_789  # type: ignore[union-attr]
    [trade] = KrakenParser().parse(v2_trade(1, price="5.1e-05"), TS)  # strings are accepted too
    assert trade.price == 51_000  # type: ignore[union-attr]


def test_v2_trade_id_gap_asks_for_a_backfill_from_the_last_trade_time() -> None:
    parser = KrakenParser()
    parser.parse(v2_trade(100), TS)
    assert len(parser.parse(v2_trade(104), TS)) == 1
    [action] = parser.take_actions()
    assert (action.kind, action.first_missing, action.last_missing) == (
        ActionKind.BACKFILL_TRADES,
        101,
        103,
    )
    assert action.after_ts == action.before_ts == 1696613755_440295000  # same time in v2_trade
    assert parser.parse(v2_trade(104), TS) == []
    assert (parser.errors.counts["gap"], parser.errors.counts["out_of_order"]) == (1, 1)


def test_v2_snapshot_after_a_resubscribe_publishes_only_new_trades() -> None:
    parser = KrakenParser()
    parser.parse(v2_trade(100), TS)
    assert parser.parse(v2_trade(99, kind="snapshot"), TS) == []
    assert len(parser.parse(v2_trade(101, kind="snapshot"), TS)) == 1
    assert parser.errors.total == 0


def test_bad_frames_are_counted_and_the_feed_goes_on() -> None:
    parser = KrakenParser()
    bad = [
        b"[1,[[",  # cut short
        b'[1,"x"]',  # too short for a v1 frame
        b'[1,{"a":1},"candles-5","XBT/USD"]',  # unknown v1 channel
        b'{"channel":"fancy","type":"update","data":[]}',  # unknown v2 channel
        b'{"event":"subscriptionStatus","status":"error","errorMessage":"Currency pair not supported","pair":"XX/YY"}',  # noqa: E501
        b'{"method":"subscribe","success":false,"error":"Already subscribed"}',
        b'[0,[["abc","0.1","1617666461.465618","b","m",""]],"trade","XBT/USD"]',  # price
        b'[0,[["1.0","0.1","1617666461.465618","x","m",""]],"trade","XBT/USD"]',  # side
        v2_trade(1, price="NaN"),
        b'{"nothing":"known"}',
    ]
    for frame in bad:
        assert parser.parse(frame, TS) == []
    assert parser.parse(b'{"event":"heartbeat"}', TS) == []
    assert parser.parse(b'{"channel":"heartbeat"}', TS) == []
    assert len(parser.parse(v2_trade(2), TS)) == 1
    counts = {k: v for k, v in parser.errors.counts.items() if v}
    assert counts == {"malformed": 2, "unknown_type": 3, "venue_error": 2, "bad_value": 3}


def test_v2_subscribe_ack_sets_the_book_depth_of_its_symbol() -> None:
    parser = KrakenParser(book_depth=10)
    ack = b'{"method":"subscribe","result":{"channel":"book","depth":25,"snapshot":true,"symbol":"BTC/USD"},"success":true}'  # noqa: E501
    parser.parse(ack, TS)
    snapshot = b'{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":1.0,"qty":1.0}],"asks":[]}]}'  # noqa: E501
    parser.parse(snapshot, TS)
    assert parser.books["BTC/USD"].depth == 25


def test_a_v1_book_channel_of_an_undocumented_depth_is_malformed_not_fatal() -> None:
    parser = KrakenParser()
    assert parser.parse(b'[1,{"as":[],"bs":[]},"book-7","XBT/USD"]', TS) == []
    assert parser.parse(b'[1,{"as":[],"bs":[]},"book-x","XBT/USD"]', TS) == []
    assert parser.errors.counts["malformed"] == 2
