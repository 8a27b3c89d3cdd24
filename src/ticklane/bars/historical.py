"""The historical driver: stored ticks of a time range through a ``BarAggregator``."""

from __future__ import annotations

from collections.abc import Iterable

from ticklane.bars.aggregator import BarAggregator
from ticklane.core.columnar import TradeArray, TradeColumns
from ticklane.core.errors import BadDataError


class HistoricalDriver:
    """Feeds the trades of ``[start_ns, end_ns)`` to an aggregator, then lets time reach the end.

    Options:

    - ``aggregator``: the ``BarAggregator`` to feed (the same class live trading uses).
    - ``start_ns`` / ``end_ns``: the range, in UTC ns; ``end_ns`` is exclusive.

    Time moves with the ticks (a gap closes the bars it spans, synthetic ones included, when
    the next tick arrives), and after the last chunk to ``end_ns``: the last bar is closed only
    if ``end_ns`` reaches its close time, exactly as a live session whose clock stops at
    ``end_ns`` would leave it. Ticks outside the range are dropped.
    """

    __slots__ = ("_aggregator", "_end_ns", "_start_ns")

    def __init__(self, aggregator: BarAggregator, start_ns: int, end_ns: int) -> None:
        if end_ns <= start_ns:
            raise BadDataError(
                f"range: end {end_ns} is not after start {start_ns}", field="end_ns", value=end_ns
            )
        self._aggregator = aggregator
        self._start_ns = start_ns
        self._end_ns = end_ns

    def run(self, chunks: Iterable[TradeColumns | TradeArray]) -> None:
        """Feed ascending chunks of trades (``TradeColumns`` or ``TRADE_DTYPE`` arrays)."""
        aggregator = self._aggregator
        instrument = aggregator.bar.instrument
        for chunk in chunks:
            if isinstance(chunk, TradeColumns):
                if chunk.instrument != instrument:
                    raise BadDataError(
                        f"trades of {chunk.instrument} given to the {instrument} aggregator",
                        field="instrument",
                        value=str(chunk.instrument),
                    )
                chunk = chunk.data
            aggregator.on_trades(self._in_range(chunk))
        aggregator.advance_to(self._end_ns)

    def _in_range(self, data: TradeArray) -> TradeArray:
        if len(data) == 0:
            return data
        ts = data["ts_event"]
        # Chunks are ascending, so the ends tell whether any tick is outside the range.
        if ts[0] >= self._start_ns and ts[-1] < self._end_ns:
            return data
        inside: TradeArray = data[(ts >= self._start_ns) & (ts < self._end_ns)]
        return inside


def run_historical(
    aggregator: BarAggregator,
    chunks: Iterable[TradeColumns | TradeArray],
    start_ns: int,
    end_ns: int,
) -> None:
    """``HistoricalDriver(aggregator, start_ns, end_ns).run(chunks)``."""
    HistoricalDriver(aggregator, start_ns, end_ns).run(chunks)
