"""What the serve/replay tests share: settings pointing serve at a local venue (or at nothing),
reading a store's trades and quotes, and waiting for a condition with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ticklane.config import load_settings
from ticklane.config.settings import Settings, VenueEndpoints
from ticklane.core.identifiers import InstrumentId
from ticklane.core.ticks import QuoteTick, TradeTick
from ticklane.storage.sqlite import SqliteTickStore

DEADLINE_S = 60.0
ALL_TIME = (0, 2**63 - 1)


def serve_settings(*, binance_ws: str | None = None, binance_rest: str | None = None,
                   ring: Path | None = None) -> Settings:  # fmt: skip
    """Built-in settings with Binance pointed at a local venue and the ring at ``ring``."""
    settings = load_settings(None, environ={})
    venues = settings.venues
    if binance_ws is not None and binance_rest is not None:
        venues = venues.model_copy(
            update={"binance": VenueEndpoints(ws_url=binance_ws, rest_url=binance_rest)}
        )
    manager = settings.data_manager
    if ring is not None:
        manager = manager.model_copy(
            update={"ipc": manager.ipc.model_copy(update={"name": str(ring)})}
        )
    return settings.model_copy(update={"venues": venues, "data_manager": manager})


def stored(path: Path, symbol: InstrumentId) -> tuple[list[TradeTick], list[QuoteTick]]:
    """Every trade and quote of ``symbol`` in the SQLite store at ``path``."""
    store = SqliteTickStore(path)
    try:
        return store.get_ticks(symbol, *ALL_TIME), store.get_quotes(symbol, *ALL_TIME)
    finally:
        store.close()


async def wait_until(condition: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    """Return once ``condition()`` holds; TimeoutError after ``deadline_s``."""
    async with asyncio.timeout(deadline_s):
        while not condition():
            await asyncio.sleep(0.02)
