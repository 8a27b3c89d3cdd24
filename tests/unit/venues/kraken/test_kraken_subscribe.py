"""Kraken subscription frames (v2 and v1) and symbol names."""

from __future__ import annotations

import json

import pytest

from ticklane.core.errors import BadDataError, ConfigError
from ticklane.venues.kraken.subscribe import (
    Channel,
    ping_message,
    ping_message_v1,
    subscribe_message,
    subscribe_message_v1,
    unsubscribe_message,
)
from ticklane.venues.kraken.symbols import normalize, to_rest, to_v1


def test_v2_book_subscription_names_depth_and_our_symbols() -> None:
    frame = json.loads(subscribe_message(Channel.BOOK, ["XBT/USD", "eth-usd"], 7, depth=25))
    assert frame == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 25},
        "req_id": 7,
    }
    trade = json.loads(subscribe_message("trade", ["BTC/USD"], 8, snapshot=False))
    assert trade["params"] == {"channel": "trade", "symbol": ["BTC/USD"], "snapshot": False}
    assert json.loads(unsubscribe_message("book", ["BTC/USD"], 9, depth=25))["method"] == (
        "unsubscribe"
    )
    assert json.loads(ping_message(101)) == {"method": "ping", "req_id": 101}


@pytest.mark.parametrize("depth", [10, 25, 100, 500, 1000])
def test_every_documented_book_depth_is_accepted(depth: int) -> None:
    assert (
        json.loads(subscribe_message("book", ["BTC/USD"], 1, depth=depth))["params"]["depth"]
        == depth
    )


def test_wrong_depth_channel_or_trigger_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        subscribe_message("book", ["BTC/USD"], 1, depth=20)
    with pytest.raises(ConfigError):
        subscribe_message("trade", ["BTC/USD"], 1, depth=10)
    with pytest.raises(ConfigError):
        subscribe_message("level9", ["BTC/USD"], 1)
    with pytest.raises(ConfigError):
        subscribe_message("ticker", ["BTC/USD"], 1, event_trigger="sometimes")


def test_v1_frames_use_v1_pair_names() -> None:
    frame = json.loads(subscribe_message_v1("book", ["BTC/USD", "DOGE/USD"], depth=10, reqid=42))
    assert frame == {
        "event": "subscribe",
        "pair": ["XBT/USD", "XDG/USD"],
        "subscription": {"name": "book", "depth": 10},
        "reqid": 42,
    }
    assert json.loads(ping_message_v1(3)) == {"event": "ping", "reqid": 3}


def test_symbols_accept_v1_and_v2_spellings() -> None:
    assert normalize("XBT/USD") == normalize("BTC/USD") == normalize("btc-usd") == "BTC/USD"
    assert normalize("XDG/XBT") == "DOGE/BTC"
    assert normalize("ETH2.S/ETH") == "ETH2.S/ETH"
    assert to_v1("BTC/USD") == "XBT/USD" and to_rest("BTC/USD") == "XBTUSD"
    for bad in ("BTCUSD", "BTC/", "/USD", "A/B/C"):
        with pytest.raises(BadDataError):
            normalize(bad)
