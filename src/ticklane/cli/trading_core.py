"""``trading-core``: live data consumer, paper trading, backtests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ticklane.cli import backtest, live
from ticklane.cli.common import make_app, out

app = make_app("trading-core", "Trading: live data from data-manager, paper trading, backtests.")


app.command("live")(live.live)
app.command("backtest")(backtest.backtest)


@app.command("hash-strategy")
def hash_strategy(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Strategy file.")
    ],
) -> None:
    """Print the SHA-256 of a strategy file (results record it to tie them to the code)."""
    from ticklane.strategy.loader import strategy_file_hash

    out.print(f"{strategy_file_hash(file)}  {file}")


def main() -> None:
    app()
