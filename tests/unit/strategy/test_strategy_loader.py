"""Loading user strategy files, what a broken file reports, and strategy hashes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from ticklane.core.errors import BadDataError
from ticklane.strategy import sma
from ticklane.strategy.loader import (
    StrategyLoadError,
    builtin_strategy_hash,
    load_strategy_file,
    strategy_file_hash,
    strategy_hash,
)
from ticklane.strategy.signal import Action
from ticklane.strategy.sma import SmaCrossover

from strategy_feed import run_closes

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "strategies" / "breakout.py"

HEADER = """\
from ticklane.strategy.base import Strategy
from ticklane.strategy.signal import HOLD
"""


def strategy_class(cls: str, *, name: str = "'x'", description: str = "'an x'") -> str:
    return f"""
class {cls}(Strategy):
    name = {name}
    description = {description}

    def on_bar_data(self, bar_data):
        return HOLD
"""


def write(tmp_path: Path, text: str, filename: str = "user.py") -> Path:
    path = tmp_path / filename
    path.write_text(text)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(StrategyLoadError) as error:
        load_strategy_file(path)
    message = str(error.value)
    assert str(path) in message
    return message


def test_the_example_strategy_loads_and_trades_a_breakout() -> None:
    cls = load_strategy_file(EXAMPLE)
    assert (cls.__name__, cls.name) == ("ChannelBreakout", "breakout")
    strategy = cls()
    strategy.initialize({"lookback": 3})
    # bar 4 closes above the 3 previous highs (10, 11, 10); bar 7 below the lows (12, 13, 11)
    closes = [10, 11, 10, 10, 12, 13, 11, 9, 8]
    assert run_closes(strategy, closes) == [(4, Action.BUY), (7, Action.SELL)]


def test_loading_twice_gives_fresh_classes_that_see_edits(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + strategy_class("A", name="'first'"))
    first = load_strategy_file(path)
    path.write_text(HEADER + strategy_class("A", name="'second'"))
    second = load_strategy_file(path)
    assert (first.name, second.name) == ("first", "second")
    assert first.__module__ != second.__module__


def test_a_missing_file_is_reported() -> None:
    assert "not found" in load_error(Path("/nonexistent/strategy.py"))


def test_a_file_that_is_not_python_is_refused(tmp_path: Path) -> None:
    assert "not a .py file" in load_error(write(tmp_path, "x = 1", "strategy.txt"))


def test_a_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\ndef broken(:\n    pass\n")
    message = load_error(path)
    assert "line 4: SyntaxError" in message


def test_an_exception_at_import_names_the_line_and_the_original_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\nLIMIT = int('ten')\n")
    message = load_error(path)
    assert "line 4" in message
    assert "ValueError: invalid literal for int() with base 10: 'ten'" in message


def test_a_missing_import_is_reported(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "import no_such_module_for_ticklane\n"))
    assert "line 1" in message and "ModuleNotFoundError" in message


def test_a_file_without_a_strategy_subclass_is_refused(tmp_path: Path) -> None:
    assert "defines no Strategy subclass" in load_error(write(tmp_path, HEADER + "X = 1\n"))


def test_an_imported_strategy_does_not_count_as_defined_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "from ticklane.strategy.sma import SmaCrossover\n")
    assert "defines no Strategy subclass" in load_error(path)


def test_two_subclasses_without_strategy_are_refused_naming_both(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + strategy_class("Fast") + strategy_class("Slow"))
    message = load_error(path)
    assert "several Strategy subclasses (Fast, Slow)" in message
    assert "STRATEGY" in message


def test_strategy_picks_one_of_several(tmp_path: Path) -> None:
    text = HEADER + strategy_class("Fast") + strategy_class("Slow") + "STRATEGY = Slow\n"
    assert load_strategy_file(write(tmp_path, text)).__name__ == "Slow"


def test_strategy_naming_something_else_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + strategy_class("Fast") + "STRATEGY = 'Fast'\n")
    assert "STRATEGY = 'Fast' is not a Strategy subclass" in load_error(path)


def test_a_class_without_on_bar_data_is_refused(tmp_path: Path) -> None:
    half = "class Half(Strategy):\n    name = 'h'\n    description = 'd'\n"
    path = write(tmp_path, HEADER + half)
    assert "class Half does not implement on_bar_data" in load_error(path)


@pytest.mark.parametrize("attribute", ["name", "description"])
def test_a_class_without_name_or_description_is_refused(tmp_path: Path, attribute: str) -> None:
    path = write(tmp_path, HEADER + strategy_class("Nameless", **{attribute: "''"}))
    assert f"class Nameless has no {attribute}" in load_error(path)


def test_load_errors_are_bad_data_errors(tmp_path: Path) -> None:
    with pytest.raises(BadDataError):
        load_strategy_file(tmp_path / "missing.py")


def test_file_hash_is_the_sha256_of_the_bytes() -> None:
    assert strategy_file_hash(EXAMPLE) == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


def test_builtin_hash_is_the_sha256_of_its_module_file() -> None:
    expected = hashlib.sha256(Path(sma.__file__).read_bytes()).hexdigest()
    assert builtin_strategy_hash(SmaCrossover) == expected
    assert strategy_hash(SmaCrossover()) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_a_loaded_strategy_keeps_the_hash_of_the_code_that_ran(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + strategy_class("A"))
    loaded_bytes = path.read_bytes()
    strategy = load_strategy_file(path)()
    path.write_text(HEADER + strategy_class("A", name="'edited'"))
    assert strategy_hash(strategy) == hashlib.sha256(loaded_bytes).hexdigest()
    assert strategy_hash(strategy) != strategy_file_hash(path)
