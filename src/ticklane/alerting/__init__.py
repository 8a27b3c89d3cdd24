"""Health alerting: rules over snapshots of the live process, a cooldown, and handlers.

::

    HealthSource() -> HealthSnapshot --AlertEvaluator.evaluate--> [Alert] --dispatch--> handlers
                                        (rules, cooldown per rule)          (log, webhook, ...)

The rules are the reference system's four: IPC disconnected (CRITICAL), IPC reconnection
storm, channel backpressure and cache failure rate (WARNING), with thresholds from
``[alerting]``; each rule's docstring states its exact condition. `build_alerting` wires them
from an `AlertingConfig`; ``await evaluator.run(source, stop_event)`` runs them every
``interval_secs``. Handlers run concurrently, each under a timeout, so a failing or hanging
one never delays the others; failures are counted per handler and exported to Prometheus via
`register_alert_metrics`.
"""

from ticklane.alerting.builder import build_alerting, build_rules
from ticklane.alerting.evaluator import AlertEvaluator
from ticklane.alerting.handlers import ALERT_LOGGER, AlertHandler, LogAlertHandler
from ticklane.alerting.metrics import AlertMetrics, register_alert_metrics
from ticklane.alerting.model import Alert, HealthSnapshot, HealthSource, Severity
from ticklane.alerting.rules import (
    AlertRule,
    CacheFailureRateRule,
    ChannelBackpressureRule,
    IpcDisconnectedRule,
    ReconnectionStormRule,
)
from ticklane.alerting.webhook import WebhookAlertHandler, WebhookRateLimitedError, slack_payload

__all__ = [
    "ALERT_LOGGER",
    "Alert",
    "AlertEvaluator",
    "AlertHandler",
    "AlertMetrics",
    "AlertRule",
    "CacheFailureRateRule",
    "ChannelBackpressureRule",
    "HealthSnapshot",
    "HealthSource",
    "IpcDisconnectedRule",
    "LogAlertHandler",
    "ReconnectionStormRule",
    "Severity",
    "WebhookAlertHandler",
    "WebhookRateLimitedError",
    "build_alerting",
    "build_rules",
    "register_alert_metrics",
    "slack_payload",
]
