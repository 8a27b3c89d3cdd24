"""The alert evaluator: rules over health snapshots, a cooldown per rule, and delivery.

`AlertEvaluator.evaluate` is synchronous and does no I/O: given a snapshot it runs every rule
against it and the previous snapshot and returns the alerts the cooldown lets through; its
clock is injectable, so tests drive it without waiting. `AlertEvaluator.run` is the async
edge: every ``interval_secs`` it reads the `HealthSource`, evaluates, and `dispatch` hands the
alerts to every handler at once, each handler in its own task under ``handler_timeout_secs``.
What a handler raises, or a timeout, is logged and counted per handler (``handler_failures``
and the Prometheus counter); the other handlers are neither stopped nor delayed by it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Literal, Self

import msgspec

from ticklane.alerting.handlers import AlertHandler
from ticklane.alerting.metrics import AlertMetrics
from ticklane.alerting.model import Alert, HealthSnapshot, HealthSource
from ticklane.alerting.rules import AlertRule
from ticklane.core.errors import TicklaneError
from ticklane.core.time import NANOS_PER_SECOND

__all__ = ["AlertEvaluator"]

log = logging.getLogger(__name__)


def _unique(kind: str, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"alerting: each {kind} needs its own name; repeated: {repeated}")


class AlertEvaluator:
    """Evaluates `rules` on health snapshots and delivers what fires to `handlers`.

    Options:
        rules: the rules, each with a distinct name.
        handlers: where alerts go, each with a distinct name.
        interval_secs: seconds between evaluations in `run`, > 0.
        cooldown_secs: seconds after a rule fired during which it stays silent, >= 0; the
            cooldown is per rule, so one rule firing never silences another.
        handler_timeout_secs: deadline of one handler delivering one alert, > 0.
        enabled: when false, `run` logs that alerting is off and returns at once.
        labels: static labels added to every alert (service, host); a rule's own labels win.
        metrics: Prometheus counters from `register_alert_metrics`, or None for none.
        clock: monotonic nanoseconds, for the cooldown; injectable for tests.
    """

    def __init__(
        self,
        rules: Sequence[AlertRule],
        handlers: Sequence[AlertHandler],
        *,
        interval_secs: float,
        cooldown_secs: float,
        handler_timeout_secs: float = 10.0,
        enabled: bool = True,
        labels: Mapping[str, str] | None = None,
        metrics: AlertMetrics | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if interval_secs <= 0 or cooldown_secs < 0 or handler_timeout_secs <= 0:
            raise ValueError(
                "alerting: need interval_secs > 0, cooldown_secs >= 0, handler_timeout_secs > 0"
            )
        _unique("rule", [rule.name for rule in rules])
        _unique("handler", [handler.name for handler in handlers])
        self.rules = tuple(rules)
        self.handlers = tuple(handlers)
        self.interval_secs = interval_secs
        self.cooldown_ns = round(cooldown_secs * NANOS_PER_SECOND)
        self.handler_timeout_secs = handler_timeout_secs
        self.enabled = enabled
        self._labels = dict(labels or {})
        self._metrics = metrics
        self._clock = clock
        self._previous: HealthSnapshot | None = None
        self._last_fired_ns: dict[str, int] = {}
        # Failed deliveries per handler name (exceptions and timeouts alike).
        self.handler_failures: dict[str, int] = {handler.name: 0 for handler in self.handlers}
        self.source_failures = 0  # evaluations skipped because the HealthSource raised

    # ---------------------------------------------------------------------------- evaluation

    def evaluate(self, snapshot: HealthSnapshot) -> list[Alert]:
        """The alerts `snapshot` raises, less those of rules still in their cooldown.

        Interval rules compare `snapshot` with the one of the previous call; the first call
        sets that baseline. A rule that raises is logged and skipped; the others still run.
        """
        previous, self._previous = self._previous, snapshot
        now_ns = self._clock()
        if self._metrics is not None:
            self._metrics.evaluations.inc()
        alerts = []
        for rule in self.rules:
            try:
                alert = rule.check(previous, snapshot)
            except Exception:
                log.exception(
                    "alert rule %s failed on snapshot ts_ns=%d", rule.name, snapshot.ts_ns
                )
                continue
            if alert is None:
                continue
            last_ns = self._last_fired_ns.get(rule.name)
            if last_ns is not None and now_ns - last_ns < self.cooldown_ns:
                log.debug("alert %s suppressed by its cooldown: %s", rule.name, alert.message)
                continue
            self._last_fired_ns[rule.name] = now_ns
            if self._labels:
                alert = msgspec.structs.replace(alert, labels={**self._labels, **alert.labels})
            if self._metrics is not None:
                self._metrics.alerts_fired.labels(alert.rule, alert.severity.value).inc()
            alerts.append(alert)
        return alerts

    # ------------------------------------------------------------------------------ delivery

    async def dispatch(self, alerts: Sequence[Alert]) -> None:
        """Deliver `alerts` to every handler concurrently; returns when all are done.

        Each handler delivers the alerts in order in its own task, each alert under
        ``handler_timeout_secs``. Never raises for a handler's failure (it is counted).
        """
        if not alerts or not self.handlers:
            return
        async with asyncio.TaskGroup() as group:
            for handler in self.handlers:
                group.create_task(self._deliver(handler, alerts), name=f"alert-{handler.name}")

    async def _deliver(self, handler: AlertHandler, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            try:
                async with asyncio.timeout(self.handler_timeout_secs):
                    await handler.handle(alert)
            except TimeoutError:
                self._count_failure(handler, alert, "timeout")
            except TicklaneError as error:
                # An expected failure (the receiver refused, stayed silent): its message says
                # enough, a traceback would only bury it.
                self._count_failure(handler, alert, "error", error)
            except Exception:
                self._count_failure(handler, alert, "error")

    def _count_failure(
        self,
        handler: AlertHandler,
        alert: Alert,
        reason: Literal["error", "timeout"],
        expected: TicklaneError | None = None,
    ) -> None:
        self.handler_failures[handler.name] += 1
        if self._metrics is not None:
            self._metrics.handler_failures.labels(handler.name, reason).inc()
        if reason == "timeout":
            log.error(
                "alert handler %s did not deliver %s within %gs",
                handler.name,
                alert.rule,
                self.handler_timeout_secs,
            )
        elif expected is not None:
            log.error(
                "alert handler %s could not deliver %s: %s", handler.name, alert.rule, expected
            )
        else:
            # Called from the except block above, so the traceback is the handler's.
            log.exception("alert handler %s failed to deliver %s", handler.name, alert.rule)

    # ------------------------------------------------------------------------------ the loop

    async def run_once(self, source: HealthSource) -> list[Alert]:
        """Read `source`, evaluate and dispatch; the alerts sent (none if `source` raised)."""
        try:
            snapshot = source()
        except Exception:
            self.source_failures += 1
            log.exception("alerting: the health source failed; this evaluation is skipped")
            return []
        alerts = self.evaluate(snapshot)
        await self.dispatch(alerts)
        return alerts

    async def run(
        self, source: HealthSource, stop_event: asyncio.Event, *, first_after: float = 0.0
    ) -> None:
        """Evaluate every ``interval_secs`` until `stop_event` is set.

        The first evaluation runs after ``first_after`` seconds (level rules may fire then;
        interval rules take their baseline): a process starting up passes its grace, so a
        connection still being made is not reported lost. Intervals are measured start to
        start; a delivery slower than the interval delays the next evaluation, never skips
        it. Handlers are not closed here: use `aclose()` or ``async with``.
        """
        if not self.enabled:
            log.info("alerting is disabled ([alerting] enabled = false)")
            return
        if first_after > 0 and await _stopped_within(stop_event, first_after):
            return
        loop = asyncio.get_running_loop()
        log.info(
            "alerting: %d rules every %gs, cooldown %gs, handlers %s",
            len(self.rules),
            self.interval_secs,
            self.cooldown_ns / NANOS_PER_SECOND,
            ", ".join(handler.name for handler in self.handlers) or "none",
        )
        while not stop_event.is_set():
            started = loop.time()
            await self.run_once(source)
            remaining = self.interval_secs - (loop.time() - started)
            await _stopped_within(stop_event, max(remaining, 0.0))

    async def aclose(self) -> None:
        """Close every handler; one failing to close is logged and the others still closed."""
        for handler in self.handlers:
            try:
                await handler.aclose()
            except Exception:
                log.exception("alert handler %s failed to close", handler.name)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _stopped_within(stop_event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for `stop_event`; whether it was set."""
    try:
        async with asyncio.timeout(seconds):
            await stop_event.wait()
    except TimeoutError:
        return False
    return True
