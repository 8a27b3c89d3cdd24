"""One block of a trade file, converted: good rows split by symbol, bad rows reported."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ticklane.core.columnar import TRADE_DTYPE, RowError, TradeArray, validate_trades
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import PRICE_DECIMALS, QUANTITY_DECIMALS
from ticklane.core.identifiers import check_symbol
from ticklane.datamanager.importer_convert import (
    Bools,
    RowProblems,
    TradeIdDeriver,
    fill_sides,
    scaled,
    timestamps,
    to_bools,
    trade_ids,
)
from ticklane.datamanager.importer_layout import FileLayout, decode_text


class Block(msgspec.Struct, frozen=True):
    """One converted block: good rows per symbol, the bad rows' reasons, rows counted."""

    parts: list[tuple[str, TradeArray]]
    errors: list[RowError]
    rows: int  # data rows in the block, blank lines not counted


class BlockConverter:
    """Converts the blocks of one file, remembering which of its symbols are valid."""

    def __init__(self, layout: FileLayout) -> None:
        self._layout = layout
        self._symbol_problems: dict[str, str | None] = {}
        self._deriver = TradeIdDeriver() if layout.trade_ids_derived else None

    def convert(self, columns: Mapping[str, pa.Array], position_of: Callable[[int], int]) -> Block:
        """Convert the block ``columns`` (field -> array); ``position_of`` numbers its rows."""
        size = len(columns["timestamp"])
        problems = RowProblems(size)
        blank = _blank_rows(columns) if self._layout.format == "csv" else np.zeros(size, bool)
        problems.bad |= blank
        symbols, names = self._symbols(columns, problems, position_of)
        data = np.zeros(size, dtype=TRADE_DTYPE)
        data["ts_event"] = timestamps(columns["timestamp"], self._layout.timestamps, problems)
        data["price"] = scaled(columns["price"], PRICE_DECIMALS, "price", problems)
        data["quantity"] = scaled(columns["quantity"], QUANTITY_DECIMALS, "quantity", problems)
        fill_sides(columns, data, problems)
        if self._deriver is None:
            data["trade_id"] = trade_ids(
                columns["trade_id"], self._layout.trade_ids_hashed, problems
            )
        _validate(columns, data, problems)
        good = ~problems.bad
        if self._deriver is not None:  # from the good rows' values, so after every check
            rows = data[good]
            data["trade_id"][good] = self._deriver.ids(
                rows["ts_event"], rows["price"], rows["quantity"]
            )
        parts: list[tuple[str, TradeArray]] = []
        if symbols is None:
            parts.append((self._layout.symbol or "", data if good.all() else data[good]))
        else:
            for name in names:
                mask = to_bools(pc.equal(symbols, name)) & good
                if mask.any():
                    parts.append((name, data[mask]))
        errors = [
            RowError(position_of(index), *problems.found[index]) for index in sorted(problems.found)
        ]
        return Block(parts=parts, errors=errors, rows=size - int(blank.sum()))

    def _symbols(
        self,
        columns: Mapping[str, pa.Array],
        problems: RowProblems,
        position_of: Callable[[int], int],
    ) -> tuple[pa.Array | None, list[str]]:
        """The symbol column and its valid symbols; rows with an invalid one become problems."""
        if "symbol" not in columns:
            return None, []
        symbols = decode_text(columns["symbol"]).fill_null("")
        given = self._layout.symbol
        names: list[str] = []
        for name in pc.unique(symbols).to_pylist():
            problem = self._symbol_problem(name)
            rows = np.flatnonzero(to_bools(pc.equal(symbols, name)) & ~problems.bad)
            if problem is None and given is not None and name != given and len(rows):
                raise BadDataError(
                    f"{self._layout.path}: --symbol {given} was given but row "
                    f"{position_of(int(rows[0]))} is {name}; leave out --symbol to import "
                    "every symbol in the file",
                    field="symbol",
                    value=name,
                )
            if problem is None:
                names.append(name)
                continue
            for index in rows.tolist():
                problems.add(index, "symbol", name, problem)
        return symbols, names

    def _symbol_problem(self, name: str) -> str | None:
        if name not in self._symbol_problems:
            try:
                check_symbol(name)
                self._symbol_problems[name] = None
            except BadDataError as exc:
                self._symbol_problems[name] = str(exc)
        return self._symbol_problems[name]


# --- whole rows --------------------------------------------------------------------------------


def _blank_rows(columns: Mapping[str, pa.Array]) -> Bools:
    """Rows whose every cell is empty text: blank lines of a CSV (counted, not reported)."""
    blank: Bools = np.ones(len(columns["timestamp"]), dtype=bool)
    for column in columns.values():
        if not pa.types.is_string(column.type):
            return np.zeros(len(column), dtype=bool)
        blank &= to_bools(pc.equal(pc.binary_length(column), 0).fill_null(False))
        if not blank.any():
            break
    return blank


_FIELD_OF_CHECK: Final = {"ts_event": "timestamp"}


def _validate(columns: Mapping[str, pa.Array], data: TradeArray, problems: RowProblems) -> None:
    """The checks of ``validate_trades`` on the rows that are still good."""
    rest = np.flatnonzero(~problems.bad)
    _, errors = validate_trades(data if len(rest) == len(data) else data[rest])
    for error in errors:
        index = int(rest[error.position])
        field = _FIELD_OF_CHECK.get(error.field, error.field)
        value = columns[field][index].as_py() if field in columns else error.value
        problems.add(index, field, value, error.message)
