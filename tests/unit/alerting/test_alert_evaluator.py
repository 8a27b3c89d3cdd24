"""The evaluator: cooldown per rule, static labels, metrics, and delivery that one failing or
hanging handler cannot hold up."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from ticklane.alerting import (
    Alert,
    AlertEvaluator,
    ChannelBackpressureRule,
    HealthSnapshot,
    IpcDisconnectedRule,
    LogAlertHandler,
    ReconnectionStormRule,
    register_alert_metrics,
)

from alert_snapshots import HEALTHY, later, snapshot

SECOND_NS = 1_000_000_000
DEADLINE_S = 5.0  # a safety net against a hung test, never the thing under test


class FakeClock:
    """Monotonic nanoseconds that move only when the test says."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * SECOND_NS)


class RecordingHandler:
    """Keeps what it is given; sets `arrived` once it holds `expected` alerts."""

    def __init__(self, name: str = "recorder", expected: int = 1) -> None:
        self.name = name
        self.alerts: list[Alert] = []
        self.arrived = asyncio.Event()
        self._expected = expected

    async def handle(self, alert: Alert) -> None:
        self.alerts.append(alert)
        if len(self.alerts) >= self._expected:
            self.arrived.set()

    async def aclose(self) -> None:
        return None


class FailingHandler:
    name = "failing"

    async def handle(self, alert: Alert) -> None:
        raise ConnectionError("pager service down")

    async def aclose(self) -> None:
        return None


class HangingHandler:
    """Starts delivering and never finishes; notes when it was cancelled."""

    name = "hanging"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def handle(self, alert: Alert) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def aclose(self) -> None:
        return None


class EventLogHandler(logging.Handler):
    """A logging handler that keeps the records and sets an event on the first one."""

    def __init__(self, event: asyncio.Event) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._event = event

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._event.set()


def disconnected_at(seconds: int) -> HealthSnapshot:
    return snapshot(ipc_connected=False, ts_ns=HEALTHY.ts_ns + seconds * SECOND_NS)


def evaluator_with(clock: FakeClock, *, cooldown_secs: float = 300) -> AlertEvaluator:
    return AlertEvaluator(
        [IpcDisconnectedRule(), ChannelBackpressureRule(80.0)],
        [],
        interval_secs=30,
        cooldown_secs=cooldown_secs,
        clock=clock,
    )


# ------------------------------------------------------------------------------- cooldown


def test_disconnected_ipc_alerts_once_per_five_minute_cooldown_then_again() -> None:
    clock = FakeClock()
    evaluator = evaluator_with(clock)
    fired = []
    for second in range(0, 601, 30):
        clock.now_ns = second * SECOND_NS
        fired += [(second, alert.rule) for alert in evaluator.evaluate(disconnected_at(second))]
    assert fired == [(0, "ipc_disconnected"), (300, "ipc_disconnected"), (600, "ipc_disconnected")]


def test_one_rule_in_cooldown_does_not_silence_another() -> None:
    clock = FakeClock()
    evaluator = evaluator_with(clock)
    assert [a.rule for a in evaluator.evaluate(disconnected_at(0))] == ["ipc_disconnected"]
    clock.advance(30)
    both = snapshot(ipc_connected=False, channel_depth=900)
    assert [a.rule for a in evaluator.evaluate(both)] == ["channel_backpressure"]


def test_zero_cooldown_repeats_the_alert_at_every_evaluation() -> None:
    evaluator = evaluator_with(FakeClock(), cooldown_secs=0)
    assert len(evaluator.evaluate(disconnected_at(0))) == 1
    assert len(evaluator.evaluate(disconnected_at(30))) == 1


def test_quiet_evaluations_do_not_start_a_cooldown() -> None:
    clock = FakeClock()
    evaluator = evaluator_with(clock)
    assert evaluator.evaluate(HEALTHY) == []
    clock.advance(10)
    assert len(evaluator.evaluate(disconnected_at(10))) == 1


# ----------------------------------------------------------------- labels, metrics, baseline


def test_reconnection_storm_is_measured_between_consecutive_evaluations() -> None:
    evaluator = AlertEvaluator(
        [ReconnectionStormRule(10)], [], interval_secs=30, cooldown_secs=0, clock=FakeClock()
    )
    first = snapshot(ipc_reconnections_total=100)
    assert evaluator.evaluate(first) == []  # baseline only
    second = later(first, ipc_reconnections_total=111)
    [alert] = evaluator.evaluate(second)
    assert alert.labels["reconnects"] == "11"
    assert evaluator.evaluate(later(second, ipc_reconnections_total=112)) == []


def test_static_labels_are_added_and_the_rule_figures_kept() -> None:
    evaluator = AlertEvaluator(
        [ChannelBackpressureRule(80.0)],
        [],
        interval_secs=30,
        cooldown_secs=0,
        labels={"service": "trading-core", "depth": "overridden by the rule"},
        clock=FakeClock(),
    )
    [alert] = evaluator.evaluate(snapshot(channel_depth=850))
    assert alert.labels["service"] == "trading-core"
    assert alert.labels["depth"] == "850"


def test_fired_alerts_are_counted_per_rule_in_prometheus() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    evaluator = AlertEvaluator(
        [IpcDisconnectedRule()],
        [],
        interval_secs=30,
        cooldown_secs=60,
        metrics=register_alert_metrics(registry),
        clock=clock,
    )
    for _ in range(3):  # fires at 0 and 60 s; suppressed at 30 s
        evaluator.evaluate(disconnected_at(0))
        clock.advance(30)
    labels = {"rule": "ipc_disconnected", "severity": "CRITICAL"}
    assert registry.get_sample_value("ticklane_alerts_fired_total", labels) == 2


def test_a_broken_rule_does_not_stop_the_others() -> None:
    class BrokenRule:
        name = "broken"

        def check(self, previous: HealthSnapshot | None, current: HealthSnapshot) -> Alert | None:
            raise ZeroDivisionError("bug in a rule")

    evaluator = AlertEvaluator(
        [BrokenRule(), IpcDisconnectedRule()], [], interval_secs=30, cooldown_secs=0
    )
    assert [a.rule for a in evaluator.evaluate(disconnected_at(0))] == ["ipc_disconnected"]


def test_two_handlers_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated"):
        AlertEvaluator(
            [], [RecordingHandler("x"), RecordingHandler("x")], interval_secs=1, cooldown_secs=0
        )


# ------------------------------------------------------------------------------- delivery


def test_failing_and_hanging_handlers_do_not_hold_up_the_log_handler() -> None:
    async def scenario() -> tuple[AlertEvaluator, HangingHandler, EventLogHandler]:
        logged = asyncio.Event()
        records = EventLogHandler(logged)
        logger = logging.Logger("alerts-under-test")  # not in the global hierarchy
        logger.addHandler(records)
        hanging = HangingHandler()
        evaluator = AlertEvaluator(
            [IpcDisconnectedRule()],
            [FailingHandler(), hanging, LogAlertHandler(logger)],
            interval_secs=30,
            cooldown_secs=0,
            handler_timeout_secs=1.0,
        )
        alerts = evaluator.evaluate(disconnected_at(0))
        dispatch = asyncio.create_task(evaluator.dispatch(alerts))
        await asyncio.wait_for(logged.wait(), DEADLINE_S)
        # Logged while the hanging handler still holds its delivery, and the failing
        # handler's error already counted: neither stood in the log handler's way.
        assert hanging.started.is_set()
        assert not hanging.cancelled
        assert not dispatch.done()
        assert evaluator.handler_failures["failing"] == 1
        await asyncio.wait_for(dispatch, DEADLINE_S)
        return evaluator, hanging, records

    evaluator, hanging, records = asyncio.run(scenario())
    assert hanging.cancelled  # ended by the evaluator's timeout
    assert evaluator.handler_failures == {"failing": 1, "hanging": 1, "log": 0}
    [record] = records.records
    assert record.levelno == logging.CRITICAL


def test_handler_failures_are_exported_with_their_reason() -> None:
    registry = CollectorRegistry()

    async def scenario() -> None:
        evaluator = AlertEvaluator(
            [IpcDisconnectedRule()],
            [FailingHandler(), HangingHandler()],
            interval_secs=30,
            cooldown_secs=0,
            handler_timeout_secs=0.2,
            metrics=register_alert_metrics(registry),
        )
        await asyncio.wait_for(evaluator.run_once(lambda: disconnected_at(0)), DEADLINE_S)

    asyncio.run(scenario())
    failures = "ticklane_alert_handler_failures_total"
    assert registry.get_sample_value(failures, {"handler": "failing", "reason": "error"}) == 1
    assert registry.get_sample_value(failures, {"handler": "hanging", "reason": "timeout"}) == 1


def test_run_keeps_evaluating_after_the_health_source_fails_and_stops_on_request() -> None:
    async def scenario() -> tuple[AlertEvaluator, RecordingHandler]:
        recorder = RecordingHandler(expected=2)
        evaluator = AlertEvaluator(
            [IpcDisconnectedRule()], [recorder], interval_secs=0.01, cooldown_secs=0
        )
        calls = 0

        def source() -> HealthSnapshot:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("metrics read failed")
            return disconnected_at(calls)

        stop = asyncio.Event()
        running = asyncio.create_task(evaluator.run(source, stop))
        await asyncio.wait_for(recorder.arrived.wait(), DEADLINE_S)
        stop.set()
        await asyncio.wait_for(running, DEADLINE_S)
        return evaluator, recorder

    evaluator, recorder = asyncio.run(scenario())
    assert evaluator.source_failures == 1
    assert [alert.ts_ns for alert in recorder.alerts[:2]] == [
        disconnected_at(1).ts_ns,
        disconnected_at(3).ts_ns,
    ]


def test_disabled_alerting_returns_without_reading_the_source() -> None:
    def source() -> HealthSnapshot:
        raise AssertionError("a disabled evaluator read the health source")

    evaluator = AlertEvaluator(
        [IpcDisconnectedRule()], [], interval_secs=1, cooldown_secs=0, enabled=False
    )
    asyncio.run(asyncio.wait_for(evaluator.run(source, asyncio.Event()), DEADLINE_S))
