"""Conversions shared by the backends: database rows to domain objects, bar rows to ``Bar``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from ticklane.core.bars import Bar, BarType, Timeframe
from ticklane.core.columnar import TradeColumns, group_trades
from ticklane.core.errors import BadDataError
from ticklane.core.fixed import price_from_raw, quantity_from_raw
from ticklane.core.identifiers import InstrumentId, Side, check_exchange, check_symbol
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.storage.base import EMPTY_RESULT, InsertResult, StrategyLogRow, SymbolInfo

TRADE_COLUMNS = ("ts_event", "trade_id", "price", "quantity", "side", "is_buyer_maker")
QUOTE_COLUMNS = ("ts_event", "sequence", "bid_price", "bid_size", "ask_price", "ask_size")


@functools.lru_cache(maxsize=4096)
def checked_instrument(instrument: InstrumentId) -> InstrumentId:
    """The instrument with its names checked and the exchange canonical (they reach SQL text
    on some paths). Cached: it runs on every read, including the latest-price hot path."""
    return InstrumentId(check_exchange(instrument.exchange), check_symbol(instrument.symbol))


def check_range(start_ns: int, end_ns: int) -> None:
    if end_ns < start_ns:
        raise BadDataError(
            f"time range: end {end_ns} is before start {start_ns}", field="end", value=end_ns
        )


def trades_from_rows(instrument: InstrumentId, rows: Iterable[Sequence[Any]]) -> list[TradeTick]:
    """Rows of ``TRADE_COLUMNS`` as trade objects."""
    exchange, symbol = instrument.exchange, instrument.symbol
    return [
        TradeTick(
            exchange=exchange,
            symbol=symbol,
            price=price_from_raw(price),
            quantity=quantity_from_raw(quantity),
            side=Side(side),
            ts_event=ts_event,
            trade_id=trade_id,
            is_buyer_maker=bool(is_buyer_maker),
        )
        for ts_event, trade_id, price, quantity, side, is_buyer_maker in rows
    ]


def quotes_from_rows(instrument: InstrumentId, rows: Iterable[Sequence[Any]]) -> list[QuoteTick]:
    exchange, symbol = instrument.exchange, instrument.symbol
    return [
        QuoteTick(
            exchange=exchange,
            symbol=symbol,
            bid_price=price_from_raw(bid_price),
            bid_size=quantity_from_raw(bid_size),
            ask_price=price_from_raw(ask_price),
            ask_size=quantity_from_raw(ask_size),
            ts_event=ts_event,
            sequence=sequence,
        )
        for ts_event, sequence, bid_price, bid_size, ask_price, ask_size in rows
    ]


def bars_from_rows(
    instrument: InstrumentId, timeframe: Timeframe, rows: Iterable[Sequence[Any]]
) -> list[Bar]:
    """Rows of ``(open_time, open, high, low, close, volume, tick_count)`` as bars."""
    bar_type = BarType.time(timeframe)
    return [
        Bar(
            exchange=instrument.exchange,
            symbol=instrument.symbol,
            bar_type=bar_type,
            open_time=int(open_time),
            close_time=int(open_time) + timeframe.nanos,
            open=price_from_raw(int(open_)),
            high=price_from_raw(int(high)),
            low=price_from_raw(int(low)),
            close=price_from_raw(int(close)),
            volume=quantity_from_raw(int(volume)),
            tick_count=int(count),
        )
        for open_time, open_, high, low, close, volume, count in rows
    ]


def decimal_or_none(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def decimal_text(value: Decimal | None) -> str | None:
    """An exact decimal as plain text (``format 'f'`` never rounds, has no exponent, and
    reads back equal); for SQLite's TEXT money columns."""
    return None if value is None else format(value, "f")


def strategy_log_values(
    row: StrategyLogRow, *, money: Callable[[Decimal | None], Any], details: Any
) -> tuple[Any, ...]:
    """The columns of ``STRATEGY_LOG_COLUMNS`` for ``row``; each backend says how money is
    written (``money``) and passes ``details`` already encoded for its JSON column."""
    return (
        row.ts_event,
        row.strategy_id,
        row.strategy_hash,
        row.account_id,
        row.exchange,
        row.symbol,
        row.event,
        row.run_id,
        row.seq,
        row.side,
        row.price,
        row.quantity,
        row.client_order_id,
        money(row.fee),
        money(row.cash),
        money(row.position),
        money(row.equity),
        money(row.realized_pnl),
        details,
    )


def strategy_log_row(values: Sequence[Any], details: dict[str, Any]) -> StrategyLogRow:
    """A row read as ``id`` then ``STRATEGY_LOG_COLUMNS``; ``details`` already decoded."""
    (row_id, ts, strategy_id, strategy_hash, account_id, exchange, symbol, event, run_id, seq,
     side, price, quantity, client_order_id, fee, cash, position, equity, realized_pnl,
     _) = values  # fmt: skip
    return StrategyLogRow(
        id=row_id,
        ts_event=ts,
        strategy_id=strategy_id,
        strategy_hash=strategy_hash,
        account_id=account_id,
        exchange=exchange,
        symbol=symbol,
        event=event,
        run_id=run_id,
        seq=seq,
        side=side,
        price=price,
        quantity=quantity,
        client_order_id=client_order_id,
        fee=decimal_or_none(fee),
        cash=decimal_or_none(cash),
        position=decimal_or_none(position),
        equity=decimal_or_none(equity),
        realized_pnl=decimal_or_none(realized_pnl),
        details=details,
    )


def ohlc_params(
    instrument: InstrumentId, timeframe: Timeframe, start_ns: int, end_ns: int
) -> dict[str, object]:
    """Named parameters of both backends' bar queries (bucket arithmetic of ``core.bars``)."""
    return {
        "origin": timeframe.origin_ns,
        "width": timeframe.nanos,
        "exchange": instrument.exchange,
        "symbol": instrument.symbol,
        "start": start_ns,
        "end": end_ns,
    }


def symbol_rows(
    symbols: Sequence[SymbolInfo], decimal: Callable[[Decimal], object]
) -> list[tuple[object, ...]]:
    """Rows for the symbols table; ``decimal`` renders tick and lot sizes for the backend."""
    return [
        (
            checked_instrument(s.instrument_id).exchange,
            s.symbol,
            s.base_asset,
            s.quote_asset,
            None if s.tick_size is None else decimal(s.tick_size),
            None if s.lot_size is None else decimal(s.lot_size),
            s.status,
            s.source,
        )
        for s in symbols
    ]


def insert_by_instrument(
    insert_trades: Callable[[TradeColumns], InsertResult], ticks: Iterable[TradeTick]
) -> InsertResult:
    """Store trade objects of any instruments, one columnar batch per instrument."""
    result = EMPTY_RESULT
    for batch in group_trades(ticks):
        result = result + insert_trades(batch)
    return result
