"""The webhook handler against a real HTTP server: the JSON body, retries on 5xx and 429, no
retry on 4xx, and a receiver that never answers, which no other handler waits for."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from prometheus_client import CollectorRegistry

from ticklane.alerting import (
    AlertEvaluator,
    HealthSnapshot,
    IpcDisconnectedRule,
    LogAlertHandler,
    WebhookAlertHandler,
    register_alert_metrics,
)

from webhook_receiver import HOLD, WebhookReceiver

DEADLINE_S = 10.0  # a safety net against a hung test, never the thing under test
FAILURES = "ticklane_alert_handler_failures_total"

DISCONNECTED = HealthSnapshot(
    ipc_connected=False,
    ipc_reconnections_total=3,
    channel_capacity=1000,
    channel_depth=0,
    cache_operations_total=0,
    cache_failures_total=0,
    ticks_processed_total=0,
    ts_ns=1_700_000_000_000_000_000,
)


def webhook(url: str, **options: Any) -> WebhookAlertHandler:
    settings: dict[str, Any] = {"timeout_secs": 5.0, "retries": 3, "backoff_secs": 0.01}
    return WebhookAlertHandler(url, **(settings | options))


def evaluator_for(*handlers: Any, registry: CollectorRegistry | None = None) -> AlertEvaluator:
    return AlertEvaluator(
        [IpcDisconnectedRule()],
        list(handlers),
        interval_secs=30,
        cooldown_secs=0,
        handler_timeout_secs=DEADLINE_S,
        labels={"service": "trading-core"},
        metrics=register_alert_metrics(registry) if registry is not None else None,
    )


def deliver(evaluator: AlertEvaluator) -> None:
    """One evaluation of `DISCONNECTED`, delivered to every handler, handlers then closed."""

    async def scenario() -> None:
        async with evaluator:
            await asyncio.wait_for(evaluator.run_once(lambda: DISCONNECTED), DEADLINE_S)

    asyncio.run(scenario())


def test_alert_arrives_as_slack_json(webhook_receiver: WebhookReceiver) -> None:
    evaluator = evaluator_for(webhook(webhook_receiver.url))
    deliver(evaluator)
    [body] = webhook_receiver.bodies
    assert webhook_receiver.content_types == ["application/json"]
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith(":rotating_light: [CRITICAL] ipc_disconnected: IPC disconnected")
    assert [block["type"] for block in body["blocks"]] == ["section", "context"]
    assert "service=trading-core" in body["blocks"][1]["elements"][0]["text"]
    assert evaluator.handler_failures == {"webhook": 0}


def test_two_server_errors_then_success_is_delivered_after_retries(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.answer(500, 503, 200)
    evaluator = evaluator_for(webhook(webhook_receiver.url))
    deliver(evaluator)
    assert len(webhook_receiver.bodies) == 3
    assert webhook_receiver.bodies[0] == webhook_receiver.bodies[2]
    assert evaluator.handler_failures == {"webhook": 0}


def test_rate_limited_webhook_is_retried_after_retry_after(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.answer(429, 200)
    webhook_receiver.retry_after = "0"
    evaluator = evaluator_for(webhook(webhook_receiver.url))
    deliver(evaluator)
    assert len(webhook_receiver.bodies) == 2
    assert evaluator.handler_failures == {"webhook": 0}


def test_server_errors_past_the_retries_are_counted(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.answer(500, 500, 500)
    registry = CollectorRegistry()
    evaluator = evaluator_for(webhook(webhook_receiver.url, retries=2), registry=registry)
    deliver(evaluator)
    assert len(webhook_receiver.bodies) == 3
    assert evaluator.handler_failures == {"webhook": 1}
    assert registry.get_sample_value(FAILURES, {"handler": "webhook", "reason": "error"}) == 1


def test_bad_request_is_not_retried_and_counted(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.answer(400)
    registry = CollectorRegistry()
    evaluator = evaluator_for(webhook(webhook_receiver.url), registry=registry)
    deliver(evaluator)
    assert len(webhook_receiver.bodies) == 1
    assert evaluator.handler_failures == {"webhook": 1}
    assert registry.get_sample_value(FAILURES, {"handler": "webhook", "reason": "error"}) == 1


def test_refused_connection_is_retried_then_counted() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    evaluator = evaluator_for(webhook(f"http://127.0.0.1:{port}/hook", retries=1))
    deliver(evaluator)
    assert evaluator.handler_failures == {"webhook": 1}


def test_silent_receiver_times_out_while_the_log_handler_delivers_at_once(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.answer(HOLD, HOLD)
    registry = CollectorRegistry()

    async def scenario() -> AlertEvaluator:
        logged = asyncio.Event()
        logger = logging.Logger("alerts-under-test")  # not in the global hierarchy
        logger.addHandler(_SetOnRecord(logged))
        silent = webhook(webhook_receiver.url, timeout_secs=1.0, retries=1)
        evaluator = evaluator_for(silent, LogAlertHandler(logger), registry=registry)
        async with evaluator:
            delivery = asyncio.create_task(evaluator.run_once(lambda: DISCONNECTED))
            await asyncio.wait_for(logged.wait(), DEADLINE_S)
            # The log handler is done although the webhook is still waiting for its answer.
            assert await asyncio.to_thread(webhook_receiver.received.wait, DEADLINE_S)
            assert not delivery.done()
            await asyncio.wait_for(delivery, DEADLINE_S)
        return evaluator

    evaluator = asyncio.run(scenario())
    assert len(webhook_receiver.bodies) == 2  # the first attempt and its one retry
    assert evaluator.handler_failures == {"webhook": 1, "log": 0}
    assert registry.get_sample_value(FAILURES, {"handler": "webhook", "reason": "error"}) == 1


def test_evaluator_deadline_ends_a_webhook_slower_than_it(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.answer(HOLD)
    registry = CollectorRegistry()
    evaluator = AlertEvaluator(
        [IpcDisconnectedRule()],
        [webhook(webhook_receiver.url, timeout_secs=30.0, retries=0)],
        interval_secs=30,
        cooldown_secs=0,
        handler_timeout_secs=0.5,
        metrics=register_alert_metrics(registry),
    )
    deliver(evaluator)
    assert evaluator.handler_failures == {"webhook": 1}
    assert registry.get_sample_value(FAILURES, {"handler": "webhook", "reason": "timeout"}) == 1


class _SetOnRecord(logging.Handler):
    def __init__(self, event: asyncio.Event) -> None:
        super().__init__(logging.DEBUG)
        self._event = event

    def emit(self, record: logging.LogRecord) -> None:
        self._event.set()
