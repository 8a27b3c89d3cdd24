"""The cheapest source that has the data: a chain of sources tried in order, free ones first.

For each chunk the chain asks its sources in order; the first that serves the instrument
fetches it. When a source says it has no data for that chunk (``SourceHasNoDataError``, e.g.
today's archive file is not published yet) and has yielded nothing, the next one is tried.
A paid source is reached only through ``approve``, which checks the budget and may refuse.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing

from ticklane.core.errors import NoDataError, PermanentError
from ticklane.datamanager.history.source import (
    Batch,
    Chunk,
    ChunkReport,
    Estimate,
    HistorySource,
    ProvenanceKind,
    SourceHasNoDataError,
)

Approve = Callable[[HistorySource, Chunk, Estimate], Awaitable[None]]


class SourceChain:
    """A ``HistorySource`` made of others, cheapest first."""

    def __init__(self, sources: Sequence[HistorySource], *, approve: Approve | None = None) -> None:
        if not sources:
            raise PermanentError("no history source is configured")
        self._sources = tuple(sources)
        self._approve = approve

    @property
    def name(self) -> str:
        return "auto"

    @property
    def kind(self) -> ProvenanceKind:
        return self._sources[0].kind

    @property
    def paid(self) -> bool:
        return False  # paid members are approved chunk by chunk

    @property
    def whole_files(self) -> bool:
        return all(source.whole_files for source in self._sources)

    @property
    def members(self) -> tuple[HistorySource, ...]:
        return self._sources

    def serving(self, exchange: str, symbol: str) -> list[HistorySource]:
        return [s for s in self._sources if s.unsupported(exchange, symbol) is None]

    def unsupported(self, exchange: str, symbol: str) -> str | None:
        if self.serving(exchange, symbol):
            return None
        reasons = "; ".join(f"{s.name}: {s.unsupported(exchange, symbol)}" for s in self._sources)
        return f"no source serves it ({reasons})"

    def chunks(self, exchange: str, symbol: str, start_ns: int, end_ns: int) -> list[Chunk]:
        return self.serving(exchange, symbol)[0].chunks(exchange, symbol, start_ns, end_ns)

    async def estimate(self, chunk: Chunk) -> Estimate:
        source = self.serving(chunk.exchange, chunk.symbol)[0]
        return await source.estimate(chunk)

    async def fetch(self, chunk: Chunk, report: ChunkReport) -> AsyncGenerator[Batch, None]:
        tried: list[str] = []
        for source in self.serving(chunk.exchange, chunk.symbol):
            if source.paid:
                estimate = await source.estimate(chunk)
                if self._approve is None:
                    tried.append(f"{source.name}: paid, not allowed here")
                    continue
                await self._approve(source, chunk, estimate)
                report.cost_usd = estimate.cost_usd
            yielded = False
            try:
                async with aclosing(source.fetch(chunk, report)) as batches:
                    async for batch in batches:
                        yielded = True
                        yield batch
            except NoDataError as error:
                if yielded:
                    raise
                tried.append(f"{source.name}: {error}")
                report.clear()
                continue
            report.served_by = source.name
            report.served_kind = source.kind
            return
        raise SourceHasNoDataError(
            f"no source has {chunk.exchange} {chunk.symbol} for this range: " + "; ".join(tried)
        )

    async def aclose(self) -> None:
        """Close every member, even when one fails to close."""
        failures: list[BaseException] = []
        for source in self._sources:
            try:
                await source.aclose()
            except Exception as error:
                failures.append(error)
        if failures:
            raise failures[0]
