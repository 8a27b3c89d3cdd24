"""Kraken Futures subscription frames and product ids."""

from __future__ import annotations

import json

import pytest

from ticklane.core.errors import ConfigError
from ticklane.venues.kraken_futures.subscribe import Feed, subscribe_message, unsubscribe_message
from ticklane.venues.kraken_futures.symbols import normalize


def test_subscribe_frames_name_the_feed_and_upper_case_products() -> None:
    assert json.loads(subscribe_message(Feed.BOOK, ["pi_xbtusd", "PF_ETHUSD"])) == {
        "event": "subscribe",
        "feed": "book",
        "product_ids": ["PI_XBTUSD", "PF_ETHUSD"],
    }
    assert json.loads(unsubscribe_message("trade", ["PI_XBTUSD"]))["event"] == "unsubscribe"
    assert json.loads(subscribe_message("heartbeat", [])) == {
        "event": "subscribe",
        "feed": "heartbeat",
    }


def test_unknown_feed_or_no_products_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        subscribe_message("candles", ["PI_XBTUSD"])
    with pytest.raises(ConfigError):
        subscribe_message("book", [])


def test_product_ids_normalize_to_upper_case() -> None:
    assert normalize("fi_xbtusd_210924") == "FI_XBTUSD_210924"
