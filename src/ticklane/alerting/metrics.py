"""Prometheus counters of the alerting system, registered on a registry the caller owns.

Exported (prometheus-client adds the ``_total`` suffix):

- ``ticklane_alerts_fired_total{rule, severity}``: alerts sent to the handlers (after the
  cooldown; suppressed repeats are not counted).
- ``ticklane_alert_handler_failures_total{handler, reason}``: deliveries a handler failed,
  ``reason`` being ``error`` (it raised) or ``timeout`` (it did not finish in time).
- ``ticklane_alert_evaluations_total``: evaluations run (the evaluator is alive and checking).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

__all__ = ["AlertMetrics", "register_alert_metrics"]


@dataclass(frozen=True, slots=True)
class AlertMetrics:
    """The counters the evaluator increments."""

    alerts_fired: Counter
    handler_failures: Counter
    evaluations: Counter


def register_alert_metrics(registry: CollectorRegistry) -> AlertMetrics:
    """Create the alerting counters on `registry` (never the global one, so tests are isolated).

    Raises ValueError (from prometheus-client) if they are already registered there.
    """
    return AlertMetrics(
        alerts_fired=Counter(
            "ticklane_alerts_fired",
            "Alerts sent to the handlers, per rule and severity.",
            ("rule", "severity"),
            registry=registry,
        ),
        handler_failures=Counter(
            "ticklane_alert_handler_failures",
            "Alert deliveries a handler failed, per handler and reason (error, timeout).",
            ("handler", "reason"),
            registry=registry,
        ),
        evaluations=Counter(
            "ticklane_alert_evaluations",
            "Evaluations of the alert rules run.",
            registry=registry,
        ),
    )
