"""History sources by name, built from the settings."""

from __future__ import annotations

from typing import Final

from ticklane.config import Settings
from ticklane.core.errors import ConfigError
from ticklane.datamanager.history.chain import Approve, SourceChain
from ticklane.datamanager.history.source import HistorySource

AUTO: Final = "auto"
DATABENTO: Final = "databento"
FREE_SOURCE_NAMES: Final = ("binance-archive", "binance-rest", "kraken-rest", "kraken-futures-rest")
SOURCE_NAMES: Final = (AUTO, *FREE_SOURCE_NAMES, DATABENTO)


def build_source(
    name: str,
    settings: Settings,
    *,
    schema: str = "trades",
    dataset: str | None = None,
    approve: Approve | None = None,
) -> HistorySource:
    """The source called ``name``; ``auto`` is the free sources, cheapest first, then
    Databento when ``approve`` (the budget check) is given."""
    wanted = name.strip().lower()
    if wanted == DATABENTO:
        return _databento(settings, schema, dataset)
    if wanted not in SOURCE_NAMES:
        raise ConfigError(f"source {name!r} is not one of {', '.join(SOURCE_NAMES)}")
    if schema != "trades":
        raise ConfigError(
            f"schema {schema}: only Databento serves other schemas than trades "
            "(fetch --provider databento, or backfill --source databento)"
        )
    # Imported here: the archive's CSV reader brings pyarrow, 0.4 s of every command's start.
    from ticklane.datamanager.history.free_sources import make_free_sources

    free = make_free_sources(settings.backfill, settings.venues)
    if wanted == AUTO:
        paid = [_databento(settings, schema, dataset)] if approve is not None else []
        return SourceChain([*free, *paid], approve=approve)
    return next(source for source in free if source.name == wanted)


def _databento(settings: Settings, schema: str, dataset: str | None) -> HistorySource:
    from ticklane.datamanager.history.databento_source import DatabentoSource

    return DatabentoSource(settings.databento, schema=schema, dataset=dataset)
