"""Ticks in columnar form: numpy structured arrays of scaled integers, one instrument per batch.

Bulk paths (storage, import, backtest reads) move ticks as these arrays, never as lists of
objects. Prices are scaled by ``PRICE_SCALE`` and quantities by ``QUANTITY_SCALE`` (see
``core.fixed``); timestamps are UTC nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

from ticklane.core.errors import BadDataError
from ticklane.core.fixed import (
    format_decimal,
    price_from_raw,
    price_to_raw,
    quantity_from_raw,
    quantity_to_raw,
)
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.core.time import MAX_TS_NS, MIN_TS_NS, format_ns

TRADE_DTYPE: Final = np.dtype(
    [
        ("ts_event", "<i8"),
        ("trade_id", "<i8"),
        ("price", "<i8"),
        ("quantity", "<i8"),
        ("side", "i1"),
        ("is_buyer_maker", "?"),
    ]
)

QUOTE_DTYPE: Final = np.dtype(
    [
        ("ts_event", "<i8"),
        ("sequence", "<i8"),
        ("bid_price", "<i8"),
        ("bid_size", "<i8"),
        ("ask_price", "<i8"),
        ("ask_size", "<i8"),
    ]
)

_SIDE_RULE: Final = "is not a side (0 none, 1 buy, 2 sell)"
_TS_RULE: Final = "is not between 1980-01-01 and 2100-01-01 UTC"

TradeArray = npt.NDArray[Any]  # structured array of TRADE_DTYPE
QuoteArray = npt.NDArray[Any]  # structured array of QUOTE_DTYPE

# Rows copied per step by ``ColumnCopier``: 64k records of 34 bytes (2 MiB) stay in the cache
# while each column is taken from them.
_COPY_BLOCK: Final = 65_536


class RowError(msgspec.Struct, frozen=True):
    """Why one row of a batch was rejected: its position in the batch, the field and the value."""

    position: int
    field: str
    value: str
    message: str


class TradeColumns(msgspec.Struct, frozen=True):
    """A batch of trades of one instrument, as a ``TRADE_DTYPE`` array."""

    instrument: InstrumentId
    data: TradeArray

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def empty(cls, instrument: InstrumentId, size: int = 0) -> TradeColumns:
        return cls(instrument, np.zeros(size, dtype=TRADE_DTYPE))

    @classmethod
    def from_ticks(cls, ticks: Sequence[TradeTick]) -> TradeColumns:
        """Columns of ticks that all share one instrument (use ``group_trades`` otherwise)."""
        if not ticks:
            raise BadDataError("no ticks given")
        instrument = ticks[0].instrument_id
        data = np.zeros(len(ticks), dtype=TRADE_DTYPE)
        for position, tick in enumerate(ticks):
            if tick.exchange != instrument.exchange or tick.symbol != instrument.symbol:
                raise BadDataError(
                    f"tick {position} is {tick.symbol}.{tick.exchange}, not {instrument}",
                    field="symbol",
                    value=tick.symbol,
                )
            data[position] = (
                tick.ts_event,
                tick.trade_id,
                price_to_raw(tick.price),
                quantity_to_raw(tick.quantity),
                int(tick.side),
                bool(tick.is_buyer_maker),
            )
        return cls(instrument, data)

    def to_ticks(self) -> list[TradeTick]:
        """Objects for user code; the bulk paths stay columnar."""
        exchange, symbol = self.instrument.exchange, self.instrument.symbol
        return [
            TradeTick(
                exchange=exchange,
                symbol=symbol,
                price=price_from_raw(int(row["price"])),
                quantity=quantity_from_raw(int(row["quantity"])),
                side=Side(int(row["side"])),
                ts_event=int(row["ts_event"]),
                trade_id=int(row["trade_id"]),
                is_buyer_maker=bool(row["is_buyer_maker"]),
            )
            for row in self.data
        ]

    def validated(self) -> tuple[TradeColumns, list[RowError]]:
        """Split into the valid rows and a report of the invalid ones, by position."""
        good, errors = validate_trades(self.data)
        if not errors:
            return self, errors
        return TradeColumns(self.instrument, self.data[good]), errors


class ColumnCopier:
    """Contiguous copies of some fields of structured arrays, into buffers reused from one
    array to the next (a chunked run copies every chunk's columns).

    Two things make this ~2.5 times faster than ``np.ascontiguousarray`` per field (15 ms
    against 38 ms for three fields of five 1M-trade chunks, measured): the buffers are written
    once and reused, where fresh arrays page-fault on first touch; and the records are copied
    block by block, so each is read from memory once and its other fields come from the cache
    (a packed record is smaller than a cache line: a strided read of one field touches every
    line). The columns returned are valid until the next ``copy``.
    """

    def __init__(self, dtype: np.dtype[Any], *names: str) -> None:
        self._names = names
        self._buffers = [np.empty(0, dtype=dtype[name]) for name in names]

    def copy(self, data: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """The fields of ``data`` as contiguous arrays, in the order named; the arrays are
        overwritten by the next call."""
        rows = len(data)
        if rows > len(self._buffers[0]):
            self._buffers = [np.empty(rows, dtype=buffer.dtype) for buffer in self._buffers]
        columns = [buffer[:rows] for buffer in self._buffers]
        fields = [data[name] for name in self._names]
        for start in range(0, rows, _COPY_BLOCK):
            stop = start + _COPY_BLOCK
            for column, field in zip(columns, fields, strict=True):
                column[start:stop] = field[start:stop]
        return columns


def validate_trades(data: TradeArray) -> tuple[npt.NDArray[np.bool_], list[RowError]]:
    """A mask of valid rows and the reasons for every invalid one (first failing check wins)."""
    ts = data["ts_event"]
    return _apply_checks(
        data,
        [
            ("price", data["price"] <= 0, "is not positive"),
            ("quantity", data["quantity"] <= 0, "is not positive"),
            ("side", (data["side"] < 0) | (data["side"] > 2), _SIDE_RULE),
            ("ts_event", (ts < MIN_TS_NS) | (ts >= MAX_TS_NS), _TS_RULE),
        ],
    )


def validate_quotes(data: QuoteArray) -> tuple[npt.NDArray[np.bool_], list[RowError]]:
    """A mask of valid quote rows and the reasons for every invalid one."""
    ts = data["ts_event"]
    return _apply_checks(
        data,
        [
            ("bid_price", data["bid_price"] <= 0, "is not positive"),
            ("ask_price", data["ask_price"] <= 0, "is not positive"),
            ("bid_size", data["bid_size"] < 0, "is negative"),
            ("ask_size", data["ask_size"] < 0, "is negative"),
            ("ts_event", (ts < MIN_TS_NS) | (ts >= MAX_TS_NS), _TS_RULE),
        ],
    )


def _apply_checks(
    data: npt.NDArray[Any], checks: list[tuple[str, npt.NDArray[np.bool_], str]]
) -> tuple[npt.NDArray[np.bool_], list[RowError]]:
    valid = np.ones(len(data), dtype=bool)
    errors: list[RowError] = []
    for field, bad, reason in checks:
        newly_bad = bad & valid
        if newly_bad.any():
            for position in np.flatnonzero(newly_bad).tolist():
                shown = _show(field, int(data[field][position]))
                errors.append(RowError(position, field, shown, f"{field} {shown} {reason}"))
            valid &= ~bad
    errors.sort(key=lambda error: error.position)
    return valid, errors


def _show(field: str, raw: int) -> str:
    if field.endswith("price"):
        return format_decimal(price_from_raw(raw))
    if field == "quantity" or field.endswith("size"):
        return format_decimal(quantity_from_raw(raw))
    if field == "ts_event":
        return f"{raw} ({format_ns(raw)})"
    return str(raw)


def group_trades(ticks: Iterable[TradeTick]) -> list[TradeColumns]:
    """Group ticks of many instruments into one ``TradeColumns`` each, keeping their order."""
    grouped: dict[tuple[str, str], list[TradeTick]] = {}
    for tick in ticks:
        grouped.setdefault((tick.exchange, tick.symbol), []).append(tick)
    return [TradeColumns.from_ticks(batch) for batch in grouped.values()]


class QuoteColumns(msgspec.Struct, frozen=True):
    """A batch of best bid/ask quotes of one instrument, as a ``QUOTE_DTYPE`` array."""

    instrument: InstrumentId
    data: QuoteArray

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def from_quotes(cls, quotes: Sequence[QuoteTick]) -> QuoteColumns:
        if not quotes:
            raise BadDataError("no quotes given")
        instrument = quotes[0].instrument_id
        data = np.zeros(len(quotes), dtype=QUOTE_DTYPE)
        for position, quote in enumerate(quotes):
            if quote.instrument_id != instrument:
                raise BadDataError(
                    f"quote {position} is {quote.symbol}.{quote.exchange}, not {instrument}",
                    field="symbol",
                    value=quote.symbol,
                )
            data[position] = (
                quote.ts_event,
                quote.sequence,
                price_to_raw(quote.bid_price, field="bid_price"),
                quantity_to_raw(quote.bid_size, field="bid_size"),
                price_to_raw(quote.ask_price, field="ask_price"),
                quantity_to_raw(quote.ask_size, field="ask_size"),
            )
        return cls(instrument, data)

    def validated(self) -> tuple[QuoteColumns, list[RowError]]:
        """Split into the valid rows and a report of the invalid ones, by position."""
        good, errors = validate_quotes(self.data)
        if not errors:
            return self, errors
        return QuoteColumns(self.instrument, self.data[good]), errors

    def to_quotes(self) -> list[QuoteTick]:
        exchange, symbol = self.instrument.exchange, self.instrument.symbol
        return [
            QuoteTick(
                exchange=exchange,
                symbol=symbol,
                bid_price=price_from_raw(int(row["bid_price"])),
                bid_size=quantity_from_raw(int(row["bid_size"])),
                ask_price=price_from_raw(int(row["ask_price"])),
                ask_size=quantity_from_raw(int(row["ask_size"])),
                ts_event=int(row["ts_event"]),
                sequence=int(row["sequence"]),
            )
            for row in self.data
        ]
