"""The built-in strategies by name, their parameter schemas, and making a strategy to run.

``available_strategies()`` is what the web UI lists; ``create_strategy`` takes either a
built-in's name or the path of a user strategy file (ending in ``.py``); ``strategy_hash``
(from ``loader``) gives the hash to record with a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import msgspec

from ticklane.core.errors import BadDataError, TicklaneError
from ticklane.strategy.base import Parameter, Strategy
from ticklane.strategy.bollinger import BollingerReversion
from ticklane.strategy.loader import StrategyLoadError, load_strategy_file, strategy_hash
from ticklane.strategy.macd import MacdCrossover
from ticklane.strategy.rsi import RsiStrategy
from ticklane.strategy.sma import SmaCrossover

__all__ = [
    "BUILTIN_STRATEGIES",
    "PARAMETER_SCHEMA_KEYS",
    "StrategyInfo",
    "available_strategies",
    "create_strategy",
    "strategy_hash",
    "strategy_info",
]

BUILTIN_STRATEGIES: Final[Mapping[str, type[Strategy]]] = MappingProxyType(
    {cls.name: cls for cls in (SmaCrossover, RsiStrategy, MacdCrossover, BollingerReversion)}
)


PARAMETER_SCHEMA_KEYS: Final = (
    "name",
    "type",
    "default",
    "minimum",
    "minimum_exclusive",
    "maximum",
    "choices",
    "description",
)


class StrategyInfo(msgspec.Struct, frozen=True):
    """A strategy's name, description and parameter schemas.

    Each schema is a JSON-able dict with the keys ``PARAMETER_SCHEMA_KEYS``: ``type`` is
    ``int``, ``float``, ``decimal``, ``str``, ``bool`` or ``bar_type``; ``minimum``,
    ``maximum`` and ``choices`` are None when unset, and ``minimum_exclusive`` says whether a
    value equal to ``minimum`` is refused; a ``decimal`` default is a string (exact)
    and a ``bar_type`` one is text like ``"1m"``.
    """

    name: str
    description: str
    parameters: list[dict[str, Any]]


def available_strategies() -> list[StrategyInfo]:
    """Every built-in strategy, by name."""
    return [strategy_info(cls) for cls in BUILTIN_STRATEGIES.values()]


def strategy_info(cls: type[Strategy]) -> StrategyInfo:
    """The schema of any strategy class (a built-in or one loaded from a file)."""
    return StrategyInfo(cls.name, cls.description, [_parameter_schema(p) for p in cls.parameters])


def create_strategy(name_or_path: str, params: Mapping[str, object]) -> Strategy:
    """A built-in (by name) or the strategy in a ``.py`` file, initialized with ``params``.

    Raises ``BadDataError`` for an unknown name or a bad parameter, ``StrategyLoadError`` for
    a file that cannot be loaded.
    """
    text = name_or_path.strip()
    if text.lower().endswith(".py"):
        return _create_user(text, load_strategy_file(text), params)
    cls = BUILTIN_STRATEGIES.get(text.lower())
    if cls is None:
        names = ", ".join(sorted(BUILTIN_STRATEGIES))
        raise BadDataError(
            f"unknown strategy {name_or_path!r} (available: {names}; "
            "or the path of a .py strategy file)",
            field="strategy",
            value=name_or_path,
        )
    strategy = cls()
    strategy.initialize(params)
    return strategy


def _create_user(path: str, cls: type[Strategy], params: Mapping[str, object]) -> Strategy:
    # User code may fail in any way; ours raises TicklaneErrors that already say what is wrong.
    try:
        strategy = cls()
        strategy.initialize(params)
        return strategy
    except TicklaneError:
        raise
    except Exception as exc:
        raise StrategyLoadError(
            f"strategy file {path}: setting up {cls.__name__} failed: {type(exc).__name__}: {exc}",
            field="path",
            value=path,
        ) from exc


def _parameter_schema(parameter: Parameter) -> dict[str, Any]:
    default = parameter.default
    # A Decimal default goes out as a string (exact), anything else non-JSON as its text.
    if default is not None and not isinstance(default, int | float | str | bool):
        default = str(default)
    return {
        "name": parameter.name,
        "type": parameter.kind,
        "default": default,
        "minimum": parameter.minimum,
        "minimum_exclusive": parameter.minimum_exclusive,
        "maximum": parameter.maximum,
        "choices": list(parameter.choices) if parameter.choices is not None else None,
        "description": parameter.description,
    }
