"""How a reader waits for the next record: spin briefly, then short sleeps (or spin always).

A reader has nothing to block on: the writer publishes by storing to memory and makes no
system call, so waiting is polling. Polling without pause wins a few microseconds of latency
but takes a whole core, and on a 2-core machine a busy-waiting process starves the others
(the feed's own I/O threads among them). ``PollMode.ADAPTIVE`` spins for ``spin_us``, then
sleeps ``sleep_us`` between polls, and after ``idle_ms`` without a record sleeps
``idle_sleep_us`` (a quiet market costs almost nothing). ``PollMode.BUSY`` never sleeps.

Linux rounds a sleep up by the thread's timer slack (50 us by default), which would make every
short sleep at least 55 us; the adaptive poller sets the waiting thread's slack to 1 us
(``prctl(PR_SET_TIMERSLACK)``). Even so a sleep costs about 6 us here (this VM's timer), so
the default 3 us sleep polls about every 9 us: ~10 us median latency at 10,000 records/s for
~80 % of a core per reader, versus ~12 us at ~60 % with 5 us sleeps (see benchmarks/RESULTS.md).

Measured and not taken: waking readers through a futex on the cursor word (readers map the
file read-only, which FUTEX_WAIT allows) gave the same ~10 us median at ~30 % of a core, but
each wake costs the writer ~4 us here, and without a waiter count (which read-only readers
cannot keep) the writer cannot tell when to skip it; ``sched_yield`` instead of a sleep
gives the core away for whole milliseconds when another process is runnable.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Final, TypeVar

from ticklane.core.errors import ConfigError

T = TypeVar("T")

_PR_SET_TIMERSLACK: Final = 29
_TIMER_SLACK_NS: Final = 1_000
_slack_lowered = threading.local()


class PollMode(StrEnum):
    """How a reader waits for records."""

    ADAPTIVE = "adaptive"  # spin briefly, then short sleeps, longer ones when the feed is idle
    BUSY = "busy"  # spin without sleeping: lowest latency, one core per reader


class Poller:
    """Calls a probe until it returns something or the timeout passes.

    ``on_idle`` is where the reader checks, no more often than it wants, whether its segment
    was replaced; it is called when a wait finds nothing and every ``idle_check_s`` after.
    """

    def __init__(
        self,
        mode: PollMode | str,
        *,
        spin_us: float,
        sleep_us: float,
        idle_ms: float,
        idle_sleep_us: float,
        idle_check_s: float,
    ) -> None:
        try:
            self.mode = PollMode(mode)
        except ValueError:
            raise ConfigError(
                f"ipc reader poll: {mode!r} is not one of {', '.join(PollMode)}"
            ) from None
        for option, value in (
            ("spin_us", spin_us),
            ("sleep_us", sleep_us),
            ("idle_ms", idle_ms),
            ("idle_sleep_us", idle_sleep_us),
            ("idle_check_s", idle_check_s),
        ):
            if not 0 <= value <= 1e7:
                raise ConfigError(f"ipc reader {option}: {value!r} is not from 0 to 10,000,000")
        self._spin_ns = int(spin_us * 1_000)
        self._sleep_s = sleep_us / 1e6
        self._idle_ns = int(idle_ms * 1_000_000)
        self._idle_sleep_s = idle_sleep_us / 1e6
        self._check_ns = int(idle_check_s * 1e9)

    def wait(
        self, probe: Callable[[], T | None], timeout: float | None, on_idle: Callable[[], None]
    ) -> T | None:
        """What ``probe`` returned first, or None once ``timeout`` seconds passed (None: never).

        ``on_idle`` runs after the first empty probe and then about every ``idle_check_s``.
        """
        clock = time.perf_counter_ns
        started = clock()
        deadline = None if timeout is None else started + max(0, int(timeout * 1e9))
        busy = self.mode is PollMode.BUSY
        if not busy:
            lower_timer_slack()
        spin_until = started + self._spin_ns
        idle_from = started + self._idle_ns
        next_check = started
        sleep = time.sleep
        while True:
            found = probe()
            if found is not None:
                return found
            now = clock()
            if now >= next_check:
                on_idle()
                next_check = now + self._check_ns
            if deadline is not None and now >= deadline:
                return None
            if busy or now < spin_until:
                continue
            pause = self._idle_sleep_s if now >= idle_from else self._sleep_s
            if deadline is not None:
                pause = min(pause, (deadline - now) / 1e9)
            sleep(pause)


def lower_timer_slack() -> None:
    """Set this thread's timer slack to 1 us, once (Linux; elsewhere sleeps stay coarse)."""
    if getattr(_slack_lowered, "done", False):
        return
    _slack_lowered.done = True
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_TIMERSLACK, _TIMER_SLACK_NS, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: sleeps are just coarser
        pass
