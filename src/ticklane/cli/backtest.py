"""``trading-core backtest``: run a strategy over stored ticks, scripted or interactively."""

from __future__ import annotations

import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.prompt import Prompt

from ticklane.cli.common import err, fail, handle_errors, opened_store, out
from ticklane.config import load_settings
from ticklane.core.errors import BadDataError
from ticklane.core.identifiers import InstrumentId
from ticklane.core.time import format_ns, parse_datetime
from ticklane.storage import Order, TickStore

if TYPE_CHECKING:
    from ticklane.backtest.engine import BacktestConfig
    from ticklane.backtest.result import BacktestResult
    from ticklane.core.columnar import TradeColumns
    from ticklane.strategy.base import Strategy

# The engine and strategies are imported where used: every trading-core command would pay
# for them at start-up otherwise.

CHUNK_ROWS = 500_000
DEFAULT_CAPITAL = "10000"


def _decimal(value: str, flag: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        fail(f"{flag}: {value!r} is not a number", 2)
    if not number.is_finite():
        fail(f"{flag}: {value!r} is not a number", 2)
    return number


def _params(pairs: list[str], strategies: list[str]) -> list[dict[str, str]]:
    """``--param`` values per strategy: ``name=value`` for a single strategy; with several,
    ``strategy.name=value`` (the strategy as given to ``--strategy``, a file by its stem)."""
    labels = [Path(spec).stem if spec.endswith(".py") else spec for spec in strategies]
    params: list[dict[str, str]] = [{} for _ in strategies]
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"--param: {pair!r} is not name=value (e.g. --param short_period=10)", 2)
        label, dot, key = name.rpartition(".")
        if len(strategies) == 1 and (not dot or label == labels[0]):
            params[0][key] = value.strip()
        elif dot and label in labels:
            params[labels.index(label)][key] = value.strip()
        else:
            fail(
                f"--param: {pair!r} does not name its strategy; with several strategies write "
                f"strategy.name=value, the strategy one of: {', '.join(labels)}",
                2,
            )
    return params


@handle_errors
def backtest(
    ctx: typer.Context,
    exchange: Annotated[str, typer.Option("--exchange", "-e", help="Exchange.")] = "binance",
    symbol: Annotated[str | None, typer.Option("--symbol", "-s", help="Symbol.")] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help="Built-in name (see --list) or FILE.py; repeat to run several, each on its "
            "own account (--accounts).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="Strategy parameter name=value (several: strategy.name=value)."
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Start (ISO 8601; default: first tick).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End, exclusive (default: after last tick).")
    ] = None,
    capital: Annotated[
        str | None,
        typer.Option(help="Starting capital of the account (10000; with --accounts: the file's)."),
    ] = None,
    fee_bps: Annotated[str, typer.Option("--fee-bps", help="Maker and taker fee, bps.")] = "10",
    slippage_bps: Annotated[str, typer.Option("--slippage-bps", help="Slippage, bps.")] = "0",
    fill: Annotated[
        str, typer.Option(help="next-tick, or bar-close (optimistic: fills at a seen price).")
    ] = "next-tick",
    accounts: Annotated[
        Path | None, typer.Option(dir_okay=False, help="TOML with [accounts.*] sections.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the result as JSON here.")] = None,
    list_strategies: Annotated[bool, typer.Option("--list", help="List strategies.")] = False,
) -> None:
    """Backtest a strategy over stored ticks (interactive without arguments in a terminal)."""
    from ticklane.backtest.engine import FILL_CHOICES, BacktestConfig
    from ticklane.backtest.report import print_report
    from ticklane.backtest.result import results_to_json
    from ticklane.strategy.registry import create_strategy

    if list_strategies:
        _print_strategies()
        return
    if symbol is None and not strategy:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            fail("give --symbol and --strategy (or run in a terminal to choose interactively)", 2)
        with opened_store(ctx) as store:
            symbol, exchange, chosen_name, param, start, end, capital = _ask(store)
        strategy = [chosen_name]
    if symbol is None or not strategy:
        fail("give both --symbol and --strategy", 2)
    # Everything is validated before any work starts.
    instrument = InstrumentId.of(exchange, symbol)
    chosen = [
        create_strategy(spec, params)
        for spec, params in zip(strategy, _params(param or [], strategy), strict=True)
    ]
    accounts_config = load_settings(accounts).accounts if accounts else None
    if accounts is not None and capital is not None:
        fail(
            f"--capital {capital}: with --accounts the balances come from {accounts} "
            "(set initial_balance there)",
            2,
        )
    if fill not in FILL_CHOICES:
        fail(f"--fill: {fill!r} is not one of {', '.join(FILL_CHOICES)}", 2)
    with opened_store(ctx) as store:
        start_ns, end_ns = _range(store, instrument, start, end)
        config = BacktestConfig(
            instrument=instrument,
            start_ns=start_ns,
            end_ns=end_ns,
            initial_capital=_decimal(capital or DEFAULT_CAPITAL, "--capital"),
            fill=fill,
            maker_fee_bps=_decimal(fee_bps, "--fee-bps"),
            taker_fee_bps=_decimal(fee_bps, "--fee-bps"),
            slippage_bps=_decimal(slippage_bps, "--slippage-bps"),
            accounts=accounts_config,
        )
        results, seconds = _run(store, config, chosen)
    if output is not None:
        if len(results) == 1:
            output.write_bytes(results[0].to_json())
        else:  # several strategies: {"results": [one result per strategy, in --strategy order]}
            output.write_bytes(results_to_json(results))
        err.print(f"result written to {output}")
    for result in results:
        print_report(out, result, seconds)
    failed = False
    for result in results:
        if (error := result.error) is not None:
            failed = True
            err.print(
                f"[bold red]strategy {result.strategy} failed[/] at {format_ns(error.ts_event)} "
                f"(bar opened {format_ns(error.bar_open_time)}"
                + (f", trade {error.tick_trade_id}" if error.tick_trade_id else "")
                + f"): {error.message}; the result above is partial"
            )
    if failed:
        raise typer.Exit(1)


def _range(
    store: TickStore, instrument: InstrumentId, start: str | None, end: str | None
) -> tuple[int, int]:
    first = store.get_ticks(instrument, 0, 2**63 - 1, limit=1)
    last = store.get_ticks(instrument, 0, 2**63 - 1, order=Order.DESC, limit=1)
    if not first:
        fail(f"no ticks stored for {instrument}: import or fetch some first", 1)
    start_ns = parse_datetime(start) if start else first[0].ts_event
    end_ns = parse_datetime(end) if end else last[0].ts_event + 1
    if end_ns <= start_ns:
        raise BadDataError(f"--end {format_ns(end_ns)} is not after --start {format_ns(start_ns)}")
    if not store.get_ticks(instrument, start_ns, end_ns, limit=1):
        fail(
            f"no ticks for {instrument} between {format_ns(start_ns)} and {format_ns(end_ns)}; "
            f"stored: {format_ns(first[0].ts_event)} to {format_ns(last[0].ts_event)}",
            1,
        )
    return start_ns, end_ns


def _run(
    store: TickStore, config: BacktestConfig, strategies: list[Strategy]
) -> tuple[list[BacktestResult], float]:
    from ticklane.backtest.engine import BacktestEngine, run_together
    from ticklane.strategy.registry import strategy_hash

    engines = [BacktestEngine(config, chosen, strategy_hash(chosen)) for chosen in strategies]
    chunks = store.stream_trades(
        config.instrument, config.start_ns, config.end_ns, chunk_rows=CHUNK_ROWS
    )
    began = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        # Progress is measured in time through the range: known without counting the ticks.
        span = config.end_ns - config.start_ns
        task = progress.add_task("backtesting", total=span)
        seen = 0

        def advance(chunk: TradeColumns) -> None:
            nonlocal seen
            seen += len(chunk.data)
            reached = int(chunk.data["ts_event"][-1]) + 1 - config.start_ns
            progress.update(task, completed=min(reached, span), description=f"{seen:,} ticks")

        results = run_together(engines, chunks, progress=advance)
    return results, time.perf_counter() - began


def _print_strategies() -> None:
    from ticklane.strategy.registry import available_strategies

    for info in available_strategies():
        out.print(f"[bold]{info.name}[/]: {info.description}")
        for parameter in info.parameters:
            default = parameter.get("default")
            facts = [parameter["type"], "no default" if default is None else f"default {default}"]
            low, high = parameter.get("minimum"), parameter.get("maximum")
            above = parameter.get("minimum_exclusive")
            if low is not None and high is not None:
                facts.append(
                    f"above {low:g}, at most {high:g}" if above else f"{low:g} to {high:g}"
                )
            elif low is not None or high is not None:
                facts.append(
                    f"{'>' if above else '>='} {low:g}" if low is not None else f"<= {high:g}"
                )
            if parameter.get("choices"):
                facts.append(" | ".join(parameter["choices"]))
            out.print(
                f"    {parameter['name']} ({', '.join(facts)}): {parameter['description']}",
                highlight=False,
            )


def _ask(store: TickStore) -> tuple[str, str, str, list[str], str | None, str | None, str]:
    from ticklane.strategy.registry import available_strategies

    series = [s for s in store.stats().series if s.table == "tick_data"]
    if not series:
        fail("the tick store is empty: import or fetch ticks first", 1)
    names = [f"{s.symbol}.{s.exchange}" for s in series]
    for s in series:
        out.print(
            f"  {s.symbol}.{s.exchange}: {s.rows:,} ticks, "
            f"{format_ns(s.first_ts)} to {format_ns(s.last_ts)}"
        )
    chosen = Prompt.ask("instrument", choices=names, default=names[0])
    symbol, _, exchange = chosen.rpartition(".")
    strategies = [info.name for info in available_strategies()]
    strategy = Prompt.ask("strategy (or a path to a .py file)", default=strategies[0])
    params: list[str] = []
    for info in available_strategies():
        if info.name == strategy:
            for parameter in info.parameters:
                value = Prompt.ask(f"  {parameter['name']}", default=str(parameter.get("default")))
                if value != str(parameter.get("default")):
                    params.append(f"{parameter['name']}={value}")
    start = Prompt.ask("start (ISO 8601, empty: first tick)", default="") or None
    end = Prompt.ask("end (ISO 8601, empty: last tick)", default="") or None
    capital = Prompt.ask("capital", default=DEFAULT_CAPITAL)
    return symbol, exchange, strategy, params, start, end, capital
