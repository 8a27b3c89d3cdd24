"""``trading-core live``: market data from the ring, validated, cached, traded on paper.

    IpcExchange ─▶ MarketDataService ─┬─▶ cache (memory, Redis)
                                      └─▶ PaperTrader (--paper-trading) ─▶ live_strategy_log
    health ─▶ alert evaluator ─▶ log, webhook          metrics ─▶ Prometheus endpoint

``LiveService.run`` runs until ``stop`` is set (SIGINT, SIGTERM): the reader stops, the
channel is drained through the strategy, then the cache, the strategy log and the alert
handlers are closed, within ``SHUTDOWN_SECS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ticklane.alerting import HealthSnapshot, build_alerting
from ticklane.cache.base import TickCache
from ticklane.cache.build import build_tick_cache
from ticklane.config.settings import Settings
from ticklane.core.records import TradeRecord
from ticklane.core.time import NANOS_PER_MILLI, NANOS_PER_SECOND
from ticklane.live.ipc_exchange import IpcExchange
from ticklane.live.market_data import MarketDataService, TickValidator

log = logging.getLogger(__name__)

SHUTDOWN_SECS: Final = 15.0
_NO_AGE_LIMIT: Final = 2**62


class Trader(Protocol):
    """What the service drives: the paper trader (``ticklane.live.paper``)."""

    def on_trade(self, trade: TradeRecord) -> None: ...

    def on_clock(self, now_ns: int) -> None: ...

    async def aclose(self) -> None: ...


class LiveService:
    """The live process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        symbols: Iterable[str],
        trader: Trader | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        live = settings.live
        self.exchange = IpcExchange(settings.data_manager.ipc.name)
        max_age = live.max_age_secs * NANOS_PER_SECOND if live.max_age_secs else _NO_AGE_LIMIT
        self.validator = TickValidator(
            symbols, max_future_ns=live.max_future_ms * NANOS_PER_MILLI, max_age_ns=max_age
        )
        self.trader = trader
        self.cache: TickCache | None = None  # built inside the event loop (redis-py's needs)
        self.market_data: MarketDataService | None = None
        self.registry = CollectorRegistry()
        self._metrics_port = live.metrics_port if metrics_port is None else metrics_port

    def health(self) -> HealthSnapshot:
        """The figures the alert rules read."""
        market = self.market_data
        cache = self.cache.stats if self.cache is not None else None
        return HealthSnapshot(
            ipc_connected=self.exchange.stats.connected,
            ipc_reconnections_total=self.exchange.stats.reconnections,
            channel_capacity=market.capacity if market is not None else 0,
            channel_depth=market.channel_depth if market is not None else 0,
            cache_operations_total=cache.ticks_written if cache is not None else 0,
            cache_failures_total=cache.ticks_failed if cache is not None else 0,
            ticks_processed_total=market.stats.processed if market is not None else 0,
            ts_ns=time.time_ns(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        self.cache = build_tick_cache(settings.cache)
        self.market_data = MarketDataService(
            self.exchange,
            self.validator,
            capacity=settings.live.channel_capacity,
            cache=self.cache,
            on_trade=self.trader.on_trade if self.trader is not None else None,
        )
        alerting = settings.alerting
        evaluator = build_alerting(
            alerting,
            registry=self.registry,
            webhook_url=alerting.webhook_url.get_secret_value() if alerting.webhook_url else None,
            webhook_timeout_secs=alerting.webhook_timeout_secs,
            webhook_retries=alerting.webhook_retries,
            labels={"service": "trading-core"},
        )
        if self._metrics_port:
            self.registry.register(LiveCollector(self))
            start_http_server(self._metrics_port, addr="127.0.0.1", registry=self.registry)
            log.info("metrics on http://127.0.0.1:%d/metrics", self._metrics_port)
        tasks = [
            asyncio.create_task(self.market_data.run(stop), name="market-data"),
            # The first evaluation waits one interval: the ring is attached in the loop's first
            # iterations, and "IPC disconnected" must not fire while it is being attached.
            asyncio.create_task(
                evaluator.run(self.health, stop, first_after=evaluator.interval_secs),
                name="alerting",
            ),
        ]
        if self.trader is not None:
            tasks.append(asyncio.create_task(self._clock(stop), name="clock"))
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                async with asyncio.timeout(SHUTDOWN_SECS):
                    await self._close(evaluator)
            except TimeoutError:
                log.error("stopping took longer than %.0f s", SHUTDOWN_SECS)

    async def _clock(self, stop: asyncio.Event) -> None:
        """The real-time bar driver's clock: checked every second."""
        assert self.trader is not None
        while not stop.is_set():
            self.trader.on_clock(time.time_ns())
            try:
                async with asyncio.timeout(1.0):
                    await stop.wait()
            except TimeoutError:
                pass

    async def _close(self, evaluator: object) -> None:
        if self.trader is not None:
            await self.trader.aclose()
        if self.cache is not None:
            await self.cache.close()
        aclose = getattr(evaluator, "aclose", None)
        if aclose is not None:
            await aclose()


class LiveCollector(Collector):
    """trading-core's metrics, read from the service's counters at scrape time."""

    def __init__(self, service: LiveService) -> None:
        self._service = service

    def collect(self) -> Iterable[Metric]:
        service = self._service
        ipc = service.exchange.stats
        connected = GaugeMetricFamily(
            "ticklane_ipc_connected", "1 while the IPC ring has a live writer."
        )
        connected.add_metric([], 1.0 if ipc.connected else 0.0)
        reconnections = CounterMetricFamily(
            "ticklane_ipc_reconnections", "data-manager restarts or returns seen."
        )
        reconnections.add_metric([], ipc.reconnections)
        lost = CounterMetricFamily("ticklane_ipc_lost_records", "Records overwritten unread.")
        lost.add_metric([], ipc.lost)
        yield from (connected, reconnections, lost)
        market = service.market_data
        if market is not None:
            processed = CounterMetricFamily("ticklane_ticks_processed", "Trades processed.")
            processed.add_metric([], market.stats.processed)
            rejected = CounterMetricFamily(
                "ticklane_ticks_rejected", "Trades rejected, by reason.", labels=["reason"]
            )
            for reason, count in sorted(market.stats.rejected.items()):
                rejected.add_metric([reason], count)
            utilization = GaugeMetricFamily(
                "ticklane_channel_utilization_ratio", "Fill of the tick channel, 0 to 1."
            )
            utilization.add_metric([], market.channel_utilization)
            yield from (processed, rejected, utilization)
        cache = service.cache
        if cache is not None:
            stats = cache.stats
            cache_ops = CounterMetricFamily(
                "ticklane_cache_ticks",
                "Ticks written to the cache, by outcome.",
                labels=["outcome"],
            )
            cache_ops.add_metric(["written"], stats.ticks_written - stats.ticks_failed)
            cache_ops.add_metric(["failed"], stats.ticks_failed)
            yield cache_ops
