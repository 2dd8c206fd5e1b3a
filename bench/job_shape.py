"""Does the shape of our Job body make the Job controller write its status more often than for a
CronJob's Jobs? Creates `N` Jobs of each shape (32 in flight) on the local control plane with kwok's 1 s
pods, waits until all are finished and the API server's request counters stop moving, and prints the
writes per Job to Jobs and pods by verb and code. Shapes: a CronJob's plain Job, then one property of
ours at a time (podFailurePolicy, activeDeadlineSeconds, our finalizer kept, our finalizer released
after the finish), then all of them, then the plain one again.

Run: .venv/bin/python bench/job_shape.py [N]   (needs `make testenv`; about 6 min for N=200)"""

from __future__ import annotations

import asyncio
import copy
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scoutly.api import jobcontract
from scoutly.controller.jobs import FINALIZER
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.env import LocalEnv

METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
WRITES = ("PUT", "PATCH", "POST", "DELETE")
PLAIN: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "spec": {
        "backoffLimit": 1,
        "template": {
            "metadata": {"annotations": {"scoutly.io/kwok-duration": "1s"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "scrape", "image": "scoutly:bench", "command": ["true"]}],
            },
        },
    },
}


def counts(env: LocalEnv) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for line in env._api_get("/metrics").splitlines():
        mt = METRIC.match(line)
        if not mt:
            continue
        lb = dict(LABEL.findall(mt.group(1)))
        if lb.get("resource") in ("jobs", "pods") and lb.get("verb") in WRITES:
            res = lb["resource"] + ("/" + lb["subresource"] if lb.get("subresource") else "")
            out[(res, lb["verb"], lb.get("code", ""))] += int(float(mt.group(2)))
    return out


def body(name: str, *, pfp: bool = False, ads: bool = False, fin: bool = False) -> dict[str, Any]:
    b = copy.deepcopy(PLAIN)
    b["metadata"] = {"name": name, **({"finalizers": [FINALIZER]} if fin else {})}
    if pfp:
        b["spec"]["podFailurePolicy"] = jobcontract.pod_failure_policy()
    if ads:
        b["spec"]["activeDeadlineSeconds"] = 1800
    return b


async def shape(
    env: LocalEnv, kube: KubeClient, n: int, name: str, release: bool = False, **kw: bool
) -> None:
    ns = f"shape-{name}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    before = counts(env)
    path = ns_path("batch/v1", ns, "jobs")
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with gate:
            await kube.create(path, body(f"{name}-{i}", **kw))

    await asyncio.gather(*(one(i) for i in range(n)))
    deadline = time.monotonic() + 600
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:  # a condition with a deadline: every Job finished
        items = (await kube.get(path))["items"]
        if sum(_finished(j) for j in items) == n:
            break
        await asyncio.sleep(2)
    else:
        raise TimeoutError(f"{name}: Jobs not finished after 600 s")
    if release:
        for j in items:
            await kube.json_patch(
                f"{path}/{j['metadata']['name']}", [{"op": "remove", "path": "/metadata/finalizers/0"}]
            )
    previous = None
    while (now := counts(env)) != previous:  # until the controllers stop writing (10 s without a change)
        previous = now
        await asyncio.sleep(10)
    delta = {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}
    print(name, {f"{r} {v} {c}": round(x / n, 2) for (r, v, c), x in sorted(delta.items())}, flush=True)


def _finished(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)


async def main(n: int) -> None:
    env = LocalEnv(workdir=Path(tempfile.mkdtemp(prefix="scoutly-shape-")), nodes=4).start()
    kube = await KubeClient.connect(kubeconfig=str(env.kubeconfig), user_agent="scoutly-bench")
    try:
        await shape(env, kube, n, "plain")
        await shape(env, kube, n, "pfp", pfp=True)
        await shape(env, kube, n, "ads", ads=True)
        await shape(env, kube, n, "fin", fin=True)
        await shape(env, kube, n, "finrel", fin=True, release=True)
        await shape(env, kube, n, "all", pfp=True, ads=True, fin=True, release=True)
        await shape(env, kube, n, "plain2")
    finally:
        await kube.close()
        env.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
