"""A standby replica exports none of the dispatcher's gauges (their values would be stale); the labelled
counters the alerts take increase() of exist at 0 before the first event."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from scoutly import metrics


def names(registry: CollectorRegistry) -> set[str]:
    return {s.name for fam in registry.collect() for s in fam.samples}


def test_standby_exports_no_leader_only_gauges() -> None:
    metrics.targets_due_waiting.set(7)
    metrics.dispatcher_heartbeat.set(1_700_000_000)
    leader_only = {"scoutly_targets_due_waiting", "scoutly_dispatcher_heartbeat_timestamp_seconds"}
    try:
        metrics.LEADER_ONLY.leading = lambda: True
        assert leader_only <= names(metrics.REGISTRY)
        assert b"scoutly_targets_due_waiting 7.0" in generate_latest(metrics.REGISTRY)
        metrics.LEADER_ONLY.leading = lambda: False
        exported = names(metrics.REGISTRY)
        assert not leader_only & exported
        assert {"scoutly_targets_overdue", "scoutly_leader", "scoutly_build_info"} <= exported
    finally:
        metrics.LEADER_ONLY.leading = lambda: True


def test_alerted_counters_start_at_zero() -> None:
    text = generate_latest(metrics.REGISTRY).decode()
    for stage in ("target", "job", "pod", "finish", "dispatch", "create", "status"):
        for kind in ("connection", "timeout", "http_4xx", "http_5xx", "other"):
            assert f'scoutly_reconcile_errors_total{{kind="{kind}",stage="{stage}"}}' in text
    assert 'scoutly_jobs_finished_total{reason="Completed",result="succeeded"}' in text
