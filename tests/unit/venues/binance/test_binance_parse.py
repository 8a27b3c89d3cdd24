"""Binance frames -> records, on the recorded sessions and on hand-broken frames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ticklane.core.identifiers import Side
from ticklane.core.records import QuoteRecord, TradeRecord
from ticklane.venues.binance import BinanceParser
from ticklane.venues.common import ActionKind

from venue_recordings import read_recv_ns, received

TS = 1_680_652_800_000_000_000
TRADE = (
    b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1680652800000,"s":"BTCUSDT",'
    b'"t":%d,"p":"%s","q":"0.00056000","b":1,"a":2,"T":1680652799999,"m":%s,"M":true}}'
)


def trade(trade_id: int, price: str = "28165.47000000", maker: str = "true") -> bytes:
    return TRADE % (trade_id, price.encode(), maker.encode())


def kinds(records: list[object]) -> Counter[str]:
    return Counter(type(record).__name__ for record in records)


def test_2023_btcusdt_session_gives_every_trade_and_quote_without_errors(
    shared_data: Path,
) -> None:
    parser = BinanceParser()
    records = []
    for ts_recv, frame in read_recv_ns(shared_data / "binance" / "btcusdt_20230405.dat.gz"):
        records += parser.parse(frame, ts_recv)
    # Golden counts (data README): 3,144 trades; 8,015 bookTicker frames. The depth diffs
    # wait for a REST snapshot, which this capture does not hold: no book records.
    assert kinds(records) == {"TradeRecord": 3144, "QuoteRecord": 8015}
    assert parser.errors.total == 0
    first = records[0]
    assert first == TradeRecord(
        exchange="binance",
        symbol="BTCUSDT",
        ts_event=1680652799999 * 10**6,
        ts_recv=1680652800004107 * 1000,
        trade_id=3071245454,
        price=28165_470_000_000,
        quantity=56_000,
        side=Side.SELL,  # m = true: the buyer was the maker, the seller took
    )
    trades = [r for r in records if isinstance(r, TradeRecord)]
    assert [t.trade_id for t in trades] == list(range(3071245454, 3071245454 + 3144))
    assert Counter(t.side for t in trades).keys() == {Side.BUY, Side.SELL}
    actions = parser.take_actions()
    assert [(a.kind, a.symbol) for a in actions] == [(ActionKind.FETCH_BOOK_SNAPSHOT, "BTCUSDT")]


def test_book_ticker_becomes_a_quote_with_the_update_id_as_sequence() -> None:
    frame = (
        b'{"stream":"btcusdt@bookTicker","data":{"u":36090299876,"s":"BTCUSDT",'
        b'"b":"28165.47000000","B":"7.98680000","a":"28165.48000000","A":"3.26888000"}}'
    )
    assert BinanceParser().parse(frame, TS) == [
        QuoteRecord("binance", "BTCUSDT", TS, TS, 36090299876, 28165_470_000_000,
                    798_680_000, 28165_480_000_000, 326_888_000)
    ]  # fmt: skip


def test_buyer_taking_liquidity_is_a_buy() -> None:
    [record] = BinanceParser().parse(trade(7, maker="false"), TS)
    assert isinstance(record, TradeRecord)
    assert record.side == Side.BUY


def test_raw_stream_payloads_parse_like_combined_frames() -> None:
    raw_trade = trade(9).split(b'"data":', 1)[1][:-1]
    raw_quote = b'{"u":5,"s":"BNBUSDT","b":"25.35","B":"31.21","a":"25.36","A":"40.66"}'
    parser = BinanceParser()
    [as_trade] = parser.parse(raw_trade, TS)
    [as_quote] = parser.parse(raw_quote, TS)
    assert isinstance(as_trade, TradeRecord) and as_trade.trade_id == 9
    assert isinstance(as_quote, QuoteRecord) and as_quote.symbol == "BNBUSDT"
    assert parser.errors.total == 0


def test_frames_as_text_parse_like_bytes() -> None:
    assert BinanceParser().parse(trade(3).decode(), TS) == BinanceParser().parse(trade(3), TS)


def test_2021_agg_trades_are_published_and_klines_ignored(shared_data: Path) -> None:
    parser = BinanceParser()
    records = []
    for ts_recv, frame in received(
        shared_data / "binance" / "cryptofeed_2021-04-04_BINANCE-ee25be.0"
    ):
        records += parser.parse(frame, ts_recv)
    trades = [r for r in records if isinstance(r, TradeRecord)]
    assert Counter(t.symbol for t in trades) == {"BTCUSDT": 1227, "DOTUSDT": 177, "ETHUSDT": 506}
    assert parser.errors.total == 0


def test_bad_frames_are_counted_and_the_feed_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    parser = BinanceParser()
    bad = [
        b'{"stream":"btcusdt@trade","data":{"e":"trade"',  # cut short
        b"not json at all",
        b'{"stream":"btcusdt@unknownThing","data":{}}',  # unknown stream
        trade(10, price="abc"),  # non-numeric price
        trade(11, price="-1.5"),  # negative price
        b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}',  # fields missing
        b'{"hello":"world"}',  # not a Binance frame
    ]
    for frame in bad:
        assert parser.parse(frame, TS) == []
    [good] = parser.parse(trade(12), TS)
    assert isinstance(good, TradeRecord) and good.trade_id == 12
    counts = parser.errors.counts
    assert counts["malformed"] == 3
    assert counts["unknown_type"] == 2
    assert counts["bad_value"] == 2
    assert parser.errors.total == 7


def test_repeated_and_older_trade_ids_are_out_of_order_and_dropped() -> None:
    parser = BinanceParser()
    assert len(parser.parse(trade(100), TS)) == 1
    assert parser.parse(trade(100), TS) == []
    assert parser.parse(trade(99), TS) == []
    assert len(parser.parse(trade(101), TS)) == 1
    assert parser.errors.counts["out_of_order"] == 2
    assert parser.take_actions() == []


def test_a_jump_in_trade_ids_is_published_and_asks_for_a_backfill() -> None:
    parser = BinanceParser()
    parser.parse(trade(100), TS)
    assert len(parser.parse(trade(105), TS)) == 1
    [action] = parser.take_actions()
    assert (action.kind, action.symbol, action.first_missing, action.last_missing) == (
        ActionKind.BACKFILL_TRADES,
        "BTCUSDT",
        101,
        104,
    )
    assert parser.errors.counts["gap"] == 1
    assert action.after_ts == action.before_ts == 1680652799999 * 10**6  # one time in trade()


def test_control_frames_shutdown_and_errors() -> None:
    parser = BinanceParser()
    assert parser.parse(b'{"result":null,"id":1}', TS) == []
    assert parser.errors.total == 0
    assert parser.parse(b'{"code":2,"msg":"Invalid request","id":3}', TS) == []
    assert parser.errors.counts["venue_error"] == 1
    parser.parse(b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}', TS)
    assert [a.kind for a in parser.take_actions()] == [ActionKind.RECONNECT]


def test_microsecond_streams_scale_event_times_by_1000() -> None:
    frame = trade(1).replace(b'"T":1680652799999', b'"T":1680652799999123')
    [record] = BinanceParser(time_unit_ns=1_000).parse(frame, TS)
    assert isinstance(record, TradeRecord)
    assert record.ts_event == 1680652799999123 * 1_000
