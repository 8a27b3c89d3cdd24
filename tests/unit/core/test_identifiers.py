"""Exchange and symbol names, instruments, and the aggressor side of a trade."""

from __future__ import annotations

import pytest

from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId, Side, check_exchange, check_symbol


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("buy", Side.BUY),
        ("BUY", Side.BUY),
        ("b", Side.BUY),
        ("B", Side.BUY),
        (" Buy ", Side.BUY),
        ("sell", Side.SELL),
        ("s", Side.SELL),
        ("SELL", Side.SELL),
        ("none", Side.NONE),
        ("N", Side.NONE),
        (1, Side.BUY),
        (2, Side.SELL),
        (0, Side.NONE),
        (Side.SELL, Side.SELL),
    ],
)
def test_side_is_read_from_what_venues_send(text: object, side: Side) -> None:
    assert Side.parse(text) is side


@pytest.mark.parametrize("value", ["hold", "", "bid", "buyer", 3, -1, True, 1.0, None])
def test_side_that_is_neither_buy_nor_sell_is_refused_by_name(value: object) -> None:
    with pytest.raises(BadDataError) as refused:
        Side.parse(value, field="taker_side")
    assert (refused.value.field, refused.value.value) == ("taker_side", value)
    assert repr(value) in str(refused.value)
    assert str(refused.value).startswith("taker_side: ")


def test_hold_is_named_in_the_refusal() -> None:
    with pytest.raises(BadDataError, match="'hold' is not a side"):
        Side.parse("hold")


def test_instrument_of_canonicalises_the_exchange_and_keeps_the_symbol() -> None:
    instrument = InstrumentId.of(" Binance ", "BTCUSDT")
    assert instrument == InstrumentId("binance", "BTCUSDT")
    assert str(instrument) == "BTCUSDT.binance"
    assert InstrumentId.of("kraken", "xbt/usd").symbol == "xbt/usd"  # venues are case sensitive


@pytest.mark.parametrize(
    "symbol", ["BTCUSDT", "XBT/USD", "PI_XBTUSD", "BTC-PERP", "ES.FUT", "BTC:USDT", "1INCHUSDT"]
)
def test_symbols_as_venues_spell_them_are_accepted(symbol: str) -> None:
    assert check_symbol(symbol) == symbol
    assert InstrumentId.of("binance", symbol).symbol == symbol


@pytest.mark.parametrize(
    "symbol", ["", "-BTC", "/USD", "BTC USDT", "BTC;DROP TABLE", "A" * 65, "BTC\n", "€URUSD"]
)
def test_symbol_with_characters_no_venue_uses_is_refused(symbol: str) -> None:
    with pytest.raises(BadDataError) as refused:
        InstrumentId.of("binance", symbol)
    assert (refused.value.field, refused.value.value) == ("symbol", symbol)


def test_longest_symbol_and_exchange_names_are_accepted() -> None:
    assert check_symbol("A" * 64) == "A" * 64
    assert check_exchange("a" + "b" * 31) == "a" + "b" * 31


@pytest.mark.parametrize(
    "exchange", ["", "1binance", "_binance", "bin ance", "binance-us", "a" * 33, "bin.ance"]
)
def test_exchange_name_breaking_the_rule_is_refused(exchange: str) -> None:
    with pytest.raises(BadDataError, match="not a valid exchange name") as refused:
        InstrumentId.of(exchange, "BTCUSDT")
    assert (refused.value.field, refused.value.value) == ("exchange", exchange)


def test_exchange_that_is_not_text_is_refused() -> None:
    with pytest.raises(BadDataError):
        check_exchange(None)  # type: ignore[arg-type]
    with pytest.raises(BadDataError):
        check_symbol(42)  # type: ignore[arg-type]


def test_instruments_sort_by_exchange_then_symbol() -> None:
    ids = [InstrumentId("bybit", "BTCUSDT"), InstrumentId("binance", "ETHUSDT")]
    ids.append(InstrumentId("binance", "BTCUSDT"))
    assert [str(i) for i in sorted(ids)] == ["BTCUSDT.binance", "ETHUSDT.binance", "BTCUSDT.bybit"]
