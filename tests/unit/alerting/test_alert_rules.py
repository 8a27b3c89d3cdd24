"""Each rule fires at (or above) its threshold, stays silent below, and names the figures."""

from __future__ import annotations

import pytest

from ticklane.alerting import (
    CacheFailureRateRule,
    ChannelBackpressureRule,
    IpcDisconnectedRule,
    ReconnectionStormRule,
    Severity,
)

from alert_snapshots import HEALTHY, later, snapshot

# --------------------------------------------------------------------------- IPC disconnected


def test_ipc_writer_gone_raises_a_critical_alert() -> None:
    alert = IpcDisconnectedRule().check(HEALTHY, later(HEALTHY, ipc_connected=False))
    assert alert is not None
    assert alert.rule == "ipc_disconnected"
    assert alert.severity is Severity.CRITICAL
    assert alert.ts_ns == HEALTHY.ts_ns + 30_000_000_000
    assert "IPC disconnected" in alert.message


def test_ipc_disconnected_fires_even_at_the_first_evaluation() -> None:
    assert IpcDisconnectedRule().check(None, snapshot(ipc_connected=False)) is not None


def test_connected_ipc_raises_nothing() -> None:
    assert IpcDisconnectedRule().check(None, HEALTHY) is None


# ----------------------------------------------------------------------- reconnection storm


def test_eleven_reconnects_in_an_interval_exceed_a_threshold_of_ten() -> None:
    previous = snapshot(ipc_reconnections_total=5)
    alert = ReconnectionStormRule(10).check(previous, later(previous, ipc_reconnections_total=16))
    assert alert is not None
    assert alert.severity is Severity.WARNING
    assert "11 reconnects in the last 30.0s" in alert.message
    assert "more than 10" in alert.message
    assert alert.labels == {"reconnects": "11", "threshold": "10"}


def test_exactly_ten_reconnects_are_not_a_storm() -> None:
    # The reference fires on "> 10": the threshold itself is still tolerated.
    previous = snapshot(ipc_reconnections_total=5)
    current = later(previous, ipc_reconnections_total=15)
    assert ReconnectionStormRule(10).check(previous, current) is None


def test_reconnects_counted_since_start_do_not_fire_at_the_first_evaluation() -> None:
    assert ReconnectionStormRule(10).check(None, snapshot(ipc_reconnections_total=500)) is None


def test_old_reconnects_spread_over_past_intervals_do_not_fire() -> None:
    previous = snapshot(ipc_reconnections_total=500)
    current = later(previous, ipc_reconnections_total=502)
    assert ReconnectionStormRule(10).check(previous, current) is None


def test_reconnect_counter_reset_by_a_restart_counts_from_zero() -> None:
    previous = snapshot(ipc_reconnections_total=500)
    alert = ReconnectionStormRule(10).check(previous, later(previous, ipc_reconnections_total=12))
    assert alert is not None
    assert alert.labels["reconnects"] == "12"


# ---------------------------------------------------------------------- channel backpressure


def test_channel_exactly_at_eighty_percent_raises_backpressure() -> None:
    alert = ChannelBackpressureRule(80.0).check(None, snapshot(channel_depth=800))
    assert alert is not None
    assert alert.rule == "channel_backpressure"
    assert alert.severity is Severity.WARNING
    assert "800 of 1000 slots in use (80.0%, threshold 80%)" in alert.message


def test_full_channel_raises_backpressure() -> None:
    alert = ChannelBackpressureRule(80.0).check(None, snapshot(channel_depth=1000))
    assert alert is not None
    assert alert.labels["utilization_pct"] == "100.0"


def test_channel_just_below_threshold_is_quiet() -> None:
    assert ChannelBackpressureRule(80.0).check(None, snapshot(channel_depth=799)) is None


def test_fractional_threshold_compares_exactly() -> None:
    # 7 of 10 is 70 %, exactly the threshold, although 0.7 * 100 is 70.00000000000001.
    rule = ChannelBackpressureRule(70.0)
    assert rule.check(None, snapshot(channel_capacity=10, channel_depth=7)) is not None


def test_process_without_a_channel_never_raises_backpressure() -> None:
    assert ChannelBackpressureRule(0.0).check(None, snapshot(channel_capacity=0)) is None


def test_empty_channel_is_quiet_even_at_a_zero_threshold() -> None:
    assert ChannelBackpressureRule(0.0).check(None, snapshot(channel_depth=0)) is None


# ------------------------------------------------------------------------ cache failure rate


def test_three_failed_cache_updates_in_thirty_ticks_reach_ten_percent() -> None:
    # 0.1 * 30 is 3.0000000000000004 in binary floating point; the rule still fires at 10 %.
    previous = snapshot(cache_failures_total=4, ticks_processed_total=100)
    current = later(
        previous, cache_failures_total=7, ticks_processed_total=130, cache_operations_total=60
    )
    alert = CacheFailureRateRule(0.1).check(previous, current)
    assert alert is not None
    assert alert.rule == "cache_failure_rate"
    assert alert.severity is Severity.WARNING
    assert "3 failed cache updates for 30 ticks processed in the last 30.0s" in alert.message
    assert "(10.0%, threshold 10.0%" in alert.message
    assert alert.labels["failures"] == "3"
    assert alert.labels["ticks"] == "30"


def test_cache_failures_below_ten_percent_of_the_interval_are_quiet() -> None:
    previous = snapshot(cache_failures_total=4, ticks_processed_total=100)
    current = later(previous, cache_failures_total=6, ticks_processed_total=130)
    assert CacheFailureRateRule(0.1).check(previous, current) is None


def test_cache_failures_of_earlier_intervals_are_not_counted_again() -> None:
    # 50 failures in the first 100 ticks, none since: 50 % overall, 0 % in the interval.
    previous = snapshot(cache_failures_total=50, ticks_processed_total=100)
    current = later(previous, cache_failures_total=50, ticks_processed_total=200)
    assert CacheFailureRateRule(0.1).check(previous, current) is None


def test_cache_failure_rate_waits_for_a_baseline() -> None:
    current = snapshot(cache_failures_total=50, ticks_processed_total=100)
    assert CacheFailureRateRule(0.1).check(None, current) is None


def test_no_ticks_processed_in_the_interval_gives_no_rate() -> None:
    previous = snapshot(cache_failures_total=0, ticks_processed_total=100)
    current = later(previous, cache_failures_total=5, ticks_processed_total=100)
    assert CacheFailureRateRule(0.1).check(previous, current) is None


@pytest.mark.parametrize(
    ("rule", "threshold"),
    [
        (ReconnectionStormRule, -1),
        (ChannelBackpressureRule, 100.5),
        (CacheFailureRateRule, 1.5),
    ],
)
def test_impossible_thresholds_are_refused(rule: type, threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        rule(threshold)
