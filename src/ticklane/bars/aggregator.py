"""The bar aggregator: trade ticks in, ``BarData`` events out, the same in backtests and live.

One ``BarAggregator`` turns the trades of one instrument into the events of ``bars.events``
for one bar type and one ``BarDataMode``. It never reads a clock: time moves only with the
ticks it is given and with ``advance_to``, which a driver calls (the historical driver at the
end of its range, the real-time driver every second), so a backtest and a live session that
see the same ticks and the same final time emit the same events.

Timing rules (the bar-boundary rules of ``core.bars``):

- A time bar covers ``[open_time, close_time)``: a tick stamped exactly on a boundary opens the
  next bar, and a bar is complete once time reaches its ``close_time``.
- A bar is closed when a later tick or ``advance_to`` passes its close, never earlier. Each
  whole interval that passed with no tick is then closed as a synthetic bar (open, high, low
  and close at the last price, volume 0, no ticks). Before the first tick there is no last
  price, so no synthetic bar.
- A tick stamped before a bar that has already been closed (a live tick that arrived late)
  is counted in the bar open at the time, with its own ``ts_event``; a closed bar never changes.
- A tick-count bar of N closes on its Nth tick: ``open_time`` is its first tick's time and
  ``close_time`` its latest tick's. Time does not close it, so ``advance_to`` ignores it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ticklane.bars.events import BarData, BarDataMode, BarEvent
from ticklane.core.bars import BarType
from ticklane.core.columnar import TRADE_DTYPE, ColumnCopier, TradeArray
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId

# The fields on_trade_columns takes, in its order.
BAR_COLUMNS: Final = ("ts_event", "price", "quantity")
_NO_BAR: Final = -(2**63)  # close time while no time bar is open: the next tick opens one

# One TRADE_DTYPE row as Python values: ts_event, trade_id, price, quantity, side, maker.
TradeRow = tuple[int, int, int, int, int, bool]
IntArray = npt.NDArray[np.int64]
# struct's reading of TRADE_DTYPE's packed 34-byte records: three times faster than tolist().
_TRADE_RECORD: Final = struct.Struct("<qqqqb?")
# Rows converted to Python values per block: small enough that their memory is reused from
# block to block (faster than converting a whole chunk at once), large enough to amortise.
_BLOCK: Final = 16_384


class EventFailed(Exception):
    """``on_event`` raised: ``event`` is the event it was given, the cause its exception."""

    def __init__(self, event: BarEvent) -> None:
        super().__init__(f"the event handler failed at ts {event.ts_event}")
        self.event = event


def _ignore(_result: object, _bar: BarData) -> None:
    pass


def _ignore_close(_bar: BarData) -> None:
    pass


class BarAggregator:
    """Aggregates the trades of one instrument into bars, calling ``on_event`` per event.

    Options:

    - ``instrument``: the instrument the trades belong to (carried in every event).
    - ``bar_type``: a time bar (``BarType.time(Timeframe.ONE_MINUTE)``) or a tick-count bar
      (``BarType.ticks(100)``).
    - ``mode``: which events ``on_event`` receives (see ``BarDataMode``); bar closes always.
    - ``on_event``: called with the aggregator's one ``BarData``, which is updated in place and
      valid only during the call (keep ``snapshot()`` to keep an event). What it returns, if
      not ``quiet``, goes to ``on_result``: a strategy's ``on_bar_data`` can be ``on_event``
      itself (its ``HOLD`` the quiet value), so a tick costs one Python call, not three. An
      exception it raises comes out as ``EventFailed``, naming the event.
    - ``on_close``: called at every bar close (synthetic ones included) before ``on_event``;
      the engine marks equity and fills orders there.

    Prices and quantities are the scaled integers of ``core.fixed``; timestamps are ns.
    """

    __slots__ = (
        "_bar",
        "_close_time",
        "_closed_until",
        "_every",
        "_last_price",
        "_mode",
        "_moves",
        "_on_close",
        "_on_event",
        "_on_result",
        "_origin",
        "_quiet",
        "_tick_limit",
        "_width",
        "before_tick",
        "chunk_position",
    )

    def __init__(
        self,
        instrument: InstrumentId,
        bar_type: BarType,
        mode: BarDataMode,
        on_event: Callable[[BarData], object],
        *,
        on_result: Callable[[Any, BarData], None] | None = None,
        quiet: object = None,
        on_close: Callable[[BarData], None] | None = None,
    ) -> None:
        self._bar = BarData(instrument, bar_type)
        self._mode = mode
        self._on_event = on_event
        self._on_result = on_result if on_result is not None else _ignore
        self._quiet = quiet
        self._on_close = on_close if on_close is not None else _ignore_close
        self._every = mode is BarDataMode.ON_EACH_TICK
        self._moves = mode is BarDataMode.ON_PRICE_MOVE
        timeframe = bar_type.timeframe
        self._width = timeframe.nanos if timeframe is not None else 0  # 0: a tick-count bar
        self._origin = timeframe.origin_ns if timeframe is not None else 0
        self._tick_limit = bar_type.tick_count or 0
        self._close_time: int = _NO_BAR  # close of the open time bar
        self._closed_until: int | None = None  # close of the last closed time bar
        self._last_price: int | None = None  # the previous tick's price
        # Called with (ts, price_raw) for every tick after the bars it passed are closed and
        # before it counts in the bar or reaches a strategy: the engine fills pending orders
        # here (next-tick fills). None costs one attribute read per tick.
        self.before_tick: Callable[[int, int], None] | None = None
        # on_trade_columns: the position in the chunk of the first tick after the bars closed
        # so far (the ticks before it are in closed bars). The engine starts next-tick fills
        # there, without searching the chunk's times.
        self.chunk_position = 0

    @property
    def bar(self) -> BarData:
        """The aggregator's one ``BarData``: the last event, or the bar in progress."""
        return self._bar

    @property
    def mode(self) -> BarDataMode:
        return self._mode

    @property
    def last_price(self) -> int | None:
        """The latest tick's price (scaled), or None before the first tick."""
        return self._last_price

    def on_trade(
        self, ts_event: int, price_raw: int, quantity_raw: int, side: int, trade_id: int
    ) -> None:
        """One trade: close the bars its time has passed, count it, emit its event if wanted."""
        row = ((ts_event, trade_id, price_raw, quantity_raw, side, False),)
        if self._width:
            self._feed_time_bars(row)
        else:
            self._feed_tick_bars(row)

    def on_trades(self, data: TradeArray) -> None:
        """A chunk of trades (a ``TRADE_DTYPE`` array), as if given one by one to ``on_trade``."""
        if data.dtype != TRADE_DTYPE:
            raise BadDataError(f"trades: dtype {data.dtype} is not TRADE_DTYPE", field="dtype")
        if len(data) == 0:
            return
        if self._width and self._mode is BarDataMode.ON_CLOSE_BAR:
            ts, price, quantity = ColumnCopier(TRADE_DTYPE, *BAR_COLUMNS).copy(data)
            self.on_trade_columns(ts, price, quantity, data[-1].item())
            return
        feed = self._feed_time_bars if self._width else self._feed_tick_bars
        for start in range(0, len(data), _BLOCK):
            feed(_TRADE_RECORD.iter_unpack(data[start : start + _BLOCK].tobytes()))

    def advance_to(self, ts_ns: int) -> None:
        """Time has reached ``ts_ns``: close every time bar with ``close_time <= ts_ns``.

        The open bar is closed if its time has passed, then each whole interval that ended by
        ``ts_ns`` without a tick is closed as a synthetic bar. Tick-count bars ignore time.
        """
        if not self._width:
            return
        close = self._close_time
        if close != _NO_BAR and close <= ts_ns:
            bar = self._bar
            meta = bar.metadata
            bar.has_tick = False
            bar.ts_event = close
            meta.is_first_tick = False
            meta.is_bar_closed = True
            self._close_time = _NO_BAR
            self._closed_until = close
            self._close_event(bar)
        closed = self._closed_until
        if closed is not None and closed + self._width <= ts_ns:
            self._emit_synthetic_bars(closed, ts_ns)

    # -- per tick ------------------------------------------------------------------------------

    def _feed_time_bars(self, rows: Iterable[TradeRow]) -> None:
        # The hot loop of per-tick aggregation, run for every tick (millions a second): the bar
        # state lives in locals and BarData's slots are written directly, because attribute
        # look-ups would cost more than the work itself; ``self`` is touched once per bar.
        bar = self._bar
        meta = bar.metadata
        on_event, on_result, quiet = self._on_event, self._on_result, self._quiet
        every = self._every
        moves = self._moves
        close_time = self._close_time
        last = self._last_price
        high = bar.high_raw
        low = bar.low_raw
        volume = bar.volume_raw
        count = meta.tick_count
        first = meta.is_first_tick
        for ts, trade_id, price, quantity, side, _maker in rows:
            if ts >= close_time:  # always true while no bar is open (_NO_BAR)
                close_time = self._open_time_bar(ts, price)
                high = low = price
                volume = count = 0
                first = True
            else:
                if first:
                    meta.is_first_tick = first = False
                if price > high:
                    bar.high_raw = high = price
                elif price < low:
                    bar.low_raw = low = price
            if self.before_tick is not None:  # read per tick: a callback may set it
                self.before_tick(ts, price)
            volume += quantity
            count += 1
            bar.ts_event = ts
            bar.tick_price_raw = price
            bar.tick_quantity_raw = quantity
            bar.tick_side = side
            bar.tick_trade_id = trade_id
            bar.close_raw = price
            bar.volume_raw = volume
            meta.tick_count = count
            if every or (moves and price != last):
                try:  # free in Python 3.11 until something raises
                    result = on_event(bar)
                except Exception as exc:
                    raise EventFailed(bar.snapshot()) from exc
                if result is not quiet:
                    on_result(result, bar)
            last = price
        self._last_price = last

    def _open_time_bar(self, ts: int, price: int) -> int:
        """Close what ``ts`` has passed and open the bar it falls in; return its close time."""
        self.advance_to(ts)
        closed = self._closed_until
        start = closed if closed is not None and ts < closed else ts  # a late tick: see above
        width = self._width
        open_time = self._origin + (start - self._origin) // width * width
        bar = self._bar
        meta = bar.metadata
        bar.has_tick = True
        bar.open_raw = bar.high_raw = bar.low_raw = price
        meta.open_time = open_time
        meta.close_time = self._close_time = open_time + width
        meta.is_first_tick = True
        meta.is_bar_closed = False
        meta.is_synthetic = False
        return open_time + width

    def _feed_tick_bars(self, rows: Iterable[TradeRow]) -> None:
        # The hot loop for tick-count bars; written like _feed_time_bars, for the same reason.
        bar = self._bar
        meta = bar.metadata
        on_event, on_result, quiet = self._on_event, self._on_result, self._quiet
        every = self._every
        moves = self._moves
        limit = self._tick_limit
        last = self._last_price
        high = bar.high_raw
        low = bar.low_raw
        volume = bar.volume_raw
        count = 0 if meta.is_bar_closed else meta.tick_count
        first = meta.is_first_tick
        for ts, trade_id, price, quantity, side, _maker in rows:
            if count == 0:
                bar.has_tick = True
                bar.open_raw = bar.high_raw = bar.low_raw = high = low = price
                volume = 0
                meta.open_time = ts
                meta.is_first_tick = first = True
                meta.is_bar_closed = False
            else:
                if first:
                    meta.is_first_tick = first = False
                if price > high:
                    bar.high_raw = high = price
                elif price < low:
                    bar.low_raw = low = price
            if self.before_tick is not None:  # read per tick: a callback may set it
                self.before_tick(ts, price)
            volume += quantity
            count += 1
            bar.ts_event = meta.close_time = ts
            bar.tick_price_raw = price
            bar.tick_quantity_raw = quantity
            bar.tick_side = side
            bar.tick_trade_id = trade_id
            bar.close_raw = price
            bar.volume_raw = volume
            meta.tick_count = count
            if every or (moves and price != last):
                try:  # free in Python 3.11 until something raises
                    result = on_event(bar)
                except Exception as exc:
                    raise EventFailed(bar.snapshot()) from exc
                if result is not quiet:
                    on_result(result, bar)
            last = price
            if count == limit:  # the Nth tick closes the bar, at its own time
                bar.has_tick = False
                meta.is_first_tick = first = False
                meta.is_bar_closed = True
                self._close_event(bar)
                count = 0
        self._last_price = last

    # -- closing bars --------------------------------------------------------------------------

    def _close_event(self, bar: BarData) -> None:
        """A bar-close event: ``on_close``, then ``on_event`` (and ``on_result``)."""
        self._on_close(bar)
        try:
            result = self._on_event(bar)
        except Exception as exc:
            raise EventFailed(bar.snapshot()) from exc
        if result is not self._quiet:
            self._on_result(result, bar)

    def _emit_synthetic_bars(self, closed: int, until: int) -> None:
        """Close each empty interval from ``closed`` that ends by ``until``, at the last price."""
        bar = self._bar
        meta = bar.metadata
        width = self._width
        price = bar.close_raw  # the last bar's close is the last tick's price
        bar.has_tick = False
        bar.open_raw = bar.high_raw = bar.low_raw = price
        bar.volume_raw = 0
        meta.tick_count = 0
        meta.is_first_tick = False
        meta.is_bar_closed = True
        meta.is_synthetic = True
        while closed + width <= until:
            meta.open_time = closed
            closed += width
            meta.close_time = bar.ts_event = self._closed_until = closed
            self._close_event(bar)

    def on_trade_columns(
        self, ts: IntArray, price: IntArray, quantity: IntArray, last_row: TradeRow
    ) -> None:
        """ON_CLOSE_BAR on time bars: a chunk given as contiguous int64 columns (``ts`` sorted
        ascending, late ticks allowed), numpy finds the bars and Python runs once per bar.

        ``last_row`` is the chunk's last trade as a row, which stays in the open bar. The
        engine passes the columns it already copied out of the chunk for its fills (copying
        them out of the packed records is one of the costliest steps: ``ColumnCopier``).
        ``chunk_position`` follows the bars closed, for the engine's fills.
        """
        if self._mode is not BarDataMode.ON_CLOSE_BAR or not self._width:
            raise BadDataError("on_trade_columns: only for ON_CLOSE_BAR on time bars")
        if len(ts) == 0:
            return
        if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
            ts = np.maximum.accumulate(ts)  # late ticks count in the bar open at the time
        width, origin = self._width, self._origin
        meta = self._bar.metadata
        floor = meta.open_time if self._close_time != _NO_BAR else self._closed_until
        first_ts = int(ts[0]) if floor is None else max(int(ts[0]), floor)
        first_open = origin + (first_ts - origin) // width * width
        last_open = origin + (max(int(ts[-1]), first_ts) - origin) // width * width
        intervals = (last_open - first_open) // width + 1
        # bounds[k]: the position of the first tick at or after the open of interval k.
        bounds = np.empty(intervals + 1, dtype=np.int64)
        bounds[0], bounds[-1] = 0, len(ts)
        edges = first_open + width * np.arange(1, intervals, dtype=np.int64)
        bounds[1:-1] = np.searchsorted(ts, edges, side="left")
        filled = np.flatnonzero(bounds[1:] > bounds[:-1])  # intervals that have ticks
        starts = bounds[filled]
        ends = bounds[filled + 1]
        self._emit_chunk_bars(
            (first_open + width * filled).tolist(),
            price[starts].tolist(),
            np.maximum.reduceat(price, starts).tolist(),
            np.minimum.reduceat(price, starts).tolist(),
            price[ends - 1].tolist(),
            np.add.reduceat(quantity, starts).tolist(),
            (ends - starts).tolist(),
            ends.tolist(),
        )
        # The open bar's ticks end the chunk: what closes it next (the next chunk, the end of
        # the range) comes after them all.
        self.chunk_position = len(ts)
        self._carry_last_tick(last_row)

    def _emit_chunk_bars(
        self,
        opens_at: list[int],
        opens: list[int],
        highs: list[int],
        lows: list[int],
        closes: list[int],
        volumes: list[int],
        counts: list[int],
        ends: list[int],
    ) -> None:
        """Close every bar of a chunk but the last, which stays open for the next chunk.
        ``ends``: the position in the chunk after each bar's last tick."""
        bar = self._bar
        meta = bar.metadata
        width = self._width
        on_event, on_result, quiet = self._on_event, self._on_result, self._quiet
        on_close = self._on_close
        if self._close_time != _NO_BAR and opens_at[0] == meta.open_time:
            # The chunk continues the open bar: its values are taken over here.
            opens[0] = bar.open_raw
            highs[0] = max(highs[0], bar.high_raw)
            lows[0] = min(lows[0], bar.low_raw)
            volumes[0] += bar.volume_raw
            counts[0] += meta.tick_count
            self._close_time = _NO_BAR
        last = len(opens_at) - 1
        closed = self._closed_until
        bar.has_tick = False
        meta.is_first_tick = False
        meta.is_bar_closed = True
        meta.is_synthetic = False
        # Once per closed bar (not per tick), so plain Python; a gap goes through advance_to.
        for index, open_time in enumerate(opens_at):
            if open_time != closed:  # an open bar to close first, or a gap, or the first bar
                self._closed_until = closed
                self.chunk_position = ends[index - 1] if index else 0  # the bar's first tick
                self.advance_to(open_time)
                closed = self._closed_until
                meta.is_synthetic = False
            meta.open_time = open_time
            meta.close_time = bar.ts_event = open_time + width
            bar.open_raw = opens[index]
            bar.high_raw = highs[index]
            bar.low_raw = lows[index]
            bar.close_raw = closes[index]
            bar.volume_raw = volumes[index]
            meta.tick_count = counts[index]
            if index == last:
                break
            self.chunk_position = ends[index]
            # _close_event written out: this loop runs once per bar, millions of times.
            on_close(bar)
            try:
                result = on_event(bar)
            except Exception as exc:
                raise EventFailed(bar.snapshot()) from exc
            if result is not quiet:
                on_result(result, bar)
            closed = open_time + width
        self._closed_until = closed
        self._close_time = opens_at[last] + width
        meta.is_bar_closed = False
        meta.is_first_tick = counts[last] == 1

    def _carry_last_tick(self, row: TradeRow) -> None:
        """Leave the state a tick-by-tick run would: the last tick in the open bar."""
        ts, trade_id, price, quantity, side, _maker = row
        bar = self._bar
        bar.has_tick = True
        bar.ts_event = ts
        bar.tick_price_raw = self._last_price = price
        bar.tick_quantity_raw = quantity
        bar.tick_side = side
        bar.tick_trade_id = trade_id
