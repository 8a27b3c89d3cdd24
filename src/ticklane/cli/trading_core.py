"""``trading-core``: live data consumer, paper trading, backtests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from ticklane.cli.common import ANY_ARGS, make_app, not_delivered, out

app = make_app("trading-core", "Trading: live data from data-manager, paper trading, backtests.")


@app.command(context_settings=ANY_ARGS)
def live() -> None:
    """Consume live data from data-manager over shared memory; --paper-trading runs a strategy."""
    not_delivered("trading-core live", 5)


@app.command(context_settings=ANY_ARGS)
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
