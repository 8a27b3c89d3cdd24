"""What the alert rules read and what they raise: `HealthSnapshot` in, `Alert` out.

The live process supplies a `HealthSource`, a callable returning the current snapshot of its
counters and gauges; the evaluator calls it once per interval. Counters are cumulative since
the process started (like Prometheus counters): the rules that speak of "within the interval"
work on the difference between two consecutive snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import msgspec

__all__ = ["Alert", "HealthSnapshot", "HealthSource", "Severity"]


class Severity(StrEnum):
    """How urgent an alert is; the log handler logs at the stdlib level of the same name."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class HealthSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The live process's health at one moment.

    Fields:
        ipc_connected: the shared-memory IPC reader is attached to a live writer.
        ipc_reconnections_total: IPC reconnections since the process started.
        channel_capacity: slots of the tick channel between collection and processing;
            0 when there is no such channel.
        channel_depth: slots in use now.
        cache_operations_total: cache updates attempted since the process started.
        cache_failures_total: cache updates that failed since the process started.
        ticks_processed_total: ticks processed since the process started.
        ts_ns: when the snapshot was taken, UTC nanoseconds since the epoch.
    """

    ipc_connected: bool
    ipc_reconnections_total: int
    channel_capacity: int
    channel_depth: int
    cache_operations_total: int
    cache_failures_total: int
    ticks_processed_total: int
    ts_ns: int


# Called by the evaluator on the event loop once per interval: it must return at once (read
# counters, never do I/O). An exception is logged and that evaluation is skipped.
HealthSource = Callable[[], HealthSnapshot]


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One firing of a rule.

    Fields:
        rule: the rule's name, e.g. ``ipc_disconnected``.
        severity: INFO, WARNING or CRITICAL.
        message: one line for a human, with the figures that crossed the threshold.
        ts_ns: the `HealthSnapshot.ts_ns` the rule evaluated.
        labels: the same figures and the evaluator's static labels (service, host), as text.
    """

    rule: str
    severity: Severity
    message: str
    ts_ns: int
    labels: dict[str, str] = msgspec.field(default_factory=dict)
