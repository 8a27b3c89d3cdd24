"""The four health rules of the reference system, each a threshold on a `HealthSnapshot`.

A rule is given the previous snapshot (None at the first evaluation) and the current one and
returns an `Alert` or None. Level rules (IPC disconnected, channel backpressure) read only the
current snapshot; interval rules (reconnection storm, cache failure rate) read the difference
of two cumulative counters, so they stay silent at the first evaluation, which only sets the
baseline. A counter that went down means the source restarted: the new value is then the
count since the restart (Prometheus' counter-reset rule).

Ratios are compared as correctly rounded divisions, so a ratio exactly at the threshold
(3 failures in 30 ticks against 0.1) fires; ``failures >= 0.1 * ticks`` would not, as
``0.1 * 30`` is 3.0000000000000004 in binary floating point.
"""

from __future__ import annotations

from typing import Final, Protocol

from ticklane.alerting.model import Alert, HealthSnapshot, Severity
from ticklane.core.time import NANOS_PER_SECOND

__all__ = [
    "AlertRule",
    "CacheFailureRateRule",
    "ChannelBackpressureRule",
    "IpcDisconnectedRule",
    "ReconnectionStormRule",
]


class AlertRule(Protocol):
    """A condition on the process's health; `name` is unique among an evaluator's rules."""

    @property
    def name(self) -> str: ...

    def check(self, previous: HealthSnapshot | None, current: HealthSnapshot) -> Alert | None:
        """The alert when the condition holds for `current` (and `previous`), else None."""
        ...


def _increase(previous: int, current: int) -> int:
    """How much a cumulative counter grew; a drop is a restart, counted from zero."""
    return current - previous if current >= previous else current


def _interval_text(previous: HealthSnapshot, current: HealthSnapshot) -> str:
    seconds = (current.ts_ns - previous.ts_ns) / NANOS_PER_SECOND
    return f"{seconds:.1f}s"


class IpcDisconnectedRule:
    """IPC Disconnected (CRITICAL): "IPC connection status = 0".

    Fires when ``current.ipc_connected`` is false.
    """

    name: Final = "ipc_disconnected"
    severity: Final = Severity.CRITICAL

    def check(self, previous: HealthSnapshot | None, current: HealthSnapshot) -> Alert | None:
        if current.ipc_connected:
            return None
        return Alert(
            rule=self.name,
            severity=self.severity,
            message="IPC disconnected: no live shared-memory writer; no ticks are arriving",
            ts_ns=current.ts_ns,
            labels={"ipc_connected": "false"},
        )


class ReconnectionStormRule:
    """IPC Reconnection Storm (WARNING): "Reconnections > `threshold` attempts", per interval.

    Fires when the IPC reconnections since the previous evaluation are strictly more than
    `threshold` (the reference's ``reconnection_storm_threshold``, default 10). Silent at the
    first evaluation.
    """

    name: Final = "ipc_reconnection_storm"
    severity: Final = Severity.WARNING

    def __init__(self, threshold: int) -> None:
        if threshold < 0:
            raise ValueError(f"reconnection storm threshold must be >= 0; got {threshold}")
        self.threshold = threshold

    def check(self, previous: HealthSnapshot | None, current: HealthSnapshot) -> Alert | None:
        if previous is None:
            return None
        reconnects = _increase(previous.ipc_reconnections_total, current.ipc_reconnections_total)
        if reconnects <= self.threshold:
            return None
        interval = _interval_text(previous, current)
        return Alert(
            rule=self.name,
            severity=self.severity,
            message=(
                f"IPC reconnection storm: {reconnects} reconnects in the last {interval} "
                f"(threshold: more than {self.threshold})"
            ),
            ts_ns=current.ts_ns,
            labels={"reconnects": str(reconnects), "threshold": str(self.threshold)},
        )


class ChannelBackpressureRule:
    """Channel Backpressure (WARNING): "Channel utilization >= `threshold_pct` %".

    Fires when ``channel_depth * 100 / channel_capacity >= threshold_pct`` and the channel
    holds at least one item (so a threshold of 0 means "anything queued"). Silent when
    ``channel_capacity`` is 0 (no channel).
    """

    name: Final = "channel_backpressure"
    severity: Final = Severity.WARNING

    def __init__(self, threshold_pct: float) -> None:
        if not 0 <= threshold_pct <= 100:
            raise ValueError(f"backpressure threshold must be 0-100 %; got {threshold_pct}")
        self.threshold_pct = threshold_pct

    def check(self, previous: HealthSnapshot | None, current: HealthSnapshot) -> Alert | None:
        capacity, depth = current.channel_capacity, current.channel_depth
        if capacity <= 0 or depth <= 0:
            return None
        utilization = depth * 100 / capacity
        if utilization < self.threshold_pct:
            return None
        return Alert(
            rule=self.name,
            severity=self.severity,
            message=(
                f"Channel backpressure: {depth} of {capacity} slots in use "
                f"({utilization:.1f}%, threshold {self.threshold_pct:g}%)"
            ),
            ts_ns=current.ts_ns,
            labels={
                "depth": str(depth),
                "capacity": str(capacity),
                "utilization_pct": f"{utilization:.1f}",
                "threshold_pct": f"{self.threshold_pct:g}",
            },
        )


class CacheFailureRateRule:
    """Cache Failure Rate (WARNING): "Cache update failures >= `threshold` of processed ticks".

    Over the interval since the previous evaluation: fires when at least one cache update
    failed and ``failures / ticks_processed >= threshold`` (a ratio 0-1, default 0.1). Silent
    at the first evaluation and when no tick was processed in the interval (no rate to
    measure; a stalled feed is the IPC rules' concern).
    """

    name: Final = "cache_failure_rate"
    severity: Final = Severity.WARNING

    def __init__(self, threshold: float) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"cache failure threshold must be a ratio 0-1; got {threshold}")
        self.threshold = threshold

    def check(self, previous: HealthSnapshot | None, current: HealthSnapshot) -> Alert | None:
        if previous is None:
            return None
        failures = _increase(previous.cache_failures_total, current.cache_failures_total)
        ticks = _increase(previous.ticks_processed_total, current.ticks_processed_total)
        if failures <= 0 or ticks <= 0:
            return None
        rate = failures / ticks
        if rate < self.threshold:
            return None
        operations = _increase(previous.cache_operations_total, current.cache_operations_total)
        interval = _interval_text(previous, current)
        return Alert(
            rule=self.name,
            severity=self.severity,
            message=(
                f"Cache failure rate: {failures} failed cache updates for {ticks} ticks "
                f"processed in the last {interval} ({rate:.1%}, threshold {self.threshold:.1%}; "
                f"{operations} cache operations)"
            ),
            ts_ns=current.ts_ns,
            labels={
                "failures": str(failures),
                "ticks": str(ticks),
                "operations": str(operations),
                "rate": f"{rate:.4f}",
                "threshold": f"{self.threshold:g}",
            },
        )
