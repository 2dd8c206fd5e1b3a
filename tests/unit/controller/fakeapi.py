"""An in-memory stand-in for the API server calls the controller makes (get, list_all, create,
merge_patch, json_patch, delete), a manual clock that also runs the work queue's timers, and a harness
that plays the watch: every object the fake API changed is handed to the controller's event handlers,
as kopf would, until nothing moves. Nothing here sleeps: a test moves time itself."""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.core import Controller
from scoutly.controller.jobs import iso
from scoutly.controller.mirror import Mirror
from scoutly.kube.client import ApiError

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
NS = "ns"


@dataclass(order=True)
class _Timer:
    at: float
    seq: int
    callback: Callable[..., object] = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def when(self) -> float:
        return self.at

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """The controller's clock and the work queue's timers (`Timers`): time moves only by `advance`."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def __call__(self) -> datetime:
        return self.now

    def time(self) -> float:
        return self.now.timestamp()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> _Timer:
        timer = _Timer(self.time() + delay, next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer due on the way at its own time."""
        end = self.time() + seconds
        while self._timers and self._timers[0].at <= end:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, datetime.fromtimestamp(timer.at, UTC))
            timer.callback(*timer.args)
        self.now = datetime.fromtimestamp(end, UTC)


def target_body(name: str, *, rank: int = 50, uid: str | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": m.API_VERSION,
        "kind": m.KIND,
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid or f"uid-{name}",
            "generation": 1,
            "creationTimestamp": iso(T0 - timedelta(days=30)),
        },
        "spec": {
            "company": name.capitalize(),
            "rank": rank,
            "source": {"url": f"https://boards.greenhouse.io/{name}"},
            **spec,
        },
    }


class FakeApi:
    """Targets, Jobs, pods' termination messages and Events in memory. `faults[call]` are raised, one per
    call, before the call acts; calls: target-get, job-get, pods, list, job-create, event, status,
    release, job-delete."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.targets: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.summaries: dict[str, str] = {}  # Job name -> termination message of its pod
        self.events: list[tuple[str, str, str]] = []  # (target, reason, message)
        self.deleted: list[str] = []
        self.changes: list[tuple[str, str, str]] = []  # (kind, name, event type) not yet watched
        self.finalizer_ahead: str | None = None  # put in front of ours by the next json_patch
        self.faults: dict[str, list[BaseException]] = {}
        self.calls: Counter[str] = Counter()
        self._uids = itertools.count(1)

    def _call(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.faults.get(kind):
            raise self.faults[kind].pop(0)

    # -- what the test does -----------------------------------------------------------------------
    def add_target(self, body: dict[str, Any]) -> None:
        self.targets[body["metadata"]["name"]] = copy.deepcopy(body)
        self.changes.append(("target", body["metadata"]["name"], "ADDED"))

    def annotate(self, target: str, key: str, value: str) -> None:
        meta = self.targets[target]["metadata"]
        meta.setdefault("annotations", {})[key] = value
        self.changes.append(("target", target, "MODIFIED"))

    def finish(self, job: str, *, ok: bool = True, summary: dict[str, Any] | None = None) -> None:
        """The Job controller's part: the pod ran, the Job is Complete (or Failed)."""
        body = self.jobs[job]
        now = iso(self.clock())
        cond = {"type": "Complete" if ok else "Failed", "status": "True", "lastTransitionTime": now}
        if not ok:
            cond |= {
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        body["status"] = {
            "startTime": body["metadata"]["creationTimestamp"],
            "succeeded" if ok else "failed": 1,
            "conditions": [cond],
            **({"completionTime": now} if ok else {}),
        }
        self.summaries[job] = json.dumps(summary or {"postingsFound": 3, "postingsNew": 1, "matches": 0})
        self.changes.append(("job", job, "MODIFIED"))

    def job_names(self, target: str) -> list[str]:
        return sorted(
            n for n, j in self.jobs.items() if j["metadata"]["labels"]["scoutly.io/target"] == target
        )

    def active_jobs(self) -> list[str]:
        return sorted(n for n, j in self.jobs.items() if not (j.get("status") or {}).get("conditions"))

    def status(self, target: str) -> dict[str, Any]:
        return dict(self.targets[target].get("status") or {})

    def reasons(self, target: str) -> list[str]:
        return [r for t, r, _ in self.events if t == target]

    # -- the API ------------------------------------------------------------------------------------
    @staticmethod
    def _parts(path: str) -> list[str]:
        parts = path.strip("/").split("/")
        return parts[parts.index("namespaces") + 2 :] if "namespaces" in parts else parts[-1:]

    async def get(self, path: str, **query: Any) -> dict[str, Any]:
        rest = self._parts(path)
        if rest[0] == "pods":
            self._call("pods")
            job = query["labelSelector"].removeprefix("job-name=")
            term = {"finishedAt": iso(self.clock()), "message": self.summaries.get(job, "")}
            state = {"terminated": term} if job in self.summaries else {}
            return {"items": [{"status": {"containerStatuses": [{"name": "scrape", "state": state}]}}]}
        store, kind = (self.jobs, "job-get") if rest[0] == "jobs" else (self.targets, "target-get")
        self._call(kind)
        if rest[1] not in store:
            raise ApiError(404, "NotFound", f"{rest[1]} not found")
        return copy.deepcopy(store[rest[1]])

    async def list_all(self, path: str, **query: Any) -> list[dict[str, Any]]:
        self._call("list")
        store = self.jobs if self._parts(path)[0] == "jobs" else self.targets
        return [copy.deepcopy(b) for b in store.values()]

    async def create(self, path: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        rest = self._parts(path)
        if rest[0] == "events":
            self._call("event")
            self.events.append((body["involvedObject"]["name"], body["reason"], body["message"]))
            return body
        self._call("job-create")
        name = body["metadata"]["name"]
        if name in self.jobs:
            raise ApiError(409, "AlreadyExists", f"jobs {name} already exists")
        body = copy.deepcopy(body)
        body["metadata"] |= {"uid": f"job-{next(self._uids)}", "creationTimestamp": iso(self.clock())}
        self.jobs[name] = body
        self.changes.append(("job", name, "ADDED"))
        return copy.deepcopy(body)

    async def merge_patch(self, path: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._call("status")
        name = self._parts(path)[1]
        if name not in self.targets:
            raise ApiError(404, "NotFound", f"{name} not found")
        status = self.targets[name].setdefault("status", {})
        for k, v in body["status"].items():
            if v is None:
                status.pop(k, None)
            else:
                status[k] = v
        self.changes.append(("target", name, "MODIFIED"))
        return copy.deepcopy(self.targets[name])

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        self._call("release")
        name = self._parts(path)[1]
        meta = self.jobs[name]["metadata"]
        if self.finalizer_ahead:  # another controller adds its finalizer just before our patch lands
            meta["finalizers"].insert(0, self.finalizer_ahead)
            self.finalizer_ahead = None
            self.changes.append(("job", name, "MODIFIED"))
        index = int(ops[0]["path"].rsplit("/", 1)[1])
        if index >= len(meta["finalizers"]) or meta["finalizers"][index] != ops[0]["value"]:
            raise ApiError(422, "Invalid", "the test operation failed")
        del meta["finalizers"][index]
        self._after_write(name)
        return copy.deepcopy(self.jobs[name])

    async def delete(self, path: str, **_: Any) -> dict[str, Any]:
        self._call("job-delete")
        name = self._parts(path)[1]
        if name not in self.jobs:
            raise ApiError(404, "NotFound", f"{name} not found")
        self.jobs[name]["metadata"]["deletionTimestamp"] = iso(self.clock())
        self._after_write(name)
        return {}

    def _after_write(self, name: str) -> None:
        meta = self.jobs[name]["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.deleted.append(name)
            self.changes.append(("job", name, "DELETED"))
        else:
            self.changes.append(("job", name, "MODIFIED"))


class Harness:
    """One controller over the fake API; `settle` plays the watch until nothing moves."""

    def __init__(self, *, leading: bool = True, api: FakeApi | None = None, **settings: Any) -> None:
        self.clock = api.clock if api is not None else ManualClock()
        self.api = api or FakeApi(self.clock)
        self.controller = Controller(
            # status writes at once unless a test asks for the batch (test_core's own test of it)
            OperatorSettings(**{"status_batch": timedelta(0), **settings}),
            self.api,  # type: ignore[arg-type]
            Mirror(None),
            clock=self.clock,
            timers=self.clock,
        )
        self.lead = leading
        self.controller.leading = lambda: self.lead
        self._deleted: dict[str, dict[str, Any]] = {}

    async def settle(self) -> None:
        for _ in range(1000):
            await self.controller.queue.settled()
            if not self.api.changes:
                return
            changes, self.api.changes = self.api.changes, []
            for kind, name, event in changes:
                if kind == "target":
                    await self.controller.on_target_event(copy.deepcopy(self.api.targets[name]), event)
                elif event == "DELETED":
                    body = self.api.jobs.pop(name)
                    await self.controller.on_job_event(body, event)
                elif name in self.api.jobs:
                    await self.controller.on_job_event(copy.deepcopy(self.api.jobs[name]), event)
        raise AssertionError("the controller never settled")

    async def tick(self, seconds: float = 0.0) -> None:
        """Let `seconds` pass (timers fire on the way), then one dispatcher pass, and settle."""
        self.clock.advance(seconds)
        await self.settle()
        await self.controller.dispatch_pass()
        await self.settle()

    async def close(self) -> None:
        await self.controller.queue.close()
        await asyncio.sleep(0)
