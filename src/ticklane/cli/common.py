"""What both command-line apps share: settings, opening the store, errors, output.

Exit codes: 0 success; 1 the command failed (bad data, storage, network); 2 a usage or
configuration error, or a command not delivered yet; 3 a feature this backend does not offer.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ticklane import __version__
from ticklane.config import Settings, configure_logging, load_settings
from ticklane.core.errors import (
    ConfigError,
    NotAvailableError,
    TicklaneError,
)
from ticklane.core.time import format_ns
from ticklane.storage import TickStore, open_store

log = logging.getLogger(__name__)


def _console(stderr: bool) -> Console:
    """A console that wraps to the terminal, or never squeezes tables when piped to a file."""
    console = Console(stderr=stderr, highlight=False)
    return console if console.is_terminal else Console(stderr=stderr, highlight=False, width=240)


out = _console(stderr=False)
err = _console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


class OutputFormat(StrEnum):
    """How a command prints its result."""

    TABLE = "table"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", dir_okay=False, help="Config file (default: config/<RUN_MODE>.toml)."
    ),
]


class State:
    """Per-invocation state: the config file chosen on the command line, loaded lazily."""

    def __init__(self, config_file: Path | None) -> None:
        self.config_file = config_file
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file)
            configure_logging(self._settings)
        return self._settings


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:  # a sub-command invoked without the app callback
        found = ctx.obj = State(None)
    return found


@contextmanager
def opened_store(ctx: typer.Context) -> Iterator[TickStore]:
    """The configured tick store, migrated (idempotent), closed afterwards."""
    settings = state(ctx).settings
    store = open_store(settings.database, settings.storage)
    try:
        store.migrate()
        yield store
    finally:
        store.close()


def fail(message: str, code: int = 1) -> NoReturn:
    # Escaped: a message naming a section, "[alerting]", is text, not rich markup.
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our exceptions into a one-line message and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            fail(f"configuration: {error}", 2)
        except NotAvailableError as error:
            fail(str(error), 3)
        except TicklaneError as error:  # bad data, storage, network: the message says which
            fail(str(error), 1)

    return wrapper


def print_json(value: Any) -> None:
    """JSON on stdout: msgspec structs, Decimals (as strings) and plain data."""
    sys.stdout.write(json.dumps(msgspec.to_builtins(value), indent=2) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        numeric = column.lower() in {"rows", "bytes", "new", "version", "ticks", "count"}
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    out.print(table)


def short_time(ts_ns: int) -> str:
    """``2024-01-02 03:04:05.123`` (UTC, milliseconds) for tables."""
    return format_ns(ts_ns)[:23].replace("T", " ")


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _show_version(ctx: typer.Context, value: bool) -> None:
    if value:
        typer.echo(f"{ctx.find_root().info_name} (ticklane) {__version__}")
        raise typer.Exit()


VersionOption = Annotated[
    bool,
    typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
]


def _main_options(
    ctx: typer.Context, config: ConfigOption = None, version: VersionOption = False
) -> None:
    ctx.obj = State(config)


def make_app(name: str, help_text: str) -> typer.Typer:
    """A command-line app with the options every ticklane program has: -c FILE, --version."""
    app = typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_main_options)
    return app
