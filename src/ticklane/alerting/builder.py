"""From the ``[alerting]`` section to a ready `AlertEvaluator`: the one place rules, handlers
and metrics are wired together."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import httpx
from prometheus_client import CollectorRegistry

from ticklane.alerting.evaluator import AlertEvaluator
from ticklane.alerting.handlers import AlertHandler, LogAlertHandler
from ticklane.alerting.metrics import register_alert_metrics
from ticklane.alerting.rules import (
    AlertRule,
    CacheFailureRateRule,
    ChannelBackpressureRule,
    IpcDisconnectedRule,
    ReconnectionStormRule,
)
from ticklane.alerting.webhook import WebhookAlertHandler
from ticklane.config.settings import AlertingConfig

__all__ = ["build_alerting", "build_rules"]

_DEFAULT_HANDLER_TIMEOUT_SECS: Final = 10.0


def build_rules(config: AlertingConfig) -> list[AlertRule]:
    """The four rules of the reference system with the thresholds of `config`."""
    return [
        IpcDisconnectedRule(),
        ReconnectionStormRule(config.reconnection_storm_threshold),
        ChannelBackpressureRule(config.channel_backpressure_threshold),
        CacheFailureRateRule(config.cache_failure_threshold),
    ]


def build_alerting(
    config: AlertingConfig,
    *,
    registry: CollectorRegistry | None = None,
    webhook_url: str | None = None,
    webhook_timeout_secs: float = 5.0,
    webhook_retries: int = 3,
    webhook_client: httpx.AsyncClient | None = None,
    handlers: Sequence[AlertHandler] = (),
    handler_timeout_secs: float | None = None,
    labels: Mapping[str, str] | None = None,
    clock: Callable[[], int] = time.monotonic_ns,
) -> AlertEvaluator:
    """An evaluator of the four rules, logging every alert and POSTing it to `webhook_url`.

    Options:
        config: the ``[alerting]`` section (thresholds, interval, cooldown, enabled).
        registry: where to register the Prometheus counters; None for no metrics.
        webhook_url: a Slack-compatible incoming-webhook URL; None for no webhook.
        webhook_timeout_secs, webhook_retries: see `WebhookAlertHandler`.
        webhook_client: an ``httpx.AsyncClient`` for the webhook to share.
        handlers: further handlers, after the log (and webhook) handler.
        handler_timeout_secs: deadline per handler and alert; by default 10 s, or long enough
            for all the webhook's attempts and backoffs if that is more, but never more than
            ``interval_secs``.
        labels: static labels added to every alert (service, host).
        clock: monotonic nanoseconds for the cooldown (tests inject their own).
    """
    chosen: list[AlertHandler] = [LogAlertHandler()]
    needed_secs = _DEFAULT_HANDLER_TIMEOUT_SECS
    if webhook_url is not None:
        webhook = WebhookAlertHandler(
            webhook_url,
            timeout_secs=webhook_timeout_secs,
            retries=webhook_retries,
            client=webhook_client,
        )
        chosen.append(webhook)
        # A second of slack so the webhook's own last timeout, not ours, ends a dead attempt.
        needed_secs = max(needed_secs, webhook.worst_case_secs + 1.0)
    chosen.extend(handlers)
    if handler_timeout_secs is None:
        # Whatever the webhook needs, a delivery ends before the next evaluation is due.
        handler_timeout_secs = min(needed_secs, float(config.interval_secs))
    return AlertEvaluator(
        build_rules(config),
        chosen,
        interval_secs=config.interval_secs,
        cooldown_secs=config.cooldown_secs,
        handler_timeout_secs=handler_timeout_secs,
        enabled=config.enabled,
        labels=labels,
        metrics=register_alert_metrics(registry) if registry is not None else None,
        clock=clock,
    )
