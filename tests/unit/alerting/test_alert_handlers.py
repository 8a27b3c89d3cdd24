"""The log handler's levels, the Slack body, and building the evaluator from ``[alerting]``."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from ticklane.alerting import (
    Alert,
    LogAlertHandler,
    Severity,
    WebhookAlertHandler,
    build_alerting,
    slack_payload,
)
from ticklane.config.settings import AlertingConfig
from ticklane.core.errors import ConfigError

SECRET_URL = "https://hooks.example.com/services/T000/B000/s3cr3t-token"


def an_alert(severity: Severity = Severity.WARNING, message: str = "figures") -> Alert:
    return Alert(
        rule="channel_backpressure",
        severity=severity,
        message=message,
        ts_ns=1_700_000_000_000_000_000,
        labels={"depth": "850", "capacity": "1000"},
    )


class KeepRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.INFO, logging.INFO),
        (Severity.WARNING, logging.WARNING),
        (Severity.CRITICAL, logging.CRITICAL),
    ],
)
def test_each_severity_is_logged_at_its_own_level(severity: Severity, level: int) -> None:
    logger = logging.Logger("alerts-under-test")
    records = KeepRecords()
    logger.addHandler(records)
    alert = an_alert(severity)
    asyncio.run(LogAlertHandler(logger).handle(alert))
    [record] = records.records
    assert record.levelno == level
    assert record.alert == alert


def test_slack_body_has_the_mandatory_text_and_escapes_markup() -> None:
    body = slack_payload(an_alert(Severity.CRITICAL, "depth <!channel> & more"))
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith(":rotating_light: [CRITICAL] channel_backpressure: ")
    assert "<!channel>" not in body["text"]
    assert "&lt;!channel&gt; &amp; more" in body["text"]
    section, context = body["blocks"]
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert "&lt;!channel&gt;" in section["text"]["text"]
    assert context["type"] == "context"
    assert "2023-11-14T22:13:20.000000000Z" in context["elements"][0]["text"]
    assert "capacity=1000, depth=850" in context["elements"][0]["text"]


def test_a_very_long_message_is_clipped_to_slacks_block_limit() -> None:
    body = slack_payload(an_alert(message="x" * 5000))
    assert len(body["blocks"][0]["text"]["text"]) == 3000


def test_webhook_repr_shows_the_host_never_the_token() -> None:
    handler = WebhookAlertHandler(SECRET_URL)
    assert "s3cr3t" not in repr(handler)
    assert "hooks.example.com" in repr(handler)


@pytest.mark.parametrize("url", ["hooks.example.com/x", "ftp://hooks.example.com/x", "http://"])
def test_a_webhook_url_without_http_scheme_and_host_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="http"):
        WebhookAlertHandler(url)


def test_webhook_worst_case_covers_every_attempt_and_backoff() -> None:
    handler = WebhookAlertHandler(
        SECRET_URL, timeout_secs=2, retries=3, backoff_secs=1, max_backoff_secs=3
    )
    # 4 attempts of 2 s; waits of 1, 2 and 3 (capped from 4) s.
    assert handler.worst_case_secs == 14


def test_alerting_section_becomes_four_rules_with_its_thresholds() -> None:
    config = AlertingConfig(
        interval_secs=15,
        cooldown_secs=120,
        channel_backpressure_threshold=90.0,
        reconnection_storm_threshold=3,
        cache_failure_threshold=0.25,
    )
    evaluator = build_alerting(config, webhook_url=SECRET_URL, registry=CollectorRegistry())
    rules = {rule.name: rule for rule in evaluator.rules}
    assert list(rules) == [
        "ipc_disconnected",
        "ipc_reconnection_storm",
        "channel_backpressure",
        "cache_failure_rate",
    ]
    assert vars(rules["ipc_reconnection_storm"]) == {"threshold": 3}
    assert vars(rules["channel_backpressure"]) == {"threshold_pct": 90.0}
    assert vars(rules["cache_failure_rate"]) == {"threshold": 0.25}
    assert [handler.name for handler in evaluator.handlers] == ["log", "webhook"]
    assert evaluator.interval_secs == 15
    assert evaluator.cooldown_ns == 120 * 1_000_000_000
    assert evaluator.handler_timeout_secs == 15  # the webhook's worst case, cut to the interval
    assert evaluator.enabled


def test_disabled_section_builds_an_evaluator_that_does_not_run() -> None:
    evaluator = build_alerting(AlertingConfig(enabled=False))
    assert not evaluator.enabled
    assert [handler.name for handler in evaluator.handlers] == ["log"]
    assert evaluator.handler_timeout_secs == 10
