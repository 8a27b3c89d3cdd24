"""Provenance of live ticks: one ``tick_provenance`` range per instrument per serve session,
grown as trades are stored.

A range is created with the first stored batch of an instrument and extended at most every
``every_secs`` (and when the writer stops), so provenance costs one small UPDATE per
instrument per interval, not one per batch. A failure to record it is logged, never raised:
provenance must not stop ticks from being stored.
"""

from __future__ import annotations

import logging
import time

from ticklane.core.errors import TicklaneError
from ticklane.core.identifiers import InstrumentId
from ticklane.storage.base import TickStore
from ticklane.storage.history import ProvenanceRange

log = logging.getLogger(__name__)


class _Open:
    __slots__ = ("end_ns", "entry_id", "last_saved", "rows")

    def __init__(self, entry_id: int, end_ns: int) -> None:
        self.entry_id = entry_id
        self.end_ns = end_ns
        self.rows = 0  # stored since the last save
        self.last_saved = time.monotonic()


class LiveProvenance:
    """Records where live ticks came from; called from the store writer's worker thread."""

    def __init__(self, store: TickStore, source: str = "serve", every_secs: float = 10.0) -> None:
        self._store = store
        self._source = source
        self._every = every_secs
        self._open: dict[InstrumentId, _Open] = {}

    def stored(self, instrument: InstrumentId, first_ns: int, last_ns: int, rows: int) -> None:
        """``rows`` trades of ``instrument`` between ``first_ns`` and ``last_ns`` were stored."""
        if rows <= 0:
            return
        try:
            current = self._open.get(instrument)
            if current is None:
                entry_id = self._store.history.record_provenance(
                    ProvenanceRange(
                        exchange=instrument.exchange,
                        symbol=instrument.symbol,
                        start_ns=first_ns,
                        end_ns=last_ns + 1,
                        kind="live",
                        source=self._source,
                        rows=rows,
                    )
                )
                self._open[instrument] = _Open(entry_id, last_ns + 1)
                return
            current.end_ns = max(current.end_ns, last_ns + 1)
            current.rows += rows
            if time.monotonic() - current.last_saved >= self._every:
                self._save(current)
        except TicklaneError as error:
            log.warning("live provenance of %s not recorded: %s", instrument, error)

    def close(self) -> None:
        """Save what is not saved yet."""
        for instrument, current in self._open.items():
            try:
                self._save(current)
            except TicklaneError as error:
                log.warning("live provenance of %s not recorded: %s", instrument, error)

    def _save(self, current: _Open) -> None:
        if current.rows:
            self._store.history.extend_provenance(current.entry_id, current.end_ns, current.rows)
        current.rows = 0
        current.last_saved = time.monotonic()
