"""Binance stream names, URLs, subscribe frames and symbol names."""

from __future__ import annotations

import json

import pytest

from ticklane.core.errors import BadDataError, ConfigError
from ticklane.venues.binance.subscribe import (
    Channel,
    combined_stream_url,
    split_streams,
    stream_names,
    subscribe_message,
    unsubscribe_message,
)
from ticklane.venues.binance.symbols import normalize, stream_symbol


def test_stream_names_are_lower_case_symbol_at_channel() -> None:
    names = stream_names(
        ["BTCUSDT", "ethusdt"], [Channel.TRADE, Channel.BOOK_TICKER, "depth@100ms"]
    )
    assert names == [
        "btcusdt@trade",
        "btcusdt@bookTicker",
        "btcusdt@depth@100ms",
        "ethusdt@trade",
        "ethusdt@bookTicker",
        "ethusdt@depth@100ms",
    ]


def test_combined_url_is_built_from_the_configured_base() -> None:
    url = combined_stream_url(["btcusdt@trade", "btcusdt@bookTicker"], "ws://127.0.0.1:8765/")
    assert url == "ws://127.0.0.1:8765/stream?streams=btcusdt@trade/btcusdt@bookTicker"
    micro = combined_stream_url(["btcusdt@trade"], microseconds=True)
    assert (
        micro == "wss://stream.binance.com:9443/stream?streams=btcusdt@trade&timeUnit=MICROSECOND"
    )


def test_more_than_1024_streams_are_split_across_connections() -> None:
    streams = [f"s{i}@trade" for i in range(2100)]
    groups = split_streams(streams)
    assert [len(group) for group in groups] == [1024, 1024, 52]
    with pytest.raises(ConfigError):
        combined_stream_url(streams)
    with pytest.raises(ConfigError):
        combined_stream_url([])


def test_subscribe_frames_batch_streams_in_one_message() -> None:
    assert json.loads(subscribe_message(["btcusdt@trade", "btcusdt@depth@100ms"], 1)) == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@trade", "btcusdt@depth@100ms"],
        "id": 1,
    }
    assert json.loads(unsubscribe_message(["btcusdt@trade"], 2))["method"] == "UNSUBSCRIBE"


def test_symbols_normalize_to_upper_case() -> None:
    assert normalize(" btcusdt ") == "BTCUSDT"
    assert normalize("BTC/USDT") == "BTCUSDT"
    assert stream_symbol("BTCUSDT") == "btcusdt"
    with pytest.raises(BadDataError):
        normalize("BTC USDT")
