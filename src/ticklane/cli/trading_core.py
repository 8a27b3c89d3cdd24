"""``trading-core``: live data consumer, paper trading, backtests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from ticklane import __version__
from ticklane.cli.common import ConfigOption, State, not_delivered, out

app = typer.Typer(
    name="trading-core",
    help="Trading: live data from data-manager, paper trading, backtests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_ANY_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trading-core (ticklane) {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: ConfigOption = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    ctx.obj = State(config)


@app.command(context_settings=_ANY_ARGS)
def live() -> None:
    """Consume live data from data-manager over shared memory; --paper-trading runs a strategy."""
    not_delivered("trading-core live", 5)


@app.command(context_settings=_ANY_ARGS)
def backtest() -> None:
    """Backtest a strategy over stored ticks."""
    not_delivered("trading-core backtest", 3)


@app.command("hash-strategy")
def hash_strategy(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Strategy file.")
    ],
) -> None:
    """Print the SHA-256 of a strategy file (results record it to tie them to the code)."""
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    out.print(f"{digest.hexdigest()}  {file}")


def main() -> None:
    app()
