"""What a cache does about a failing backend: report it sparingly, and stop waiting on it.

An outage of Redis fails every cache operation, thousands a second. ``FailureLog`` gives the
log one warning per ``interval`` with how many failed since the last one, and one line when
operations succeed again (the counts themselves are in ``CacheStats``). ``Backoff`` stops
trying Redis for a short, growing pause after a few failures in a row, so that a stalled server
does not cost every operation its full timeout.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable


class FailureLog:
    """Logs failures of ``backend`` at most once per ``interval`` seconds, and the recovery."""

    def __init__(
        self,
        log: logging.Logger,
        backend: str,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._backend = backend
        self._interval = interval
        self._clock = clock
        self._last_report: float | None = None
        self._unreported = 0  # failures since the last warning
        self._outage = 0  # failures since the last success
        self._outage_reported = False  # a warning was logged during this outage

    def failed(self, operation: str, error: BaseException) -> None:
        """Record one failed operation (``operation`` names what and for which instrument)."""
        self._unreported += 1
        self._outage += 1
        now = self._clock()
        if self._last_report is None or now - self._last_report >= self._interval:
            self._log.warning(
                "%s: %s failed (%d cache failures since the last report, carrying on without "
                "it): %s",
                self._backend,
                operation,
                self._unreported,
                describe(error),
            )
            self._last_report = now
            self._unreported = 0
            self._outage_reported = True

    def succeeded(self) -> None:
        """Record one successful operation; logs the recovery of an outage that was reported."""
        if self._outage:
            if self._outage_reported:
                self._log.info(
                    "%s: answering again after %d failed cache operations",
                    self._backend,
                    self._outage,
                )
            self._outage = 0
            self._outage_reported = False


def describe(error: BaseException) -> str:
    """``ConnectionError: Error 111 connecting ...``; the class alone when there is no text."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Backoff:
    """After ``after`` failures in a row, skip the backend for a pause, then try once again.

    A stalled Redis (paused, overloaded, a dropped route) costs every operation the full
    timeout; skipping it for a while keeps the feed's latency flat during the outage. The pause
    starts at ``first`` seconds and doubles with every failed retry up to ``longest``, with
    jitter so that many processes do not retry in step. Any success ends it.
    """

    def __init__(
        self,
        *,
        after: int = 3,
        first: float = 0.5,
        longest: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.0),
    ) -> None:
        if after < 1 or not 0 < first <= longest:
            raise ValueError("backoff: need after >= 1 and 0 < first <= longest")
        self._after = after
        self._first = first
        self._longest = longest
        self._clock = clock
        self._jitter = jitter
        self._in_a_row = 0
        self._until = 0.0

    def skipping(self) -> bool:
        """True while paused: the caller should not try the backend now."""
        return self._in_a_row >= self._after and self._clock() < self._until

    def failed(self) -> None:
        self._in_a_row += 1
        retries = self._in_a_row - self._after
        if retries >= 0:
            pause = min(self._longest, self._first * 2 ** min(retries, 32))
            self._until = self._clock() + pause * self._jitter()

    def succeeded(self) -> None:
        self._in_a_row = 0
