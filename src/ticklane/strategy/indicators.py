"""Incremental technical indicators for strategies: O(1) work per value, float maths.

Every indicator has ``update(value)``, ``value`` (``None`` until it has seen enough values),
``is_ready`` and ``reset()``. Floats are fine here: indicators only decide *whether* to trade;
prices and sizes of orders stay exact ``Decimal`` values elsewhere.

Conventions (the ones most charting tools use):

- ``ExponentialMovingAverage``: ``alpha = 2 / (period + 1)``; the first value is the simple
  mean of the first ``period`` values, so it is ready after ``period`` values.
- ``RSI``: Wilder's smoothing (``avg = (avg * (period - 1) + x) / period``), seeded with the
  simple mean of the first ``period`` gains and losses, so it is ready after ``period + 1``
  prices. A window with neither gains nor losses reads 50.
- ``MACD``: two such EMAs over the same values from the first one (each seeded with its own
  simple mean); the signal line is such an EMA of the MACD line from its first value. Ready
  after ``max(fast, slow) + signal - 1`` values.
- ``BollingerBands``: the *population* standard deviation (divide by ``period``, as TradingView
  and most charting tools do), not the sample one.

The rolling sums are re-computed exactly each time their window wraps round, so rounding error
cannot build up over millions of updates (amortised O(1): ``period`` additions once every
``period`` updates).
"""

from __future__ import annotations

import math
from typing import Final

from ticklane.core.errors import BadDataError

CROSSED_ABOVE: Final = 1
CROSSED_BELOW: Final = -1


def _check_period(name: str, period: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise BadDataError(
            f"{name}: {period!r} must be a whole number >= 1", field=name, value=period
        )
    return period


class SimpleMovingAverage:
    """The mean of the last ``period`` values (a running sum over a ring buffer)."""

    __slots__ = ("_count", "_index", "_sum", "_window", "period")

    def __init__(self, period: int) -> None:
        self.period = _check_period("period", period)
        self._window = [0.0] * period
        self.reset()

    def reset(self) -> None:
        self._window[:] = [0.0] * self.period
        self._index = 0
        self._count = 0
        self._sum = 0.0

    def update(self, value: float) -> float | None:
        """Add ``value``; return the new ``value`` (None until the window is full)."""
        index = self._index
        window = self._window
        total = self._sum + value - window[index]
        window[index] = value
        index += 1
        period = self.period
        if index == period:
            index = 0
            total = math.fsum(window)  # exact re-sum: no drift (see module docstring)
        self._sum = total
        self._index = index
        if self._count < period:
            self._count += 1
            if self._count < period:
                return None
        return total / period

    @property
    def is_ready(self) -> bool:
        return self._count == self.period

    @property
    def value(self) -> float | None:
        return self._sum / self.period if self._count == self.period else None


class ExponentialMovingAverage:
    """EMA with ``alpha = 2 / (period + 1)``, seeded with the mean of the first ``period``."""

    __slots__ = ("_count", "_value", "alpha", "period")

    def __init__(self, period: int) -> None:
        self.period = _check_period("period", period)
        self.alpha = 2.0 / (period + 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._value = 0.0  # while seeding: the sum of the values so far

    def update(self, value: float) -> None:
        if self._count == self.period:
            self._value += self.alpha * (value - self._value)
            return
        self._value += value
        self._count += 1
        if self._count == self.period:
            self._value /= self.period

    @property
    def is_ready(self) -> bool:
        return self._count == self.period

    @property
    def value(self) -> float | None:
        return self._value if self._count == self.period else None


class RSI:
    """Wilder's Relative Strength Index, 0 to 100 (seeding: see the module docstring)."""

    __slots__ = ("_count", "_gain", "_loss", "_previous", "period")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period("period", period)
        self.reset()

    def reset(self) -> None:
        self._previous: float | None = None
        self._count = 0  # price changes seen, up to period
        self._gain = 0.0  # while seeding: sums; then Wilder averages
        self._loss = 0.0

    def update(self, value: float) -> None:
        previous = self._previous
        self._previous = value
        if previous is None:
            return
        change = value - previous
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        period = self.period
        if self._count == period:
            self._gain = (self._gain * (period - 1) + gain) / period
            self._loss = (self._loss * (period - 1) + loss) / period
            return
        self._gain += gain
        self._loss += loss
        self._count += 1
        if self._count == period:
            self._gain /= period
            self._loss /= period

    @property
    def is_ready(self) -> bool:
        return self._count == self.period

    @property
    def value(self) -> float | None:
        if self._count != self.period:
            return None
        total = self._gain + self._loss
        # 100 - 100 / (1 + gain / loss), written so that loss == 0 gives 100, not a division error
        return 100.0 * self._gain / total if total > 0.0 else 50.0


class MACD:
    """MACD line (fast EMA - slow EMA), its signal line (EMA of the MACD line) and histogram."""

    __slots__ = ("_fast", "_line", "_signal", "_slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._fast = ExponentialMovingAverage(_check_period("fast", fast))
        self._slow = ExponentialMovingAverage(_check_period("slow", slow))
        self._signal = ExponentialMovingAverage(_check_period("signal", signal))
        self._line = 0.0

    def reset(self) -> None:
        self._fast.reset()
        self._slow.reset()
        self._signal.reset()
        self._line = 0.0

    def update(self, value: float) -> None:
        self._fast.update(value)
        self._slow.update(value)
        fast = self._fast.value
        slow = self._slow.value
        if fast is not None and slow is not None:
            self._line = fast - slow
            self._signal.update(self._line)

    @property
    def is_ready(self) -> bool:
        return self._signal.is_ready

    @property
    def value(self) -> float | None:
        """The MACD line."""
        return self._line if self._signal.is_ready else None

    @property
    def signal(self) -> float | None:
        return self._signal.value

    @property
    def histogram(self) -> float | None:
        signal = self._signal.value
        return None if signal is None else self._line - signal


class BollingerBands:
    """Middle band (mean of the last ``period`` values) +- ``k`` population std deviations.

    Mean and variance are updated with Welford's sliding-window form, which does not lose
    precision when prices are large and moves small (unlike a sum of squares).
    """

    __slots__ = ("_count", "_index", "_m2", "_mean", "_window", "k", "period")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self.period = _check_period("period", period)
        if not k > 0.0 or not math.isfinite(k):
            raise BadDataError(f"k: {k!r} must be a number > 0", field="k", value=k)
        self.k = float(k)
        self._window = [0.0] * period
        self.reset()

    def reset(self) -> None:
        self._window[:] = [0.0] * self.period
        self._index = 0
        self._count = 0
        self._mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the mean

    def update(self, value: float) -> None:
        index = self._index
        window = self._window
        if self._count < self.period:  # growing window: plain Welford
            self._count += 1
            delta = value - self._mean
            self._mean += delta / self._count
            self._m2 += delta * (value - self._mean)
        else:  # replace the oldest value
            old = window[index]
            old_mean = self._mean
            self._mean = old_mean + (value - old) / self.period
            self._m2 += (value - old) * (value - self._mean + old - old_mean)
        window[index] = value
        index += 1
        if index == self.period:
            index = 0
            self._resync()
        self._index = index

    def _resync(self) -> None:
        mean = math.fsum(self._window) / self.period
        self._mean = mean
        self._m2 = math.fsum((x - mean) * (x - mean) for x in self._window)

    @property
    def is_ready(self) -> bool:
        return self._count == self.period

    @property
    def value(self) -> float | None:
        """The middle band."""
        return self._mean if self._count == self.period else None

    @property
    def middle(self) -> float | None:
        return self.value

    @property
    def std(self) -> float | None:
        """Population standard deviation of the window."""
        if self._count != self.period:
            return None
        return math.sqrt(self._m2 / self.period) if self._m2 > 0.0 else 0.0

    @property
    def upper(self) -> float | None:
        std = self.std
        return None if std is None else self._mean + self.k * std

    @property
    def lower(self) -> float | None:
        std = self.std
        return None if std is None else self._mean - self.k * std


class Crossover:
    """Detects when a difference (e.g. short MA - long MA) changes sign between updates.

    ``update`` returns ``CROSSED_ABOVE`` when the difference turns positive after having been
    negative, ``CROSSED_BELOW`` for the reverse, else 0. A difference of exactly 0 does not
    count as a side: -1, 0, +1 crosses above on the +1; +1, 0, +1 does not cross. The first
    update only establishes the side and never reports a cross.
    """

    __slots__ = ("_side",)

    def __init__(self) -> None:
        self._side = 0

    def reset(self) -> None:
        self._side = 0

    def update(self, difference: float) -> int:
        if difference > 0.0:
            side = CROSSED_ABOVE
        elif difference < 0.0:
            side = CROSSED_BELOW
        else:
            return 0
        previous = self._side
        self._side = side
        return side if previous == -side else 0
