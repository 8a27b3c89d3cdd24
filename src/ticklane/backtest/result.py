"""What a backtest returns: a typed result that is also the JSON written by ``--output``.

JSON schema (``BacktestResult`` encoded with msgspec; Decimals as strings, times as UTC ns):

- ``strategy``: name, ``strategy_hash`` (SHA-256 of the strategy's source file), ``parameters``
- ``instrument`` {exchange, symbol}, ``start_ns``, ``end_ns``, ``bar_type``, ``mode``
- ``fill``: ``next-tick`` or ``bar-close`` (optimistic), ``maker_fee_bps``, ``taker_fee_bps``,
  ``slippage_bps``, ``initial_capital``, ``currency``, ``account_id``
- ``ticks``, ``bars``, ``signals``, ``orders``, ``fills``, ``rejected`` and ``rejections``
  (reason -> count)
- ``total_trades``, ``final_equity`` and ``metrics`` (see ``ticklane.backtest.metrics``)
- ``trades``: closed round trips; ``equity_curve``: [ts_ns, equity] per bar close
- Equities (``final_equity``, the curve) are exact and written as short as they are
  (``1019.5``, not ``1019.500000``)
- ``error``: None, or where and why the strategy failed (the result is then partial)

Same input, same result, bit for bit: nothing here depends on the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from ticklane.backtest.curve import EquityCurve, encode_hook
from ticklane.core.identifiers import InstrumentId


class RunError(msgspec.Struct, frozen=True):
    """Why a run stopped early: the strategy raised on this event."""

    message: str
    ts_event: int
    bar_open_time: int
    tick_trade_id: int | None


class BacktestResult(msgspec.Struct, frozen=True, kw_only=True):
    strategy: str
    strategy_hash: str
    parameters: dict[str, Any]
    instrument: InstrumentId
    start_ns: int
    end_ns: int
    bar_type: str
    mode: str
    fill: str
    maker_fee_bps: Decimal
    taker_fee_bps: Decimal
    slippage_bps: Decimal
    initial_capital: Decimal
    currency: str
    account_id: str
    ticks: int
    bars: int
    signals: int
    orders: int
    fills: int
    rejected: int
    rejections: dict[str, int]
    total_trades: int
    final_equity: Decimal
    metrics: Any  # ticklane.backtest.metrics.Metrics
    trades: list[Any]  # ticklane.backtest.portfolio.Trade
    equity_curve: EquityCurve  # a Sequence of (ts_ns, Decimal)
    error: RunError | None = None

    def to_json(self) -> bytes:
        return _json(self)


def results_to_json(results: Sequence[BacktestResult]) -> bytes:
    """Several results (one per strategy) as ``{"results": [...]}``."""
    return _json({"results": list(results)})


def _json(value: object) -> bytes:
    return msgspec.json.format(msgspec.json.encode(value, enc_hook=encode_hook), indent=2)
