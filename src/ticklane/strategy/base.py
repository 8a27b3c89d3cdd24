"""The strategy interface, and typed, validated strategy parameters.

A strategy declares its parameters as ``Parameter`` objects; ``initialize(params)`` checks the
given values against them (name, type, range) before any work starts and raises
``BadDataError`` naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import msgspec

from ticklane.bars.events import BarData, BarDataMode
from ticklane.core.bars import BarType, Timeframe
from ticklane.core.errors import BadDataError
from ticklane.strategy.signal import Signal

ParamValue = int | float | Decimal | str | bool


class Parameter(msgspec.Struct, frozen=True):
    """One strategy parameter: its type (``int``, ``float``, ``decimal``, ``str``, ``bool``,
    ``bar_type``), default, optional bounds and choices, and what it means. ``minimum`` is
    inclusive unless ``minimum_exclusive`` (a size must be above 0, not 0)."""

    name: str
    kind: str
    default: ParamValue | None
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    minimum_exclusive: bool = False

    def parse(self, value: object) -> Any:
        """The value converted to this parameter's type, or BadDataError naming what is wrong."""
        try:
            parsed = _CONVERTERS[self.kind](value)
        except (ValueError, TypeError, InvalidOperation, BadDataError):
            raise BadDataError(
                f"parameter {self.name}: {value!r} is not a valid {self.kind}",
                field=self.name,
                value=value,
            ) from None
        if self.choices is not None and str(parsed) not in self.choices:
            raise BadDataError(
                f"parameter {self.name}: {value!r} is not one of {', '.join(self.choices)}",
                field=self.name,
                value=value,
            )
        if isinstance(parsed, int | float | Decimal) and not isinstance(parsed, bool):
            low, high = self.minimum, self.maximum
            too_low = low is not None and (
                parsed <= low if self.minimum_exclusive else parsed < low
            )
            if too_low or (high is not None and parsed > high):
                allowed = _range_text(low, high, self.minimum_exclusive)
                raise BadDataError(
                    f"parameter {self.name}: {value!r} is out of range ({allowed})",
                    field=self.name,
                    value=value,
                )
        return parsed


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError(value)


def _to_int(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(value)
    number = Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueError(value)
    return number


def _to_float(value: object) -> float:
    if isinstance(value, bool):
        raise TypeError(value)
    return float(str(value).strip())


_CONVERTERS: dict[str, Any] = {
    "int": _to_int,
    "float": _to_float,
    "decimal": _to_decimal,
    "str": lambda value: str(value),
    "bool": _to_bool,
    "bar_type": lambda value: value if isinstance(value, BarType) else BarType.parse(str(value)),
}


def _range_text(low: float | None, high: float | None, exclusive: bool = False) -> str:
    if low is not None and high is not None:
        if exclusive:
            return f"must be above {low:g} and at most {high:g}"
        return f"allowed {low:g} to {high:g}"
    if low is not None:
        return f"must be {'>' if exclusive else '>='} {low:g}"
    return f"must be <= {high:g}"


# Every built-in strategy sizes its orders with one of these two (see Strategy.order_size).
SIZE_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "quantity",
        "decimal",
        None,
        "Fixed order size in base units.",
        minimum=0,
        minimum_exclusive=True,
    ),
    Parameter(
        "equity_fraction",
        "decimal",
        Decimal("1"),
        "Order size as a fraction of the account's equity (used when quantity is not set).",
        minimum=0,
        maximum=1,
        minimum_exclusive=True,
    ),
)


class Strategy(ABC):
    """A trading strategy: called with ``BarData`` events, answers with a ``Signal``.

    Subclasses set ``name``, ``description`` and ``parameters``, read their validated
    parameters from ``self.params`` in ``on_initialize``, and keep all state that ``reset``
    must clear in attributes set there. Strategies are synchronous and deterministic.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[tuple[Parameter, ...]] = ()

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._account_id: str | None = None
        self.initialize({})

    def initialize(self, params: Mapping[str, object]) -> None:
        """Validate and apply parameters (unknown names and bad values raise BadDataError)."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            given = ", ".join(f"{name}={params[name]!r}" for name in unknown)
            raise BadDataError(
                f"strategy {self.name}: unknown parameter(s) {given} (allowed: {allowed})",
                field=unknown[0],
                value=params[unknown[0]],
            )
        # Defaults go through the same parsing as given values, so each has its declared type.
        values = {
            p.name: None if p.default is None else p.parse(p.default) for p in self.parameters
        }
        for name, raw in params.items():
            values[name] = known[name].parse(raw)
        self.params = values
        self.on_initialize()
        self.reset()

    def on_initialize(self) -> None:  # noqa: B027 - an optional hook
        """Check cross-parameter rules (raise BadDataError) and derive settings from params."""

    @abstractmethod
    def on_bar_data(self, bar_data: BarData) -> Signal:
        """Decide on one event. Return ``HOLD`` (the constant) when there is nothing to do."""

    def bar_data_mode(self) -> BarDataMode:
        return BarDataMode.ON_EACH_TICK

    def preferred_bar_type(self) -> BarType:
        return BarType.time(Timeframe.ONE_MINUTE)

    def reset(self) -> None:  # noqa: B027 - an optional hook
        """Forget all state from earlier events (called by initialize and before each run)."""

    def account_id(self) -> str | None:
        """The account this strategy trades on; None lets the accounts config decide."""
        return self._account_id

    def set_account_id(self, account_id: str | None) -> None:
        self._account_id = account_id

    def order_size(self) -> tuple[Decimal | None, Decimal | None]:
        """``(quantity, equity_fraction)`` from the size parameters, for ``Signal.buy/sell``."""
        quantity = self.params.get("quantity")
        if quantity is not None:
            return quantity, None
        return None, self.params.get("equity_fraction")


BAR_TYPE_PARAMETER = Parameter("bar_type", "bar_type", "1m", "Bars to run on: 1s .. 1w or N-tick.")


class BarCloseStrategy(Strategy):
    """A strategy that decides on bar closes (``ON_CLOSE_BAR``), on the bars of its
    ``bar_type`` parameter, sized by ``quantity`` or ``equity_fraction``: the shape of every
    built-in. Subclasses list ``BAR_TYPE_PARAMETER`` and ``SIZE_PARAMETERS`` in ``parameters``,
    check their own parameters and build indicators in ``setup``, and answer with
    ``self.buy(reason)`` / ``self.sell(reason)`` or ``HOLD``."""

    _bar_type: BarType
    _quantity: Decimal | None
    _fraction: Decimal | None

    def on_initialize(self) -> None:
        self._bar_type = self.params["bar_type"]
        self._quantity, self._fraction = self.order_size()
        self.setup()

    def setup(self) -> None:
        """Check cross-parameter rules (raise BadDataError) and build indicators."""

    def bar_data_mode(self) -> BarDataMode:
        return BarDataMode.ON_CLOSE_BAR

    def preferred_bar_type(self) -> BarType:
        return self._bar_type

    def buy(self, reason: str = "") -> Signal:
        """A buy of the configured size."""
        return Signal.buy(self._quantity, equity_fraction=self._fraction, reason=reason)

    def sell(self, reason: str = "") -> Signal:
        """A sell of the configured size."""
        return Signal.sell(self._quantity, equity_fraction=self._fraction, reason=reason)
