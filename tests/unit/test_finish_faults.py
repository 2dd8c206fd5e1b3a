"""A transport error (reset, timeout, server gone) at any API call of finishing a Job is retried from the
work queue until the outcome is recorded and the finalizer released, with every step done once: the
status carries the outcome, the outcome Event is posted once, the error is counted. The API is an
in-memory stand-in so the fault hits exactly one call and the test runs in milliseconds; the same
faults against the real API server: tests/integration/reliability/test_network_faults.py."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from scoutly import metrics
from scoutly.config import OperatorSettings
from scoutly.controller.core import Controller
from scoutly.controller.jobs import FINALIZER, LABEL_MANAGED_BY, LABEL_TARGET, MANAGED_BY
from scoutly.controller.mirror import Mirror
from scoutly.kube.client import ApiError
from scoutly.testing.wait import eventually

UID = "target-uid"
JOB = "acme-1700000000"
SUMMARY = {"postingsFound": 4, "postingsNew": 1, "matches": 0}


def target() -> dict[str, Any]:
    return {
        "apiVersion": "scoutly.io/v1alpha1",
        "kind": "ScrapeTarget",
        "metadata": {
            "name": "acme",
            "namespace": "ns",
            "uid": UID,
            "generation": 1,
            "creationTimestamp": "2026-11-22T10:00:00Z",
        },
        "spec": {"company": "Acme", "rank": 90, "source": {"url": "https://boards.greenhouse.io/acme"}},
    }


def finished_job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": JOB,
            "namespace": "ns",
            "uid": "job-uid",
            "creationTimestamp": "2026-11-22T10:00:01Z",
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_TARGET: "acme"},
            "ownerReferences": [
                {"kind": "ScrapeTarget", "name": "acme", "uid": UID, "controller": True},
            ],
            "finalizers": [FINALIZER],
        },
        "status": {
            "startTime": "2026-11-22T10:00:02Z",
            "completionTime": "2026-11-22T10:00:05Z",
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }


class FakeApi:
    """The calls finishing a Job makes, answered like the API server; `faults[call]` are raised first."""

    def __init__(self, faults: dict[str, list[Exception]]) -> None:
        self.faults = faults
        self.calls: Counter[str] = Counter()
        self.status: dict[str, Any] = {}
        self.job = finished_job()
        self.events: list[str] = []

    def _call(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.faults.get(kind):
            raise self.faults[kind].pop(0)

    async def get(self, path: str, **query: Any) -> dict[str, Any]:
        if path.endswith("/pods"):
            self._call("pods")
            term = {"finishedAt": "2026-11-22T10:00:05Z", "message": json.dumps(SUMMARY)}
            return {
                "items": [
                    {"status": {"containerStatuses": [{"name": "scrape", "state": {"terminated": term}}]}}
                ]
            }
        self._call("job-get")
        return copy.deepcopy(self.job)

    async def merge_patch(self, path: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._call("status")
        self.status.update(body["status"])
        return {"status": dict(self.status)}

    async def create(self, path: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._call("event")
        self.events.append(body["reason"])
        return body

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        self._call("release")
        finalizers = self.job["metadata"]["finalizers"]
        index = int(ops[0]["path"].rsplit("/", 1)[1])
        if ops[0]["op"] != "test" or index >= len(finalizers) or finalizers[index] != ops[0]["value"]:
            raise ApiError(422, "Invalid", "the test operation failed")
        assert ops[1] == {"op": "remove", "path": ops[0]["path"]}
        del finalizers[index]
        return copy.deepcopy(self.job)

    async def delete(self, path: str, **_: Any) -> dict[str, Any]:
        self._call("delete")
        return {}


def counted() -> float:
    return sum(
        s.value
        for s in metrics.reconcile_errors.collect()[0].samples
        if s.name.endswith("_total") and s.labels.get("kind") in ("connection", "timeout")
    )


@pytest.mark.parametrize("call", ["pods", "status", "event", "job-get", "release"])
async def test_a_transport_error_at_any_call_of_finishing_a_job_is_retried_until_done(call: str) -> None:
    faults: list[Exception] = [
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
        ConnectionResetError("reset by peer"),
    ]
    api = FakeApi({})
    controller = Controller(OperatorSettings(status_batch=timedelta(0)), api, Mirror(None))  # type: ignore[arg-type]
    controller.queue.backoff.base = 0.005
    await controller.on_target_event(target(), "ADDED")
    await eventually(lambda: _true(bool(api.status)), timeout=5, what="target status written")
    n = len(faults)
    api.faults = {call: faults}  # from here: the finishing of the Job
    api.calls.clear()
    before = counted()

    if call == "job-get":
        # the Job is read only when the finalizer list moved since the watch showed it: someone's ahead
        api.job["metadata"]["finalizers"].insert(0, "example.com/other")
    await controller.on_job_event(finished_job(), "MODIFIED")
    await eventually(
        lambda: _true(FINALIZER not in api.job["metadata"]["finalizers"]),
        timeout=5,
        what=f"finalizer released despite {call}",
    )
    assert api.calls[call] == n + 1  # failed three times, the fourth went through
    assert api.job["metadata"]["finalizers"] == (["example.com/other"] if call == "job-get" else [])
    assert api.status["lastJob"]["name"] == JOB and api.status["lastJob"]["postingsFound"] == 4
    assert api.status["phase"] == "Succeeded"
    assert api.events.count("ScrapeSucceeded") == 1
    assert counted() - before >= n
    assert controller.recorder.in_progress() == 0 and controller.job_reconciler.pending() == 0
    await controller.queue.close()
    await controller.recorder.drain()


async def test_the_release_is_one_patch_without_a_read_when_the_list_has_not_moved() -> None:
    api = FakeApi({})
    controller = Controller(OperatorSettings(status_batch=timedelta(0)), api, Mirror(None))  # type: ignore[arg-type]
    await controller.on_target_event(target(), "ADDED")
    await eventually(lambda: _true(bool(api.status)), timeout=5, what="target status written")
    api.calls.clear()
    await controller.on_job_event(finished_job(), "MODIFIED")
    await eventually(lambda: _true(not api.job["metadata"]["finalizers"]), timeout=5, what="released")
    assert api.calls["release"] == 1 and api.calls["job-get"] == 0
    await controller.queue.close()
    await controller.recorder.drain()


async def test_a_refusal_that_no_retry_fixes_is_not_retried_for_the_event() -> None:
    api = FakeApi({"event": [ApiError(403, "Forbidden", "events are not allowed")]})
    controller = Controller(OperatorSettings(status_batch=timedelta(0)), api, Mirror(None))  # type: ignore[arg-type]
    controller.queue.backoff.base = 0.005
    await controller.on_target_event(target(), "ADDED")
    await controller.on_job_event(finished_job(), "MODIFIED")
    await eventually(lambda: _true(not api.job["metadata"]["finalizers"]), timeout=5, what="released")
    assert api.calls["event"] == 1 and api.events == []  # logged and dropped: events are best effort
    assert api.status["lastJob"]["result"] == "Succeeded"
    await controller.queue.close()


async def _true(value: bool) -> bool:
    return value
