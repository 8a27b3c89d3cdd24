"""DBN records to our columns: trades, best bid/ask quotes and bars, a whole block at a time.

Conversion is vectorised over the block; no Python object is made per record on the trades
and quotes paths (bars are few and become ``Bar`` objects).

- Prices are 1e-9 fixed point in DBN and in ticklane (``PRICE_SCALE``): copied unchanged. A
  price of ``UNDEF_PRICE`` (no trade, an empty book side) rejects the row, counted.
- Sizes are whole contracts or shares: ``quantity = size * QUANTITY_SCALE``.
- Side: ``A`` (the aggressor sold into the bid) is ``Side.SELL``, ``B`` is ``Side.BUY``, ``N``
  is ``Side.NONE``; ``is_buyer_maker`` is true for sells, as in the other sources.
- Trade ids and quote sequences come from the record's ``sequence``, the venue's message
  sequence number. Records of one venue message can share it (a sweep through price levels
  is one message), and the store keys ticks by ``(ts_event, trade_id)``, so the k-th record
  of a run of adjacent records with the same ``(ts_event, sequence)`` gets
  ``sequence + k * 2**32`` (k = 0 for most: their id *is* the sequence). Where a venue sends
  no sequence (0), a trade's id is ``derived_trade_id`` of its time, price and quantity.
- A quote is stamped with the record's ``ts_event``, except the sampled ``bbo-1s``/``bbo-1m``
  quotes: with ``ts_recv``, the end of the interval they sample (their ``ts_event`` is the last
  change's, undefined when the book did not change in the interval).
- ``instrument_id`` becomes our instrument through the file's symbology (``InstrumentMap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import databento_dbn
import numpy as np
import numpy.typing as npt

from ticklane.core.bars import Bar, BarType
from ticklane.core.columnar import (
    QUOTE_DTYPE,
    TRADE_DTYPE,
    QuoteColumns,
    RowError,
    TradeColumns,
    validate_quotes,
    validate_trades,
)
from ticklane.core.errors import BadDataError, NotAvailableError
from ticklane.core.fixed import INT64_MAX, QUANTITY_SCALE, price_from_raw
from ticklane.core.identifiers import InstrumentId, Side
from ticklane.datamanager.importer_convert import TradeIdDeriver
from ticklane.venues.databento.schemas import (
    ACTION_TRADE,
    SIDE_ASK,
    SIDE_BID,
    SIDE_NONE,
    UNDEF_PRICE,
    SchemaSpec,
)

Records = npt.NDArray[Any]
Int64s = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

ERROR_SAMPLE: Final = 1_000  # RowErrors kept per block; the rest are only counted
_REPEAT_SHIFT: Final = 32
_SIDES: Final = np.full(256, -1, dtype=np.int8)
_SIDES[SIDE_ASK], _SIDES[SIDE_BID], _SIDES[SIDE_NONE] = Side.SELL, Side.BUY, Side.NONE


class InstrumentMap:
    """``instrument_id`` -> our ``InstrumentId`` (build it with ``from_metadata``)."""

    def __init__(self, by_id: Mapping[int, InstrumentId]) -> None:
        self.by_id = dict(by_id)

    @classmethod
    def from_metadata(
        cls,
        metadata: databento_dbn.Metadata,
        exchange: str,
        symbols: Mapping[str, str] | None = None,
    ) -> InstrumentMap:
        """From a file's symbology (``metadata.mappings``: raw symbol -> instrument ids by date).

        Options:
            exchange: the exchange our instruments are stored under (``cme``).
            symbols: raw symbol (as requested from Databento) -> our symbol; None keeps the
                raw symbol. Instruments of raw symbols not in it stay unmapped (their rows
                are rejected). A file requested by instrument id has no mappings: the id is
                then the raw symbol.
        """
        by_id: dict[int, InstrumentId] = {}
        for raw_symbol, intervals in metadata.mappings.items():
            ours = raw_symbol if symbols is None else symbols.get(raw_symbol)
            if ours is None:
                continue
            instrument = InstrumentId.of(exchange, ours)
            for interval in intervals:
                text = str(interval["symbol"])
                if not text.isdigit():
                    continue  # an interval where the symbol did not resolve
                known = by_id.setdefault(int(text), instrument)
                if known != instrument:
                    raise BadDataError(
                        f"instrument_id {text} maps to both {known} and {instrument}; "
                        "request one of them at a time",
                        field="instrument_id",
                        value=text,
                    )
        if not by_id and str(metadata.stype_in) == "instrument_id":
            for text in metadata.symbols:  # requested by id: the id is the symbol
                if text.isdigit():
                    ours = text if symbols is None else symbols.get(text)
                    if ours is not None:
                        by_id[int(text)] = InstrumentId.of(exchange, ours)
        return cls(by_id)


class Converted:
    """What one block became: batches per instrument (bars for the ohlcv schemas), and the
    rows rejected."""

    def __init__(self) -> None:
        self.trades: list[TradeColumns] = []
        self.quotes: list[QuoteColumns] = []
        self.bars: list[Bar] = []
        self.errors: list[RowError] = []  # a sample (first ERROR_SAMPLE)
        self.rejected = 0  # every rejected row, including those not in ``errors``

    def reject(self, errors: list[RowError], count: int | None = None) -> None:
        self.rejected += len(errors) if count is None else count
        room = ERROR_SAMPLE - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


class _Runs:
    """Counts records repeating the ``(ts_event, sequence)`` of the one before, across blocks."""

    def __init__(self) -> None:
        self._last: tuple[int, int, int] | None = None  # ts_event, sequence, its repeat

    def repeats(self, ts: Int64s, seq: Int64s) -> Int64s:
        count = len(ts)
        if not count:
            return np.zeros(0, dtype=np.int64)
        same = np.empty(count, dtype=bool)
        same[1:] = (ts[1:] == ts[:-1]) & (seq[1:] == seq[:-1])
        last = self._last
        same[0] = last is not None and int(ts[0]) == last[0] and int(seq[0]) == last[1]
        index = np.arange(count, dtype=np.int64)
        starts = np.maximum.accumulate(np.where(same, 0, index))
        repeats = index - starts
        if same[0] and last is not None:  # the first run continues the last block's
            first_run = count if same.all() else int(np.flatnonzero(~same)[0])
            repeats[:first_run] += last[2] + 1
        self._last = (int(ts[-1]), int(seq[-1]), int(repeats[-1]))
        return repeats


class _InstrumentState:
    def __init__(self) -> None:
        self.trade_runs = _Runs()
        self.quote_runs = _Runs()
        self.derived = TradeIdDeriver()


class DbnConverter:
    """Converts the blocks of one file (or download), in order, for one schema."""

    def __init__(self, spec: SchemaSpec, instruments: InstrumentMap) -> None:
        self.spec = spec
        self.instruments = instruments
        self._states: dict[int, _InstrumentState] = {}
        self._position = 0  # index in the file of the block's first record

    def convert(self, block: Records) -> Converted:
        out = Converted()
        first = self._position
        self._position += len(block)
        if not len(block):
            return out
        ids = block["instrument_id"]
        for raw_id in np.unique(ids).tolist():
            mask = ids == raw_id
            instrument = self.instruments.by_id.get(int(raw_id))
            if instrument is None:
                positions = (np.flatnonzero(mask) + first).tolist()
                message = f"instrument_id {raw_id} is not in the symbology of the data"
                sample = [
                    RowError(p, "instrument_id", str(raw_id), message)
                    for p in positions[:ERROR_SAMPLE]
                ]
                out.reject(sample, len(positions))
                continue
            rows = block if mask.all() else block[mask]
            where = np.flatnonzero(mask) + first
            state = self._states.setdefault(int(raw_id), _InstrumentState())
            if self.spec.has_trades:
                self._trades(rows, where, instrument, state, out)
            if self.spec.has_quotes:
                self._quotes(rows, where, instrument, state, out)
        return out

    def _trades(
        self,
        rows: Records,
        where: Int64s,
        instrument: InstrumentId,
        state: _InstrumentState,
        out: Converted,
    ) -> None:
        if self.spec.name == "mbo":  # fills of resting orders (F) repeat the trade (T)
            is_trade = rows["action"] == ACTION_TRADE
            rows, where = rows[is_trade], where[is_trade]
        ts = rows["ts_event"].astype(np.int64)
        seq = rows["sequence"].astype(np.int64)
        ids = seq + (state.trade_runs.repeats(ts, seq) << _REPEAT_SHIFT)
        price = rows["price"].astype(np.int64)
        quantity = rows["size"].astype(np.int64) * QUANTITY_SCALE  # u32 * 1e8 fits in int64
        side = _SIDES[rows["side"]]
        keep = _reject_undefined(out, where, price == UNDEF_PRICE, "price")
        keep &= _reject_sides(out, where, rows["side"], side, keep)
        data = np.zeros(int(keep.sum()), dtype=TRADE_DTYPE)
        data["ts_event"], data["price"], data["quantity"] = ts[keep], price[keep], quantity[keep]
        data["side"] = side[keep]
        data["is_buyer_maker"] = data["side"] == Side.SELL
        data["trade_id"] = ids[keep]
        no_sequence = seq[keep] == 0
        if no_sequence.any():
            data["trade_id"][no_sequence] = state.derived.ids(
                data["ts_event"][no_sequence],
                data["price"][no_sequence],
                data["quantity"][no_sequence],
            )
        good, errors = validate_trades(data)
        _reject_invalid(out, where[keep], errors)
        if good.any():
            out.trades.append(TradeColumns(instrument, data if good.all() else data[good]))

    def _quotes(
        self,
        rows: Records,
        where: Int64s,
        instrument: InstrumentId,
        state: _InstrumentState,
        out: Converted,
    ) -> None:
        ts = rows[self.spec.quote_time].astype(np.int64)
        seq = rows["sequence"].astype(np.int64)
        sequence = seq + (state.quote_runs.repeats(ts, seq) << _REPEAT_SHIFT)
        bid, ask = rows["bid_px_00"].astype(np.int64), rows["ask_px_00"].astype(np.int64)
        keep = _reject_undefined(out, where, bid == UNDEF_PRICE, "bid_price")
        keep &= _reject_undefined(out, where, (ask == UNDEF_PRICE) & keep, "ask_price")
        data = np.zeros(int(keep.sum()), dtype=QUOTE_DTYPE)
        data["ts_event"], data["sequence"] = ts[keep], sequence[keep]
        data["bid_price"], data["ask_price"] = bid[keep], ask[keep]
        data["bid_size"] = rows["bid_sz_00"][keep].astype(np.int64) * QUANTITY_SCALE
        data["ask_size"] = rows["ask_sz_00"][keep].astype(np.int64) * QUANTITY_SCALE
        good, errors = validate_quotes(data)
        _reject_invalid(out, where[keep], errors)
        if good.any():
            out.quotes.append(QuoteColumns(instrument, data if good.all() else data[good]))


def _reject_undefined(out: Converted, where: Int64s, undefined: Bools, field: str) -> Bools:
    """Reject the rows whose ``field`` is UNDEF_PRICE; the mask of the others."""
    if undefined.any():
        positions = where[undefined].tolist()
        message = f"{field} is undefined (UNDEF_PRICE: no price at that moment)"
        sample = [RowError(p, field, "UNDEF_PRICE", message) for p in positions[:ERROR_SAMPLE]]
        out.reject(sample, len(positions))
    keep: Bools = ~undefined
    return keep


def _reject_sides(
    out: Converted,
    where: Int64s,
    raw: npt.NDArray[np.uint8],
    side: npt.NDArray[np.int8],
    keep: Bools,
) -> Bools:
    bad = (side < 0) & keep
    if bad.any():
        rows = np.flatnonzero(bad)[:ERROR_SAMPLE].tolist()
        out.reject(
            [
                RowError(
                    int(where[i]),
                    "side",
                    repr(chr(int(raw[i]))),
                    f"side {chr(int(raw[i]))!r} is not A, B or N",
                )
                for i in rows
            ],
            int(bad.sum()),
        )
    ok: Bools = ~bad
    return ok


def _reject_invalid(out: Converted, where: Int64s, errors: list[RowError]) -> None:
    """Errors of ``validate_*`` (positions in the kept rows) as positions in the file."""
    if errors:
        out.reject(
            [
                RowError(int(where[e.position]), e.field, e.value, e.message)
                for e in errors[:ERROR_SAMPLE]
            ],
            len(errors),
        )


def quantity_from_volume(volume: npt.NDArray[np.uint64], *, field: str = "volume") -> Int64s:
    """Whole units to ``QUANTITY_SCALE`` fixed point; BadDataError when one does not fit."""
    limit = INT64_MAX // QUANTITY_SCALE
    too_big = volume > np.uint64(limit)
    if too_big.any():
        value = int(volume[np.flatnonzero(too_big)[0]])
        raise BadDataError(
            f"{field}: {value} is too large for a quantity (at most {limit})",
            field=field,
            value=value,
        )
    scaled: Int64s = volume.astype(np.int64) * QUANTITY_SCALE
    return scaled


def bars_from_records(
    spec: SchemaSpec, records: Records, instruments: InstrumentMap, out: Converted | None = None
) -> list[Bar]:
    """OHLCV records as ``Bar`` objects (``ts_event`` is the bar's open time). Databento does
    not publish a bar's trade count: ``tick_count`` is 0. Rows of an unmapped instrument or
    with an undefined price are left out, and reported to ``out`` when given."""
    if spec.timeframe is None:
        raise NotAvailableError(f"{spec.name}: ticklane has no bar timeframe of that width")
    bar_type = BarType.time(spec.timeframe)
    width = spec.timeframe.nanos
    quantity_from_volume(records["volume"])  # refuses a volume our quantities cannot hold
    bars = []
    errors = []
    for position, row in enumerate(records.tolist()):  # few records: a day of 1m bars is 1,440
        named = dict(zip(records.dtype.names or (), row, strict=True))
        raw_id = int(named["instrument_id"])
        instrument = instruments.by_id.get(raw_id)
        prices = [named[key] for key in ("open", "high", "low", "close")]
        if instrument is None:
            message = f"instrument_id {raw_id} is not in the symbology of the data"
            errors.append(RowError(position, "instrument_id", str(raw_id), message))
            continue
        if UNDEF_PRICE in prices:
            message = "bar without a price (UNDEF_PRICE)"
            errors.append(RowError(position, "open", "UNDEF_PRICE", message))
            continue
        open_, high, low, close = (price_from_raw(int(p)) for p in prices)
        bars.append(
            Bar(
                exchange=instrument.exchange,
                symbol=instrument.symbol,
                bar_type=bar_type,
                open_time=int(named["ts_event"]),
                close_time=int(named["ts_event"]) + width,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=Decimal(int(named["volume"])),
                tick_count=0,
            )
        )
    if out is not None and errors:
        out.reject(errors)
    return bars
