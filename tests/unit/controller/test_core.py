"""The controller's core, deterministic: an injected clock that also runs the work queue's timers, and an
in-memory API (fakeapi.py) whose changes are played back as watch events. No test sleeps; each runs in
milliseconds. The same behaviour against the real API server: tests/integration/controller, reliability."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from scoutly import metrics
from scoutly.api import models as m
from scoutly.controller.jobs import FINALIZER
from tests.unit.controller.fakeapi import NS, FakeApi, Harness, ManualClock, target_body

HOUR = 3600.0


@pytest.fixture
async def harnesses() -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for h in made:
        await h.close()


def start(made: list[Harness], **kwargs: object) -> Harness:
    h = Harness(**kwargs)  # type: ignore[arg-type]
    made.append(h)
    return h


def targets_of(api: FakeApi, jobs: list[str]) -> set[str]:
    return {api.jobs[j]["metadata"]["labels"]["scoutly.io/target"] for j in jobs}


async def test_the_cap_admits_the_highest_ranks_first_and_the_next_as_slots_free(
    harnesses: list[Harness],
) -> None:
    h = start(harnesses, max_concurrent=2)
    for name, rank in [("a", 10), ("b", 50), ("c", 90), ("d", 70), ("e", 30)]:
        h.api.add_target(target_body(name, rank=rank))
    await h.tick()
    assert targets_of(h.api, h.api.active_jobs()) == {"c", "d"}

    await h.tick(60)  # nothing finished: still two
    assert targets_of(h.api, h.api.active_jobs()) == {"c", "d"}

    (c_job,) = h.api.job_names("c")
    h.api.finish(c_job)
    await h.tick()
    assert targets_of(h.api, h.api.active_jobs()) == {"d", "b"}
    for job in h.api.active_jobs():
        h.api.finish(job)
    await h.tick()
    assert targets_of(h.api, h.api.active_jobs()) == {"e", "a"}


async def test_one_active_scrape_per_company_the_higher_rank_first(harnesses: list[Harness]) -> None:
    h = start(harnesses, max_concurrent=10)
    company = "65a1b2c3d4e5f60718293a4b"
    h.api.add_target(target_body("low", rank=40, companyId=company))
    h.api.add_target(target_body("high", rank=90, companyId=company))
    h.api.add_target(target_body("other", rank=10))
    await h.tick()
    assert targets_of(h.api, h.api.active_jobs()) == {"high", "other"}
    (job,) = h.api.job_names("high")
    h.api.finish(job)
    await h.tick()
    assert targets_of(h.api, h.api.active_jobs()) == {"low", "other"}


async def test_failure_backoff_doubles_up_to_the_cooldown(harnesses: list[Harness]) -> None:
    h = start(harnesses, backoff_base="1h")
    h.api.add_target(target_body("acme", cooldown="3h"))
    await h.tick()
    for expected_hours in (1, 2, 3, 3):  # base, 2 x base, then capped at the cooldown (not 4h)
        (job,) = h.api.active_jobs()
        h.api.finish(job, ok=False)
        await h.tick()
        await h.tick(expected_hours * HOUR - 60)
        assert h.api.active_jobs() == [], f"dispatched before its {expected_hours}h backoff"
        await h.tick(120)
        assert len(h.api.active_jobs()) == 1, f"not dispatched after its {expected_hours}h backoff"
    assert h.api.status("acme")["consecutiveFailures"] == 4


async def test_a_failing_job_create_is_retried_with_backoff_up_to_its_cap(harnesses: list[Harness]) -> None:
    h = start(harnesses)
    h.api.faults["job-create"] = [ConnectionResetError("reset")] * 12
    h.api.add_target(target_body("acme"))
    await h.tick()
    delays = []
    for _ in range(12):
        delay = h.controller.queue.delay(("due", f"{NS}/acme"))
        assert delay is not None, "a failed create left no retry"
        delays.append(round(delay, 3))
        await h.tick(delay)
    assert delays == [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert len(h.api.job_names("acme")) == 1 and h.api.calls["job-create"] == 13
    assert h.controller.dispatch_backoff.failures(f"{NS}/acme") == 0  # forgotten after the success


async def test_at_most_one_catch_up_run_after_a_long_downtime(harnesses: list[Harness]) -> None:
    h = start(harnesses)
    body = target_body("acme", cooldown="12h")
    body["status"] = {"lastSuccessfulScrape": "2026-11-01T10:00:00Z"}  # three weeks: 40 missed runs
    h.api.add_target(body)
    await h.tick()
    (job,) = h.api.job_names("acme")
    h.api.finish(job)
    for _ in range(11):
        await h.tick(HOUR)
    assert h.api.job_names("acme") == [job]
    await h.tick(HOUR + 60)
    assert len(h.api.job_names("acme")) == 2  # the next one comes a cooldown after the catch-up


async def test_a_manual_token_runs_once_and_waits_for_the_active_job(harnesses: list[Harness]) -> None:
    h = start(harnesses)
    h.api.add_target(target_body("acme", cooldown="24h"))
    await h.tick()
    (scheduled,) = h.api.job_names("acme")

    h.api.annotate("acme", m.SCRAPE_NOW_ANNOTATION, "tok-1")
    await h.tick()
    h.api.annotate("acme", "unrelated", "x")  # another event of the target: no second announcement
    await h.tick()
    assert h.api.job_names("acme") == [scheduled]
    assert h.api.reasons("acme").count("JobAlreadyActive") == 1

    h.api.finish(scheduled)
    await h.tick()
    manual = [j for j in h.api.job_names("acme") if j != scheduled]
    assert len(manual) == 1 and "-m" in manual[0]
    h.api.finish(manual[0])
    await h.tick(60)
    assert h.api.status("acme")["lastManualTrigger"] == "tok-1"
    assert len(h.api.job_names("acme")) == 2  # the same token does not run again

    h.api.annotate("acme", m.SCRAPE_NOW_ANNOTATION, "tok-2")
    await h.tick()
    assert len(h.api.job_names("acme")) == 3


async def test_history_keeps_the_newest_finished_jobs_per_result(harnesses: list[Harness]) -> None:
    h = start(harnesses, successful_jobs_history_limit=2, failed_jobs_history_limit=1, backoff_base="1h")
    h.api.add_target(target_body("acme", cooldown="1h"))
    results = [True, True, False, True, False, True, True]
    names: list[tuple[str, bool]] = []
    for ok in results:
        await h.tick(2 * HOUR)
        (job,) = h.api.active_jobs()
        names.append((job, ok))
        h.api.finish(job, ok=ok)
        await h.tick()
    kept = set(h.api.jobs)
    succeeded = [n for n, ok in names if ok]
    failed = [n for n, ok in names if not ok]
    assert kept == set(succeeded[-2:]) | set(failed[-1:])
    assert sorted(h.api.deleted) == sorted(set(succeeded[:-2]) | set(failed[:-1]))


async def test_a_standby_writes_nothing_and_the_new_leader_records_what_it_saw(
    harnesses: list[Harness],
) -> None:
    first = start(harnesses)
    first.api.add_target(target_body("acme", cooldown="24h"))
    await first.tick()
    (job,) = first.api.job_names("acme")
    await first.close()  # the leader is gone; its Job runs on

    standby = start(harnesses, leading=False, api=first.api)
    await standby.controller.prime([NS])
    first.api.finish(job)
    writes = {k: first.api.calls[k] for k in ("status", "release", "job-create", "event")}
    await standby.tick(60)
    assert {k: first.api.calls[k] for k in writes} == writes  # a standby only watches
    assert first.api.jobs[job]["metadata"]["finalizers"] == [FINALIZER]

    standby.lead = True
    await standby.controller.take_over()
    await standby.tick()
    assert first.api.status("acme")["lastJob"]["name"] == job
    assert first.api.jobs[job]["metadata"]["finalizers"] == []
    assert first.api.reasons("acme").count("ScrapeSucceeded") == 1
    assert first.api.job_names("acme") == [job]  # no second Job for the slot the old leader ran


@pytest.mark.parametrize("call", ["pods", "status", "event", "job-get", "release"])
async def test_a_transport_error_at_any_call_of_finishing_a_job_is_retried_in_place(
    harnesses: list[Harness], call: str
) -> None:
    h = start(harnesses)
    h.api.add_target(target_body("acme", cooldown="24h"))
    await h.tick()
    (job,) = h.api.job_names("acme")
    errors = [aiohttp.ServerDisconnectedError(), TimeoutError(), ConnectionResetError("reset by peer")]
    h.api.faults[call] = list(errors)
    if call == "job-get":  # the Job is read only when the release's patch finds the list moved
        h.api.finalizer_ahead = "example.com/other"
    h.api.calls.clear()
    h.api.finish(job)
    await h.tick()
    for _ in range(10):  # the retries: 0.5 s, 1 s, 2 s of the injected clock
        if FINALIZER not in h.api.jobs[job]["metadata"]["finalizers"]:
            break
        await h.tick(2.5)
    left = ["example.com/other"] if call == "job-get" else []
    assert h.api.jobs[job]["metadata"]["finalizers"] == left, f"finalizer held after errors at {call}"
    assert h.api.calls[call] == len(errors) + 1
    assert h.api.status("acme")["lastJob"]["name"] == job
    assert h.api.status("acme")["lastJob"]["postingsFound"] == 3  # the summary was read, not skipped
    assert h.api.reasons("acme").count("ScrapeSucceeded") == 1


def test_the_manual_clock_fires_timers_in_order() -> None:
    clock = ManualClock()
    fired: list[str] = []
    clock.call_later(2, fired.append, "b")
    clock.call_later(1, fired.append, "a")
    clock.call_later(5, fired.append, "c").cancel()
    clock.advance(3)
    assert fired == ["a", "b"]


def _heartbeat() -> float:
    return metrics.dispatcher_heartbeat.collect()[0].samples[0].value


async def test_the_dispatcher_runs_from_the_queue_and_beats_while_idle(harnesses: list[Harness]) -> None:
    h = start(harnesses)
    h.api.add_target(target_body("acme", cooldown="1h"))
    await h.settle()
    await h.controller.prime([NS])  # from here each pass is the queue's dispatch key
    await h.settle()
    (job,) = h.api.job_names("acme")  # dispatched without a pass called by the test
    h.api.finish(job)
    await h.settle()
    beat = _heartbeat()
    h.clock.advance(h.controller.heartbeat_interval)
    await h.settle()
    assert _heartbeat() == beat + h.controller.heartbeat_interval  # an idle pass, no event needed
    h.clock.advance(HOUR)
    await h.settle()
    assert len(h.api.job_names("acme")) == 2  # its due time woke the dispatcher


def ended_pod(job: str, pod: str, summary: dict[str, object], finished: str) -> dict[str, object]:
    """A scrape pod as the pods watch shows it once its container ended."""
    term = {"exitCode": 0, "finishedAt": finished, "message": json.dumps(summary)}
    return {
        "metadata": {
            "name": pod,
            "namespace": NS,
            "labels": {
                "job-name": job,
                "scoutly.io/target": "acme",
                "app.kubernetes.io/managed-by": "scoutly",
            },
        },
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [{"name": "scrape", "state": {"terminated": term}}],
        },
    }


async def finish_after_one_end(h: Harness, *, attempts: int) -> None:
    """A Job whose first pod's end (7 postings) the pods watch saw, then finished after `attempts`; the
    fake's own pods read would say 3 postings."""
    h.api.add_target(target_body("acme", cooldown="24h"))
    await h.tick()
    (job,) = h.api.job_names("acme")
    await h.controller.on_pod_event(ended_pod(job, f"{job}-x1", {"postingsFound": 7}, "2026-01-01T00:00:09Z"))
    h.api.calls.clear()
    h.api.finish(job)
    if attempts > 1:
        h.api.jobs[job]["status"]["failed"] = attempts - 1  # a retry whose pod event has not arrived
    await h.tick()


async def test_the_summary_comes_from_the_pods_watch_without_reading_the_pods(
    harnesses: list[Harness],
) -> None:
    h = start(harnesses)
    await finish_after_one_end(h, attempts=1)
    assert h.api.status("acme")["lastJob"]["postingsFound"] == 7
    assert h.api.calls["pods"] == 0
    assert h.controller.targets[f"{NS}/acme"].ended == {}  # dropped once recorded


async def test_the_pods_are_read_when_the_watch_saw_fewer_ends_than_the_job_counts(
    harnesses: list[Harness],
) -> None:
    h = start(harnesses)
    await finish_after_one_end(h, attempts=2)
    assert h.api.calls["pods"] == 1
    assert h.api.status("acme")["lastJob"]["postingsFound"] == 3  # the fake's pods: the retry's summary


async def test_the_status_batch_folds_a_job_created_then_running_into_one_write(
    harnesses: list[Harness],
) -> None:
    h = start(harnesses, status_batch=timedelta(seconds=1))
    h.api.add_target(target_body("acme", cooldown="24h"))
    await h.tick()
    (job,) = h.api.job_names("acme")  # created at once: the batch holds back status writes only
    assert h.api.calls["status"] == 0
    h.api.jobs[job]["status"] = {
        "startTime": h.api.jobs[job]["metadata"]["creationTimestamp"],
        "active": 1,
        "ready": 1,
    }
    h.api.changes.append(("job", job, "MODIFIED"))
    await h.tick(0.5)
    assert h.api.calls["status"] == 0  # still inside the batch that began with the target's creation
    await h.tick(0.5)
    assert h.api.calls["status"] == 1
    status = h.api.status("acme")
    assert status["phase"] == "Running" and status["active"][0]["name"] == job and status["lastScheduleTime"]
    h.api.finish(job)
    await h.tick()  # the outcome is written when recorded, not batched
    assert h.api.calls["status"] == 2 and h.api.status("acme")["lastJob"]["name"] == job
