"""Finding gaps in stored ticks: silences longer than a threshold between consecutive stored
trades, plus the gaps the live feed recorded when it could not fetch what it missed.

A silence is a *candidate*: a quiet market leaves one too. Filling fetches its range from a
source; when the source has no trades there either, the market was quiet and the result says
so, which is why the threshold is configurable per symbol. Every stretch fetched is recorded
as a filled gap ("checked"), so silences left inside it are not fetched again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from ticklane.core.time import NANOS_PER_SECOND
from ticklane.storage.base import Gap, TickStore


class FoundGap(msgspec.Struct, frozen=True):
    """A stretch to fill: trades are missing strictly between ``from_ns`` and ``to_ns``.
    ``gap_ids`` are the live feed's recorded gaps it covers (marked filled once fetched)."""

    exchange: str
    symbol: str
    from_ns: int
    to_ns: int
    origin: str  # "silence" or "live feed: <reason>"
    gap_ids: tuple[int, ...] = ()

    @property
    def fetch_range(self) -> tuple[int, int]:
        """The half-open range ``[from_ns + 1, to_ns)`` to fetch (both ends were stored)."""
        return self.from_ns + 1, self.to_ns


def threshold_ns(symbol: str, default_secs: float, by_symbol: Mapping[str, float]) -> int:
    return int(by_symbol.get(symbol, default_secs) * NANOS_PER_SECOND)


def find_gaps(
    store: TickStore,
    exchange: str,
    symbols: Sequence[str],
    *,
    default_secs: float,
    by_symbol: Mapping[str, float],
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> list[FoundGap]:
    """Silences and recorded gaps of ``symbols`` (overlaps merged), in time order."""
    found: list[FoundGap] = []
    every = [g for g in store.list_gaps(exchange, include_filled=True) if g.symbol in symbols]
    recorded = [g for g in every if not g.filled]
    checked = [g for g in every if g.filled]
    for symbol in symbols:
        span = store.history.stored_span(exchange, symbol)
        if span is not None:
            lo = span[0] if start_ns is None else start_ns
            hi = span[1] + 1 if end_ns is None else end_ns
            threshold = threshold_ns(symbol, default_secs, by_symbol)
            for previous, following in store.history.silences(exchange, symbol, lo, hi, threshold):
                if not _checked(checked, symbol, previous, following):
                    found.append(FoundGap(exchange, symbol, previous, following, "silence"))
        found.extend(_recorded(gap, start_ns, end_ns) for gap in recorded if gap.symbol == symbol)
    return _merged(sorted(found, key=lambda g: (g.symbol, g.from_ns)))


def _checked(checked: list[Gap], symbol: str, previous: int, following: int) -> bool:
    """True when a fill already fetched this stretch (what is still silent there is quiet)."""
    return any(
        g.symbol == symbol and g.from_ns <= previous and following <= g.to_ns for g in checked
    )


def _recorded(gap: Gap, start_ns: int | None, end_ns: int | None) -> FoundGap:
    lo = gap.from_ns if start_ns is None else max(gap.from_ns, start_ns - 1)
    hi = gap.to_ns if end_ns is None else min(gap.to_ns, end_ns)
    ids = () if gap.id is None else (gap.id,)
    return FoundGap(gap.exchange, gap.symbol, lo, hi, f"live feed: {gap.reason}", ids)


def _merged(gaps: list[FoundGap]) -> list[FoundGap]:
    """One gap where recorded gaps and silences overlap, keeping every recorded id."""
    merged: list[FoundGap] = []
    for gap in gaps:
        if gap.to_ns <= gap.from_ns + 1:
            continue  # nothing lies strictly between the two ends
        last = merged[-1] if merged else None
        if last is not None and last.symbol == gap.symbol and gap.from_ns < last.to_ns:
            merged[-1] = FoundGap(
                last.exchange,
                last.symbol,
                min(last.from_ns, gap.from_ns),
                max(last.to_ns, gap.to_ns),
                last.origin if last.gap_ids else gap.origin,
                last.gap_ids + gap.gap_ids,
            )
        else:
            merged.append(gap)
    return merged
