"""``data-manager``: market-data infrastructure (streaming, storage, history, symbols)."""

from __future__ import annotations

from ticklane.cli import backfill, db, demo, history, importing, serve, symbols
from ticklane.cli.common import make_app

app = make_app(
    "data-manager", "Market data: live venue streams, the tick store, history and symbols."
)


app.command("fetch")(history.fetch)
app.add_typer(symbols.app, name="symbol")
app.add_typer(db.app, name="db")

app.add_typer(backfill.app, name="backfill")

app.command("import")(importing.import_file)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)


def main() -> None:
    app()
