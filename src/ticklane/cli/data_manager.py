"""``data-manager``: market-data infrastructure (streaming, storage, history, symbols)."""

from __future__ import annotations

import typer

from ticklane.cli import db, demo, importing, serve, symbols
from ticklane.cli.common import ANY_ARGS, make_app, not_delivered

app = make_app(
    "data-manager", "Market data: live venue streams, the tick store, history and symbols."
)


@app.command(context_settings=ANY_ARGS)
def fetch() -> None:
    """Fetch historical data from Databento or the venues' archives."""
    not_delivered("data-manager fetch", 6)


app.add_typer(symbols.app, name="symbol")
app.add_typer(db.app, name="db")

backfill = typer.Typer(help="Backfill jobs with cost tracking (estimate, fetch, fill-gaps, ...).")
for _name, _doc in {
    "estimate": "Estimate the cost of a backfill.",
    "fetch": "Run a backfill job.",
    "fill-gaps": "Find and fill gaps in stored ticks.",
    "status": "Show backfill jobs.",
    "cost-report": "Sum what backfills cost.",
}.items():

    def _placeholder(name: str = _name) -> None:
        not_delivered(f"data-manager backfill {name}", 6)

    _placeholder.__doc__ = _doc
    backfill.command(_name, context_settings=ANY_ARGS)(_placeholder)
app.add_typer(backfill, name="backfill")

app.command("import")(importing.import_file)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)


def main() -> None:
    app()
