"""The registry: what the web UI lists, and making strategies by name or by file path."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from ticklane.core.errors import BadDataError
from ticklane.strategy.base import SIZE_PARAMETERS
from ticklane.strategy.registry import (
    BUILTIN_STRATEGIES,
    PARAMETER_SCHEMA_KEYS,
    StrategyInfo,
    available_strategies,
    create_strategy,
)
from ticklane.strategy.sma import SmaCrossover

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "strategies" / "breakout.py"


def test_listing_holds_every_builtin_and_encodes_to_json() -> None:
    listing = available_strategies()
    assert [info.name for info in listing] == ["sma", "rsi", "macd", "bollinger"]
    encoded = msgspec.json.encode(listing)
    assert msgspec.json.decode(encoded, type=list[StrategyInfo]) == listing
    for info in msgspec.json.decode(encoded):
        cls = BUILTIN_STRATEGIES[info["name"]]
        assert info["description"] == cls.description
        assert [p["name"] for p in info["parameters"]] == [p.name for p in cls.parameters]
        assert all(tuple(p) == PARAMETER_SCHEMA_KEYS for p in info["parameters"])


def test_listing_gives_each_parameter_schema_with_json_defaults() -> None:
    sma = msgspec.json.decode(msgspec.json.encode(available_strategies()))[0]
    by_name = {p["name"]: p for p in sma["parameters"]}
    assert by_name["short_period"] == {
        "name": "short_period",
        "type": "int",
        "default": 10,
        "minimum": 1.0,
        "minimum_exclusive": False,
        "maximum": None,
        "choices": None,
        "description": SmaCrossover.parameters[0].description,
    }
    assert by_name["bar_type"]["default"] == "1m"
    assert by_name["equity_fraction"]["type"] == "decimal"
    assert by_name["equity_fraction"]["default"] == "1"  # decimals go out as exact strings
    assert (by_name["equity_fraction"]["minimum"], by_name["equity_fraction"]["maximum"]) == (0, 1)
    assert by_name["equity_fraction"]["minimum_exclusive"] is True  # a fraction of 0 buys nothing
    assert len(sma["parameters"]) == 3 + len(SIZE_PARAMETERS)


@pytest.mark.parametrize(
    ("param", "value", "said"),
    [
        ("quantity", "0", "quantity: '0' is out of range (must be > 0)"),
        ("equity_fraction", "0", "must be above 0 and at most 1"),
        ("equity_fraction", "1.5", "must be above 0 and at most 1"),
    ],
)
def test_an_order_size_of_zero_or_beyond_the_equity_is_refused_before_any_run(
    param: str, value: str, said: str
) -> None:
    with pytest.raises(BadDataError, match=re.escape(said)):
        create_strategy("sma", {param: value})
    assert create_strategy("sma", {param: "0.5"}).params[param] == Decimal("0.5")


def test_names_are_matched_without_regard_to_case_or_spaces() -> None:
    assert isinstance(create_strategy(" SMA ", {}), SmaCrossover)


def test_an_unknown_strategy_name_lists_the_available_ones() -> None:
    with pytest.raises(BadDataError, match=r"unknown strategy 'ema' \(available: bollinger, macd"):
        create_strategy("ema", {})


def test_a_py_path_loads_the_file_with_its_parameters() -> None:
    strategy = create_strategy(str(EXAMPLE), {"lookback": 5, "quantity": "2"})
    assert strategy.name == "breakout"
    assert strategy.params["lookback"] == 5
    with pytest.raises(BadDataError, match="lookback: 0 is out of range"):
        create_strategy(str(EXAMPLE), {"lookback": 0})


def test_a_user_strategy_failing_at_setup_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fails.py"
    path.write_text(
        "from ticklane.strategy.base import Strategy\n"
        "from ticklane.strategy.signal import HOLD\n"
        "class Fails(Strategy):\n"
        "    name = 'fails'\n"
        "    description = 'fails in on_initialize'\n"
        "    def on_initialize(self):\n"
        "        raise KeyError('lookback')\n"
        "    def on_bar_data(self, bar_data):\n"
        "        return HOLD\n"
    )
    with pytest.raises(BadDataError, match=rf"{path}: setting up Fails failed: KeyError"):
        create_strategy(str(path), {})
