"""The readable terminal report of a backtest result."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.table import Table

from ticklane.backtest.result import BacktestResult
from ticklane.core.fixed import format_decimal
from ticklane.core.time import format_ns


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _money(value: Decimal | None, currency: str) -> str:
    if value is None:
        return "n/a"
    return f"{format_decimal(value.quantize(Decimal('0.01')))} {currency}"


def _duration(ns: int, bars: int) -> str:
    """``2 h 05 min (125 bars)``: the longest drawdown, peak to recovery."""
    if not bars:
        return "none"
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        text = f"{days} d {hours:02d} h"
    elif hours:
        text = f"{hours} h {minutes:02d} min"
    else:
        text = f"{minutes} min {seconds:02d} s"
    return f"{text} ({bars:,} bars)"


def print_report(console: Console, result: BacktestResult, seconds: float | None = None) -> None:
    """Summary, assumptions and metrics of one run."""
    m = result.metrics
    cur = result.currency
    console.print(
        f"[bold]{result.strategy}[/] on {result.instrument.symbol}.{result.instrument.exchange}, "
        f"{format_ns(result.start_ns)[:19]} to {format_ns(result.end_ns)[:19]} UTC, "
        f"{result.bar_type} bars, {result.mode}"
    )
    params = ", ".join(f"{k}={v}" for k, v in result.parameters.items())
    console.print(f"parameters: {params or '-'}; strategy sha256 {result.strategy_hash[:16]}...")
    console.print(
        f"fills: {result.fill}"
        + (" (OPTIMISTIC)" if result.fill == "bar-close" else "")
        + f", fees {result.taker_fee_bps} bps, slippage {result.slippage_bps} bps, "
        f"account {result.account_id}"
    )
    speed = f" in {seconds:.2f} s ({result.ticks / seconds:,.0f} ticks/s)" if seconds else ""
    console.print(
        f"{result.ticks:,} ticks, {result.bars:,} bars, {result.signals:,} signals, "
        f"{result.fills:,} fills, {result.rejected:,} rejected{speed}"
    )
    for reason, count in result.rejections.items():
        console.print(f"  rejected {count:,}x: {reason}")
    table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    table.add_column(justify="left")
    table.add_column(justify="right")
    rows = [
        ("initial capital", _money(result.initial_capital, cur)),
        ("final equity", _money(result.final_equity, cur)),
        ("total return", _pct(m.total_return)),
        ("annualized return", _pct(m.annualized_return)),
        ("Sharpe ratio", _ratio(m.sharpe_ratio)),
        ("Sortino ratio", _ratio(m.sortino_ratio)),
        ("max drawdown", _pct(m.max_drawdown)),
        ("longest drawdown", _duration(m.max_drawdown_duration_ns, m.max_drawdown_duration_bars)),
        ("trades", f"{result.total_trades:,}"),
        ("win rate", _pct(m.win_rate)),
        ("profit factor", _ratio(m.profit_factor)),
        ("average trade", _money(m.average_trade, cur)),
        ("exposure", _pct(m.exposure)),
        ("fees paid", _money(m.fees_paid, cur)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
