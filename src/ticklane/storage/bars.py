"""Vendor bars: OHLCV bars as a data vendor published them (Databento's ohlcv schemas).

ticklane computes bars from its own ticks; these are for instruments or stretches whose ticks
it does not hold (an ohlcv-1m history costs a fraction of the trades behind it). One
implementation serves both backends through the history tables' ``SqlRunner``: the ``bars``
table has the same columns in SQLite and PostgreSQL, prices and volume as the scaled integers
of ``tick_data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from ticklane.core.bars import Bar, Timeframe
from ticklane.core.columnar import RowError
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import price_to_raw, quantity_to_raw
from ticklane.core.identifiers import InstrumentId
from ticklane.storage.base import EMPTY_RESULT, InsertResult
from ticklane.storage.history import Execute, SqlRunner
from ticklane.storage.rows import bars_from_rows, check_range, checked_instrument

_COLUMNS: Final = (
    "exchange, symbol, timeframe, open_time, open, high, low, close, volume, tick_count, source"
)
# Rows per INSERT statement: 11 parameters each stays under SQLite's 32,766-variable limit.
_ROWS_PER_STATEMENT: Final = 500


class BarSeries(msgspec.Struct, frozen=True):
    """The stored bars of one instrument, timeframe and source: how many, and their span."""

    exchange: str
    symbol: str
    timeframe: str
    source: str
    bars: int
    first_open_ns: int
    last_open_ns: int


class BarBook:
    """The ``bars`` table of one tick store's database."""

    def __init__(self, runner: SqlRunner) -> None:
        self._db = runner

    def insert(self, bars: Sequence[Bar], source: str) -> InsertResult:
        """Store ``bars`` published by ``source``; a bar already stored (same instrument,
        timeframe and open time) is counted as a duplicate and left as it was. A bar that is
        not a well-formed time bar is rejected with the reason, the others are stored, all
        in one transaction."""
        rows: list[tuple[Any, ...]] = []
        rejected: list[RowError] = []
        for position, bar in enumerate(bars):
            try:
                rows.append(_row(bar, source))
            except BadDataError as error:
                rejected.append(
                    RowError(position, error.field or "bar", str(error.value), str(error))
                )
        if not rows:
            return InsertResult(len(bars), 0, 0, tuple(rejected)) if bars else EMPTY_RESULT

        def insert_all(execute: Execute) -> int:
            inserted = 0
            for first in range(0, len(rows), _ROWS_PER_STATEMENT):
                block = rows[first : first + _ROWS_PER_STATEMENT]
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(block))
                params = [value for row in block for value in row]
                # DO NOTHING ... RETURNING returns the rows inserted, not those skipped.
                inserted += len(
                    execute(
                        f"INSERT INTO bars ({_COLUMNS}) VALUES {values} "
                        "ON CONFLICT DO NOTHING RETURNING open_time",
                        params,
                    )
                )
            return inserted

        inserted = self._db.atomic(insert_all)
        return InsertResult(len(bars), inserted, len(rows) - inserted, tuple(rejected))

    def get(
        self, instrument: InstrumentId, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[Bar]:
        """The bars of ``instrument`` and ``timeframe`` opening in ``[start_ns, end_ns)``, in
        time order (whichever source published them)."""
        check_range(start_ns, end_ns)
        instrument = checked_instrument(instrument)
        rows = self._db.read(
            "SELECT open_time, open, high, low, close, volume, tick_count FROM bars "
            "WHERE exchange = ? AND symbol = ? AND timeframe = ? "
            "AND open_time >= ? AND open_time < ? ORDER BY open_time",
            (instrument.exchange, instrument.symbol, timeframe.value, start_ns, end_ns),
        )
        return bars_from_rows(instrument, timeframe, rows)

    def summary(self) -> list[BarSeries]:
        """One line per stored series: instrument, timeframe and source."""
        rows = self._db.read(
            "SELECT exchange, symbol, timeframe, source, count(*), min(open_time), "
            "max(open_time) FROM bars GROUP BY exchange, symbol, timeframe, source "
            "ORDER BY exchange, symbol, timeframe, source",
            (),
        )
        return [
            BarSeries(str(exchange), str(symbol), str(timeframe), str(source), *map(int, counts))
            for exchange, symbol, timeframe, source, *counts in rows
        ]


def _row(bar: Bar, source: str) -> tuple[Any, ...]:
    """The table row of ``bar``; BadDataError naming the field when it cannot be one."""
    timeframe = bar.bar_type.timeframe
    if timeframe is None:
        raise BadDataError(
            f"bar of {bar.exchange}:{bar.symbol}: {bar.bar_type} bars are not stored, only time "
            "bars",
            field="bar_type",
            value=str(bar.bar_type),
        )
    if timeframe.bar_open(bar.open_time) != bar.open_time:
        raise BadDataError(
            f"bar at {bar.open_time}: does not open on a {timeframe.value} boundary (UTC)",
            field="open_time",
            value=bar.open_time,
        )
    if bar.close_time - bar.open_time != timeframe.nanos:
        raise BadDataError(
            f"bar at {bar.open_time}: spans {bar.close_time - bar.open_time} ns, "
            f"not one {timeframe.value}",
            field="close_time",
            value=bar.close_time,
        )
    if not (bar.low <= min(bar.open, bar.close) and max(bar.open, bar.close) <= bar.high):
        raise BadDataError(
            f"bar at {bar.open_time}: open {bar.open} and close {bar.close} must lie between "
            f"low {bar.low} and high {bar.high}",
            field="low",
            value=bar.low,
        )
    instrument = checked_instrument(InstrumentId(bar.exchange, bar.symbol))
    prices = [price_to_raw(value, field=name) for name, value in _prices(bar)]
    if min(prices) <= 0:
        raise BadDataError(f"bar at {bar.open_time}: prices must be positive", field="low")
    volume = quantity_to_raw(bar.volume, field="volume")
    if volume < 0 or bar.tick_count < 0:
        raise BadDataError(f"bar at {bar.open_time}: negative volume or tick count", field="volume")
    return (
        instrument.exchange,
        instrument.symbol,
        timeframe.value,
        bar.open_time,
        *prices,
        volume,
        bar.tick_count,
        source,
    )


def _prices(bar: Bar) -> tuple[tuple[str, Any], ...]:
    return (("open", bar.open), ("high", bar.high), ("low", bar.low), ("close", bar.close))
