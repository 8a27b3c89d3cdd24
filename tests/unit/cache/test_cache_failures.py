"""An outage is reported once per interval and its end once, whatever the failure count; a
backend failing again and again is left alone for a growing pause."""

from __future__ import annotations

import logging

import pytest

from ticklane.cache.failures import Backoff, FailureLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_thousands_of_failures_in_one_interval_give_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures = FailureLog(logging.getLogger("test.cache"), "Redis cache", 10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.cache"):
        for _ in range(5000):
            failures.failed("put_many", ConnectionError("refused"))
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        clock.now += 10.0
        failures.failed("put_many", ConnectionError("refused"))
        failures.succeeded()
        failures.succeeded()
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING, logging.INFO]


def test_a_blip_inside_an_interval_logs_no_recovery_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    failures = FailureLog(logging.getLogger("test.cache"), "Redis cache", 10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.cache"):
        failures.failed("recent", TimeoutError())
        failures.succeeded()
        clock.now += 1.0
        failures.failed("recent", TimeoutError())  # within the interval: not reported
        failures.succeeded()
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def test_three_failures_in_a_row_pause_the_backend_and_each_failed_retry_doubles_it() -> None:
    clock = Clock()
    backoff = Backoff(after=3, first=0.5, longest=2.0, clock=clock, jitter=lambda: 1.0)
    for _ in range(2):
        backoff.failed()
        assert not backoff.skipping()
    backoff.failed()
    assert backoff.skipping()
    clock.now += 0.5
    assert not backoff.skipping()  # time for one try
    backoff.failed()
    clock.now += 0.9
    assert backoff.skipping()  # the pause is 1 s now
    clock.now += 0.1
    assert not backoff.skipping()
    for _ in range(10):
        backoff.failed()
    clock.now += 2.0
    assert not backoff.skipping()  # never longer than `longest`


def test_one_success_ends_the_pause_and_the_count() -> None:
    clock = Clock()
    backoff = Backoff(after=2, clock=clock)
    backoff.failed()
    backoff.succeeded()
    backoff.failed()
    assert not backoff.skipping()
    backoff.failed()
    assert backoff.skipping()
    backoff.succeeded()
    assert not backoff.skipping()
