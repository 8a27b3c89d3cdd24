"""Health snapshots for the alerting tests: a healthy process, changed where a test says."""

from __future__ import annotations

from typing import Any

import msgspec

from ticklane.alerting import HealthSnapshot

T0_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
INTERVAL_NS = 30_000_000_000

HEALTHY = HealthSnapshot(
    ipc_connected=True,
    ipc_reconnections_total=0,
    channel_capacity=1000,
    channel_depth=0,
    cache_operations_total=0,
    cache_failures_total=0,
    ticks_processed_total=0,
    ts_ns=T0_NS,
)


def snapshot(**changes: Any) -> HealthSnapshot:
    """`HEALTHY` with `changes` applied."""
    return msgspec.structs.replace(HEALTHY, **changes)


def later(previous: HealthSnapshot, **changes: Any) -> HealthSnapshot:
    """The snapshot one 30 s interval after `previous`, with `changes` applied."""
    return msgspec.structs.replace(previous, ts_ns=previous.ts_ns + INTERVAL_NS, **changes)
