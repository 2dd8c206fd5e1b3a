"""Scale benchmark: 10,000 ScrapeTargets on the local control plane (kwok nodes, FerretDB), the operator
run as its own process exactly as in production (`scoutly operator run`). Measured in one run:

Phases (`--phases`, each with an operator process of its own; all of them by default):

- memory: steady RSS (/proc/<pid>/status VmRSS) after the first start with 10,000 targets and after a
  restart; API requests per minute while nothing is due, from the apiserver's own
  apiserver_request_total, with the operator stopped (baseline), standalone, and with Lease leader
  election; time to ready and to resume. Must run first to see a first start (it does by default).
- dispatch: lag p50/p99 when 1,000 targets fall due in the same second with a cap of 100; Jobs
  dispatched per second (cap 1,000) versus a raw client loop creating the same Job bodies.
- sidebyside: 1,000 CronJobs (`* * * * *`) then 1,000 ScrapeTargets (cooldown 1m), `--side-by-side-runs`
  times, each pair in namespaces of its own: creation skew p50/p99/max, API writes per created Job by
  verb and resource, Events by reporter.
- foreign: 10,000 Jobs that are not ours, in a namespace the operator watches, created, run by kwok and
  deleted while the operator is idle: its extra CPU (/proc/<pid>/stat) against an idle window as long.

Every phase records the machine's load average (the machine may be shared).
Run: make bench (prints JSON; docs/performance.md holds the figures)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from scoutly.api import models as m
from scoutly.api.crd import build_crd
from scoutly.config import OperatorSettings
from scoutly.controller.jobs import ANN_SCHEDULED, build_job, parse_time
from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from scoutly.testing.procs import free_port
from scoutly.testing.wait import eventually

NS = "bench-st"  # the 10,000 targets
NS_1M = "bench-st1m"  # 1,000 one-minute targets per side-by-side run (bench-st1m-1, ...)
NS_CRON = "bench-cron"  # 1,000 CronJobs (a namespace per side-by-side run: bench-cron-1, ...)
NS_FOREIGN = "bench-foreign"  # Jobs that are not ours, watched by the operator's namespace list
PHASES = ("memory", "dispatch", "sidebyside", "foreign")
NS_RAW = "bench-raw"  # the raw client loop's Jobs (not watched by the operator)
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION"}
METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
POD_ANNOTATIONS = {"scoutly.io/kwok-duration": "1s"}
Counts = Counter[tuple[str, str]]  # (resource[/subresource], verb) -> requests


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))], 3)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the apiserver's own request counter --------------------------------------------------------------
def api_counts(env: LocalEnv) -> Counts:
    out: Counts = Counter()
    for line in env._api_get("/metrics").splitlines():
        mt = METRIC.match(line)
        if not mt:
            continue
        labels = dict(LABEL.findall(mt.group(1)))
        res = labels.get("resource", "")
        if labels.get("subresource"):
            res += "/" + labels["subresource"]
        out[(res, labels.get("verb", ""))] += int(float(mt.group(2)))
    return out


def delta(after: Counts, before: Counts) -> Counts:
    return Counter({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0})


def writes(c: Counts, resources: Iterable[str] | None = None) -> int:
    keep = set(resources) if resources is not None else None
    return sum(
        v
        for (res, verb), v in c.items()
        if verb in WRITE_VERBS and (keep is None or res.split("/")[0] in keep)
    )


def by_resource(c: Counts, *, only_writes: bool) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (res, verb), v in c.items():
        if not only_writes or verb in WRITE_VERBS:
            out[f"{verb} {res}"] += v
    return dict(out.most_common())


# -- the operator process -----------------------------------------------------------------------------
class Operator:
    def __init__(
        self,
        env: LocalEnv,
        workdir: Path,
        *,
        cap: int,
        leader_election: bool,
        tag: str,
        namespaces: list[str],
        pythonpath: str | None = None,
        extra_env: dict[str, str] | None = None,
        mirror: bool = True,
    ) -> None:
        self.port = free_port()
        self.env_vars = {
            **os.environ,
            "SCOUTLY_KUBECONFIG": str(env.kubeconfig),
            "SCOUTLY_NAMESPACES": ",".join(namespaces),
            "SCOUTLY_MONGODB_URI": env.mongo_uri,
            "SCOUTLY_MONGODB_DATABASE": "bench",
            "SCOUTLY_METRICS_PORT": str(self.port),
            "SCOUTLY_MAX_CONCURRENT": str(cap),
            "SCOUTLY_LOG_LEVEL": "WARNING",
            "SCOUTLY_SUCCESSFUL_JOBS_HISTORY_LIMIT": "3",
            "SCOUTLY_EXTRA_POD_ANNOTATIONS": json.dumps(POD_ANNOTATIONS),
            "SCOUTLY_LEADER_ELECTION": "true" if leader_election else "false",
            "SCOUTLY_LEADER_ELECTION_NAMESPACE": NS,
            **(extra_env or {}),
        }
        if not mirror:  # no MongoDB: the controller alone (the settings' "unset: no mirror writes")
            self.env_vars.pop("SCOUTLY_MONGODB_URI")
        if pythonpath:
            self.env_vars["PYTHONPATH"] = os.pathsep.join(
                filter(None, [pythonpath, os.environ.get("PYTHONPATH")])
            )
        self.log = (workdir / f"operator-{tag}.log").open("ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scoutly.cli", "operator", "run"],
            env=self.env_vars,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.peak_rss_kib = 0
        self._sampler = asyncio.create_task(self._sample_rss())

    async def _sample_rss(self) -> None:
        while self.proc.poll() is None:
            self.status()  # keeps peak_rss_kib (VmHWM) current
            await asyncio.sleep(0.5)

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in KiB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
        self.peak_rss_kib = max(self.peak_rss_kib, out.get("VmHWM", 0))
        return out

    def metric(self, name: str) -> float:
        _, text = self._get("/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and (line[len(name)] in " {")
        )

    async def wait_ready(self, targets: int, *, timeout: float = 600) -> float:
        """Seconds from process start until /readyz reports `targets` targets watched."""

        async def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}; see {self.log.name}")
            code, text = await asyncio.to_thread(self._get, "/readyz")
            found = re.search(r"(\d+) targets", text)
            return code == 200 and found is not None and int(found.group(1)) >= targets

        await eventually(ready, timeout=timeout, interval=0.05, what=f"operator ready with {targets} targets")
        return time.monotonic() - self.started

    def probe(self) -> None:
        """With a memory probe on the operator's path (BENCH_TRACEMALLOC_OUT in --operator-env, see
        docs/performance.md), ask it for a heap summary now."""
        out = self.env_vars.get("BENCH_TRACEMALLOC_OUT")
        if not out or self.proc.poll() is not None:
            return
        path = Path(out)
        done = path.read_text().count("=== end") if path.exists() else 0
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and (
            not path.exists() or path.read_text().count("=== end") <= done
        ):
            time.sleep(1.0)  # the probe writes its summary, then the marker

    def stop(self) -> None:
        self._sampler.cancel()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# -- API helpers --------------------------------------------------------------------------------------
async def bounded(items: Iterable[Any], fn: Callable[[Any], Awaitable[Any]], *, parallel: int = 64) -> None:
    sem = asyncio.Semaphore(parallel)

    async def one(x: Any) -> None:
        async with sem:
            await fn(x)

    await asyncio.gather(*(one(x) for x in items))


async def idle_window(env: LocalEnv, seconds: float) -> Counts:
    """The requests the apiserver served during a fixed window in which nothing is due."""
    before = await asyncio.to_thread(api_counts, env)
    await asyncio.sleep(seconds)  # a fixed measurement window, not a wait for a condition
    return delta(await asyncio.to_thread(api_counts, env), before)


async def settle(
    env: LocalEnv,
    resources: set[str],
    *,
    since: Counts | None = None,
    quiet: float = 5.0,
    timeout: float = 900,
) -> Counts:
    """Wait until no write to `resources` happened for `quiet` seconds; returns the requests made since
    `since` (default: now)."""
    start = since if since is not None else await asyncio.to_thread(api_counts, env)
    last = writes(start, resources)
    last_change = time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = await asyncio.to_thread(api_counts, env)
        w = writes(now, resources)
        if w != last:
            last, last_change = w, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            return delta(now, start)
    raise AssertionError(f"writes to {resources} did not stop within {timeout}s")


def target(name: str, *, rank: int, cooldown: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "company": name,
        "companyId": str(ObjectId()),  # a company of its own: its Jobs are mirrored to jobqueues
        "rank": rank,
        "source": {"url": f"https://boards.greenhouse.io/{name}"},
    }
    if cooldown:
        spec["cooldown"] = cooldown
    return {"apiVersion": m.API_VERSION, "kind": m.KIND, "metadata": {"name": name}, "spec": spec}


async def list_all(kube: KubeClient, path: str, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cont = None
    while True:
        page = await kube.get(path, limit=500, **({"continue": cont} if cont else {}), **query)
        items.extend(page["items"])
        cont = page["metadata"].get("continue")
        if not cont:
            return items


def skews(jobs: list[dict[str, Any]], annotation: str) -> list[float]:
    out = []
    for j in jobs:
        scheduled = parse_time((j["metadata"].get("annotations") or {}).get(annotation))
        created = parse_time(j["metadata"]["creationTimestamp"])
        if scheduled and created:
            out.append((created - scheduled).total_seconds())
    return out


# -- phases -------------------------------------------------------------------------------------------
async def create_targets(kube: KubeClient, n: int, wave: int, last: datetime) -> dict[str, Any]:
    """n targets, all last scraped at `last` (nothing due for hours). The first 2*wave have a 1h
    cooldown override, which the waves below shorten so that exactly `wave` of them fall due in one
    chosen second (the operator owns the status; a spec edit is how users change a due time)."""
    now = iso(last)
    path = ns_path(m.API_VERSION, NS, m.PLURAL)

    async def one(i: int) -> None:
        name = f"t{i:05d}"
        body = target(name, rank=(i * 37) % 101, cooldown="1h" if i < 2 * wave else None)
        try:
            await kube.create(path, body)
        except ApiError as e:
            if not e.already_exists:
                raise
        await kube.merge_patch(
            f"{path}/{name}/status", {"status": {"lastSuccessfulScrape": now, "phase": "Succeeded"}}
        )

    t0 = time.monotonic()
    await bounded(range(n), one)
    took = time.monotonic() - t0
    return {"targets": n, "seconds": round(took, 1), "create_plus_status_per_second": round(n / took, 1)}


async def make_due(kube: KubeClient, names: list[str], *, last: datetime, lead: float = 20.0) -> datetime:
    """Set the targets' cooldown so that all of them fall due in the same second, `lead` s from now."""
    due = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
    cooldown = f"{int((due - last).total_seconds())}s"
    path = ns_path(m.API_VERSION, NS, m.PLURAL)
    await bounded(names, lambda n: kube.merge_patch(f"{path}/{n}", {"spec": {"cooldown": cooldown}}))
    if datetime.now(UTC) >= due:
        raise AssertionError("making the wave due took longer than its lead time; raise --lead")
    return due


async def calm(kube: KubeClient, names: list[str]) -> None:
    """Back to a 1h cooldown, so a wave's targets do not fall due again inside later measurements."""
    path = ns_path(m.API_VERSION, NS, m.PLURAL)
    await bounded(names, lambda n: kube.merge_patch(f"{path}/{n}", {"spec": {"cooldown": "1h"}}))


async def wave_jobs(kube: KubeClient, names: list[str], due: datetime) -> list[dict[str, Any]]:
    wanted = set(names)
    jobs = await list_all(kube, ns_path("batch/v1", NS, "jobs"))
    return [
        j
        for j in jobs
        if (j["metadata"].get("labels") or {}).get("scoutly.io/target") in wanted
        and parse_time((j["metadata"].get("annotations") or {}).get(ANN_SCHEDULED)) == due
    ]


async def raw_loop(kube: KubeClient, n: int, *, parallel: int) -> float:
    """Jobs per second of a bare client creating the operator's own Job bodies (no status, no events,
    no MongoDB): the practical create limit of this API server."""
    settings = OperatorSettings(extra_pod_annotations=json.dumps(POD_ANNOTATIONS))
    spec = m.ScrapeTargetSpec.model_validate(target("raw", rank=50)["spec"])
    now = datetime.now(UTC).replace(microsecond=0)
    bodies = []
    for i in range(n):
        body = build_job(
            name=f"raw-{parallel}-{i:05d}",
            namespace=NS_RAW,
            target_name=f"raw{i}",
            target_uid="00000000-0000-0000-0000-000000000000",
            spec=spec,
            scheduled=now,
            manual_token=None,
            settings=settings,
        )
        body["metadata"].pop("ownerReferences", None)  # no owner in this namespace: GC would delete them
        body["metadata"].pop("finalizers", None)
        body["metadata"]["labels"] = {"bench": "raw"}
        bodies.append(body)
    path = ns_path("batch/v1", NS_RAW, "jobs")
    t0 = time.monotonic()
    await bounded(bodies, lambda b: kube.create(path, b), parallel=parallel)
    return n / (time.monotonic() - t0)


def cronjob(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"c{i:05d}"},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "metadata": {"annotations": POD_ANNOTATIONS},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "scrape", "image": "scoutly:bench", "command": ["true"]}],
                        },
                    },
                }
            },
        },
    }


async def periodic_window(
    env: LocalEnv,
    kube: KubeClient,
    *,
    ns: str,
    annotation: str,
    minutes: int,
    create: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> dict[str, Any]:
    """Create the 1,000 periodic objects, let them run `minutes`, stop them; skew of the Jobs whose
    scheduled time fell inside the window (first runs included: a CronJob's at the next minute, a
    never-scraped target's at its creation) and API writes per created Job, all resources, cluster-wide,
    counted two ways:

    - window: from the end of the creates to the end of the window, divided by the Jobs created in it
      (steady state; cascades of Jobs created before it are in, of Jobs created near its end out);
    - lifecycle: from before the creates until every Job has finished and the controllers stopped
      writing after the stop, less the harness's own creates and suspends, divided by every Job created:
      each Job's whole life (also outcomes recorded late), plus what the stop itself causes (one status
      write per ScrapeTarget: its phase becomes Suspended)."""
    start = datetime.now(UTC).replace(microsecond=0)
    first = await asyncio.to_thread(api_counts, env)
    await create()
    before = await asyncio.to_thread(api_counts, env)  # the controllers' writes, not our creates
    await asyncio.sleep(minutes * 60)  # a fixed measurement window, not a wait for a condition
    end = datetime.now(UTC)
    after = await asyncio.to_thread(api_counts, env)
    await stop()
    final = await settle(env, {"jobs", "pods", "scrapetargets", "cronjobs", "events"}, since=first, quiet=15)
    jobs = await list_all(kube, ns_path("batch/v1", ns, "jobs"))
    d = delta(after, before)
    created = d.get(("jobs", "POST"), 0)
    for harness in (
        ("cronjobs", "POST"),
        ("cronjobs", "PATCH"),
        ("scrapetargets", "POST"),
        ("scrapetargets", "PATCH"),
    ):
        final.pop(harness, None)
    created_all = final.get(("jobs", "POST"), 0)
    events = await list_all(kube, ns_path("v1", ns, "events"))
    inside = [
        j
        for j in jobs
        if (t := parse_time((j["metadata"].get("annotations") or {}).get(annotation))) and start <= t <= end
    ]
    sk = skews(inside, annotation)
    return {
        "window_seconds": round((end - start).total_seconds()),
        "jobs_created": created,
        "skew_p50_seconds": pct(sk, 0.5),
        "skew_p99_seconds": pct(sk, 0.99),
        "skew_max_seconds": round(max(sk), 3) if sk else None,
        "jobs_measured": len(sk),
        "writes_per_job": round(writes(d) / max(created, 1), 2),
        "writes_by_resource": by_resource(d, only_writes=True),
        "lifecycle": {
            "jobs_created": created_all,
            "writes_per_job": round(writes(final) / max(created_all, 1), 2),
            "writes_per_job_by_resource": {
                k: round(v / max(created_all, 1), 2) for k, v in by_resource(final, only_writes=True).items()
            },
        },
        # every Event in the namespace last seen since the creates began, by who reported it
        "events_by_reporter": events_by_reporter(events, start),
    }


# -- the operator's foreign-Job cost, repeated side-by-side runs, load ----------------------------------
class Load:
    """The machine's 1-minute load average, sampled every 5 s (the machine is shared: the figures say how
    busy it was while each phase ran)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task = asyncio.create_task(self._run())

    @staticmethod
    def now() -> float:
        return float(Path("/proc/loadavg").read_text().split()[0])

    async def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.now()))
            await asyncio.sleep(5.0)

    def between(self, t0: float, t1: float) -> dict[str, float]:
        got = [v for t, v in self.samples if t0 <= t <= t1] or [self.now()]
        return {"min": min(got), "mean": round(sum(got) / len(got), 2), "max": max(got)}

    def stop(self) -> None:
        self._task.cancel()


def foreign_job(i: int) -> dict[str, Any]:
    """A batch Job that is not ours: no scoutly label, a 1 s kwok pod."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"f{i:05d}", "labels": {"app": "foreign-batch"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": "foreign-batch"}, "annotations": POD_ANNOTATIONS},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": "batch:bench", "command": ["true"]}],
                },
            },
        },
    }


class Watcher:
    """`kubectl get <kind> --watch` of the foreign namespace with no selector: what a watch that is not
    label-selected by the API server receives during the burst (events, and the client CPU to decode them)."""

    def __init__(self, env: LocalEnv, workdir: Path, kind: str) -> None:
        self.out = workdir / f"watch-{kind}.txt"
        with self.out.open("wb") as f:
            self.proc = subprocess.Popen(
                [
                    *(env.bin("kubectl"), "--kubeconfig", str(env.kubeconfig), "get", kind, "-n", NS_FOREIGN),
                    *("--watch-only", "--output-watch-events", "-o", "name"),
                ],
                stdout=f,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop(self) -> dict[str, Any]:
        # kubectl does not resume a watch the server closed: then it has exited and its count is partial
        ended_early = self.proc.poll() is not None
        cpu = 0.0 if ended_early else cpu_seconds(self.proc.pid)
        if not ended_early:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        return {
            "events": len(self.out.read_text().splitlines()),
            "client_cpu_seconds": round(cpu, 2),
            "ended_early": ended_early,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def events_by_reporter(events: list[dict[str, Any]], since: datetime) -> dict[str, int]:
    """Events (counting repeats) by reporting component and reason, of those last seen since `since`."""
    out: Counter[str] = Counter()
    for e in events:
        last = parse_time(
            e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
        )
        if last is None or last < since:
            continue
        who = (e.get("source") or {}).get("component") or e.get("reportingComponent") or "?"
        kind = (e.get("involvedObject") or {}).get("kind", "?")
        out[f"{who} {kind} {e.get('reason')}"] += int(e.get("count") or 1)
    return dict(out.most_common())


class Bench:
    """One environment with the 10,000 targets; each phase starts its own operator and leaves the
    cluster idle (its objects finished or suspended, in namespaces of its own) for the next."""

    def __init__(self, args: argparse.Namespace, env: LocalEnv, kube: KubeClient, workdir: Path) -> None:
        self.args, self.env, self.kube, self.workdir = args, env, kube, workdir
        self.results: dict[str, Any] = {}
        self.ops: list[Operator] = []
        self.last = datetime.now(UTC).replace(microsecond=0)
        self.load = Load()
        self.runs = args.side_by_side_runs
        self.namespaces = [NS, NS_FOREIGN, *(f"{NS_1M}-{r}" for r in range(1, self.runs + 1))]

    def operator(self, *, cap: int, leader_election: bool, tag: str) -> Operator:
        op = Operator(
            self.env,
            self.workdir,
            cap=cap,
            leader_election=leader_election,
            tag=tag,
            namespaces=self.namespaces,
            pythonpath=self.args.operator_pythonpath,
            extra_env=dict(e.split("=", 1) for e in self.args.operator_env),
            mirror=not self.args.no_mirror,
        )
        self.ops.append(op)
        return op

    async def started(self, *, cap: int, tag: str) -> Operator:
        """An operator ready with every target, its start-up writes (if any) done."""
        op = self.operator(cap=cap, leader_election=False, tag=tag)
        await op.wait_ready(self.args.targets)
        await settle(self.env, {"scrapetargets", "jobs", "events"}, quiet=5)
        return op

    async def phase(self, name: str, fn: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        log(f"phase {name}")
        t0 = time.monotonic()
        try:
            out = await fn()
        finally:
            for o in self.ops:
                o.stop()
        out["load_average_1m"] = self.load.between(t0, time.monotonic())
        out["phase_seconds"] = round(time.monotonic() - t0)
        self.results[name] = out
        save(self.args.output, self.results)
        await settle(self.env, {"jobs", "pods", "scrapetargets"}, quiet=10)

    # -- memory, idle, restart --------------------------------------------------------------------
    async def memory(self) -> dict[str, Any]:
        """First start (derives and writes every target's status once), idle, restart with a Lease."""
        args, env = self.args, self.env
        base = await idle_window(env, args.idle)  # the cluster idle without the operator
        before_start = await asyncio.to_thread(api_counts, env)
        op = self.operator(cap=100, leader_election=False, tag="first")
        first_ready = await op.wait_ready(args.targets)
        rss_ready = op.status()["VmRSS"]
        first_writes = await settle(env, {"scrapetargets", "events", "jobs"}, since=before_start)
        log(f"ready after {first_ready:.1f}s; first-sight writes {writes(first_writes)}")
        idle = await idle_window(env, args.idle)
        steady = op.status()["VmRSS"]
        peak_first = op.peak_rss_kib
        op.probe()
        op.stop()

        before_start = await asyncio.to_thread(api_counts, env)
        op = self.operator(cap=100, leader_election=True, tag="restart")
        resume = await op.wait_ready(args.targets)
        resume_writes = await settle(env, {"scrapetargets", "events", "jobs"}, since=before_start)
        log(f"resumed after {resume:.1f}s; writes {writes(resume_writes)}")
        idle_ha = await idle_window(env, args.idle)
        rss_restart = op.status()["VmRSS"]
        op.probe()
        per_min = 60.0 / args.idle
        mine = {"scrapetargets", "jobs", "events"}
        return {
            "rss_when_ready_mib": round(rss_ready / 1024, 1),
            "steady_rss_mib": round(steady / 1024, 1),
            "peak_rss_first_start_mib": round(peak_first / 1024, 1),
            # a restart finds every status written already: no start-up write storm to allocate for
            "steady_rss_after_restart_mib": round(rss_restart / 1024, 1),
            "first_start_ready_seconds": round(first_ready, 1),
            "first_start_writes": by_resource(first_writes, only_writes=True),
            "resume_ready_seconds": round(resume, 1),
            "resume_writes": by_resource(resume_writes, only_writes=True),
            "idle_api_requests_per_minute": {
                "cluster_without_operator": {
                    "all": round(sum(base.values()) * per_min),
                    "writes": round(writes(base) * per_min),
                    "detail": by_resource(base, only_writes=False),
                },
                "standalone": {
                    "all": round(sum(idle.values()) * per_min),
                    "writes": round(writes(idle) * per_min),
                    "operator_resource_writes": round(writes(idle, mine) * per_min),
                    "detail": by_resource(idle, only_writes=False),
                },
                "leader_election": {
                    "all": round(sum(idle_ha.values()) * per_min),
                    "writes": round(writes(idle_ha) * per_min),
                    "lease_writes": round(writes(idle_ha, {"leases"}) * per_min),
                    "operator_resource_writes": round(writes(idle_ha, mine) * per_min),
                    "detail": by_resource(idle_ha, only_writes=False),
                },
            },
        }

    # -- dispatch lag and rate --------------------------------------------------------------------
    async def dispatch(self) -> dict[str, Any]:
        args, env, kube = self.args, self.env, self.kube
        wave_a = [f"t{i:05d}" for i in range(args.wave)]
        wave_b = [f"t{i:05d}" for i in range(args.wave, 2 * args.wave)]
        out: dict[str, Any] = {}

        async def wave_done(names: list[str], at: datetime) -> list[dict[str, Any]]:
            jobs = await wave_jobs(kube, names, at)
            return jobs if len(jobs) >= len(names) else []

        op = await self.started(cap=100, tag="wave-a")
        log(f"wave A: {args.wave} due at once, cap 100")
        due = await make_due(kube, wave_a, last=self.last, lead=args.lead)
        jobs_a = await eventually(
            lambda: wave_done(wave_a, due), timeout=900, interval=2.0, what="wave A dispatched"
        )
        sk = skews(jobs_a, ANN_SCHEDULED)
        created = sorted(t for j in jobs_a if (t := parse_time(j["metadata"]["creationTimestamp"])))
        out["lag_cap_100"] = {
            "jobs": len(jobs_a),
            "lag_p50_seconds": pct(sk, 0.5),
            "lag_p99_seconds": pct(sk, 0.99),
            "lag_max_seconds": round(max(sk), 3),
            "first_slot_p99_seconds": pct(sorted(sk)[:100], 0.99),
            "wave_seconds": round((created[-1] - due).total_seconds(), 1),
            "note": "creationTimestamp has one-second resolution",
        }
        await calm(kube, wave_a)
        await settle(env, {"scrapetargets", "jobs", "pods"}, quiet=10)
        op.stop()

        op = await self.started(cap=args.wave, tag="wave-b")
        log(f"wave B: {args.wave} due at once, cap {args.wave}")
        created_before = op.metric("scoutly_jobs_created_total")
        due_b = await make_due(kube, wave_b, last=self.last, lead=args.lead)
        await asyncio.sleep(max(0.0, (due_b - datetime.now(UTC)).total_seconds()))  # the due second we set

        async def all_created() -> bool:
            got = await asyncio.to_thread(op.metric, "scoutly_jobs_created_total")
            return bool(got - created_before >= args.wave)

        t0, cpu0 = time.monotonic(), op.cpu_seconds()
        await eventually(all_created, timeout=900, interval=0.1, what="wave B created")
        op_seconds = time.monotonic() - t0
        op_cpu = op.cpu_seconds() - cpu0
        jobs_b = await eventually(
            lambda: wave_done(wave_b, due_b), timeout=120, interval=1.0, what="wave B listed"
        )
        sk_b = skews(jobs_b, ANN_SCHEDULED)
        await calm(kube, wave_b)
        await settle(env, {"scrapetargets", "jobs", "pods"}, quiet=10)
        log("raw client loop")
        # the same conditions as wave B: every target watched, the operator idle; its Jobs are left in
        # place (deleting 2,000 Jobs is slower than creating them) and finish like the others
        raw_rates = {p: round(await raw_loop(kube, args.wave, parallel=p), 1) for p in (1, 64)}
        out["rate"] = {
            "jobs": args.wave,
            "operator_jobs_per_second": round(args.wave / op_seconds, 1),
            "operator_cpu_percent_during_wave": round(100 * op_cpu / op_seconds),
            "operator_cpu_ms_per_job": round(1000 * op_cpu / args.wave, 1),
            "operator_lag_p50_seconds": pct(sk_b, 0.5),
            "operator_lag_p99_seconds": pct(sk_b, 0.99),
            "raw_loop_jobs_per_second": raw_rates,
            "operator_vs_raw_parallel_64": round(args.wave / op_seconds / raw_rates[64], 2),
        }
        return out

    # -- CronJobs and one-minute ScrapeTargets, N times -------------------------------------------
    async def side_by_side(self) -> dict[str, Any]:
        args, env, kube = self.args, self.env, self.kube
        op = await self.started(cap=args.wave, tag="side-by-side")
        runs: list[dict[str, Any]] = []
        n = args.periodic
        for r in range(1, self.runs + 1):
            ns_cron, ns_st = f"{NS_CRON}-{r}", f"{NS_1M}-{r}"
            cron_path = ns_path("batch/v1", ns_cron, "cronjobs")
            st_path = ns_path(m.API_VERSION, ns_st, m.PLURAL)

            async def make_cron(path: str = cron_path) -> None:
                await bounded(range(n), lambda i: kube.create(path, cronjob(i)))

            async def stop_cron(path: str = cron_path) -> None:
                await bounded(
                    range(n), lambda i: kube.merge_patch(f"{path}/c{i:05d}", {"spec": {"suspend": True}})
                )

            async def make_st(path: str = st_path) -> None:
                await bounded(
                    range(n), lambda i: kube.create(path, target(f"m{i:05d}", rank=50, cooldown="1m"))
                )

            async def stop_st(path: str = st_path) -> None:
                await bounded(
                    range(n), lambda i: kube.merge_patch(f"{path}/m{i:05d}", {"spec": {"suspend": True}})
                )

            log(f"run {r}/{self.runs}: {n} CronJobs for {args.minutes} min")
            t0 = time.monotonic()
            cron = await periodic_window(
                env,
                kube,
                ns=ns_cron,
                annotation="batch.kubernetes.io/cronjob-scheduled-timestamp",
                minutes=args.minutes,
                create=make_cron,
                stop=stop_cron,
            )
            cron["load_average_1m"] = self.load.between(t0, time.monotonic())
            log(f"run {r}/{self.runs}: {n} ScrapeTargets (cooldown 1m) for {args.minutes} min")
            t0 = time.monotonic()
            st = await periodic_window(
                env,
                kube,
                ns=ns_st,
                annotation=ANN_SCHEDULED,
                minutes=args.minutes,
                create=make_st,
                stop=stop_st,
            )
            st["load_average_1m"] = self.load.between(t0, time.monotonic())
            runs.append({"run": r, "cronjob": cron, "scrapetarget_1m": st})
            log(
                f"run {r}: skew p99 cron {cron['skew_p99_seconds']} s / ours {st['skew_p99_seconds']} s; "
                f"writes per Job cron {cron['writes_per_job']} / ours {st['writes_per_job']}"
            )
            self.results["side_by_side"] = {"runs": runs}
            save(args.output, self.results)
        return {
            "runs": runs,
            "skew_p99_at_most_cronjob": sum(
                x["scrapetarget_1m"]["skew_p99_seconds"] <= x["cronjob"]["skew_p99_seconds"] for x in runs
            ),
            "writes_per_job_at_most_cronjob": sum(
                x["scrapetarget_1m"]["writes_per_job"] <= x["cronjob"]["writes_per_job"] for x in runs
            ),
            "lifecycle_writes_per_job_at_most_cronjob": sum(
                x["scrapetarget_1m"]["lifecycle"]["writes_per_job"]
                <= x["cronjob"]["lifecycle"]["writes_per_job"]
                for x in runs
            ),
            "operator_peak_rss_mib": round(op.peak_rss_kib / 1024, 1),
        }

    # -- a burst of Jobs that are not ours ---------------------------------------------------------
    async def foreign(self) -> dict[str, Any]:
        """10,000 foreign Jobs created (64 in flight), run by kwok and deleted again, in a namespace the
        operator watches, while the operator is idle with every target: its extra CPU over that window
        against an idle window of the same length right after."""
        args, env, kube = self.args, self.env, self.kube
        op = await self.started(cap=100, tag="foreign")
        path = ns_path("batch/v1", NS_FOREIGN, "jobs")
        sel = {"labelSelector": "app=foreign-batch"}

        async def none_left(kind: str) -> bool:
            got = await kube.get(
                ns_path("batch/v1" if kind == "jobs" else "v1", NS_FOREIGN, kind), limit=1, **sel
            )
            return not got["items"]

        events0 = op.metric("scoutly_watch_events_total")
        watchers = {kind: Watcher(env, self.workdir, kind) for kind in ("jobs", "pods")}
        api0 = await asyncio.to_thread(api_counts, env)
        t0, cpu0 = time.monotonic(), op.cpu_seconds()
        log(f"foreign burst: {args.foreign} Jobs")
        await bounded(range(args.foreign), lambda i: kube.create(path, foreign_job(i)))
        created_s = time.monotonic() - t0
        await settle(env, {"jobs", "pods"}, quiet=10, timeout=1800)
        done = await list_all(kube, path, **sel)
        succeeded = sum(1 for j in done if (j.get("status") or {}).get("succeeded"))
        ran_s = time.monotonic() - t0
        log(f"foreign burst: {succeeded}/{len(done)} succeeded after {ran_s:.0f}s; deleting them")
        await kube.request(
            "DELETE",
            path,
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            query=sel,
        )
        await eventually(lambda: none_left("jobs"), timeout=1800, interval=2.0, what="foreign Jobs deleted")
        await eventually(lambda: none_left("pods"), timeout=1800, interval=2.0, what="foreign pods deleted")
        await settle(env, {"jobs", "pods"}, quiet=10, timeout=1800)
        t1, cpu1 = time.monotonic(), op.cpu_seconds()
        api1 = await asyncio.to_thread(api_counts, env)
        events1 = op.metric("scoutly_watch_events_total")
        unfiltered = {kind: w.stop() for kind, w in watchers.items()}
        window = t1 - t0
        log(f"foreign burst window {window:.0f}s; idle window of the same length")
        cpu2 = op.cpu_seconds()
        await asyncio.sleep(window)  # the idle comparison: a fixed window as long as the burst's
        cpu3 = op.cpu_seconds()
        burst_cpu, idle_cpu = cpu1 - cpu0, cpu3 - cpu2
        d = delta(api1, api0)
        return {
            "foreign_jobs": args.foreign,
            "succeeded": succeeded,
            "create_seconds": round(created_s, 1),
            "run_seconds": round(ran_s, 1),
            "window_seconds": round(window, 1),
            "api_writes_in_window": writes(d),
            "api_writes_jobs_pods": writes(d, {"jobs", "pods"}),
            "operator_cpu_seconds_burst": round(burst_cpu, 2),
            "operator_cpu_seconds_idle_same_length": round(idle_cpu, 2),
            "operator_extra_cpu_seconds": round(burst_cpu - idle_cpu, 2),
            "operator_extra_cpu_percent_of_one_core": round(100 * (burst_cpu - idle_cpu) / window, 2),
            # handlers called; 0 also with a client-side filter: the CPU is the proof, next to what an
            # unfiltered watch of the same namespace received in the same window
            "operator_watch_events_handled_in_burst": events1 - events0,
            "unfiltered_watch_of_the_namespace": unfiltered,
            "operator_rss_mib_after": round(op.status()["VmRSS"] / 1024, 1),
        }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    phases = [p for p in PHASES if p in args.phases]
    workdir = Path(tempfile.mkdtemp(prefix="scoutly-scale-"))
    env = LocalEnv(workdir=workdir, nodes=args.nodes).start()
    kube = await KubeClient.connect(kubeconfig=str(env.kubeconfig), user_agent="scoutly-bench")
    b = Bench(args, env, kube, workdir)
    b.results.update(
        targets=args.targets,
        nodes=args.nodes,
        phases=phases,
        workdir=str(workdir),
        commit=git_commit(),
        operator_pythonpath=args.operator_pythonpath,
        operator_env=args.operator_env,
        mirror=not args.no_mirror,
        label=args.label,
        cpus=os.cpu_count(),
        started=iso(datetime.now(UTC)),
    )
    try:
        crd = build_crd()
        await kube.create(CRD_PATH, crd)
        crons = [f"{NS_CRON}-{r}" for r in range(1, b.runs + 1)]
        for ns in (*b.namespaces, *crons, NS_RAW):
            await kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})

        async def established() -> bool:
            got = await kube.get(f"{CRD_PATH}/{crd['metadata']['name']}")
            return any(c["type"] == "Established" for c in got.get("status", {}).get("conditions") or [])

        await eventually(established, what="CRD established")
        log(f"creating {args.targets} targets")
        b.results["setup"] = await create_targets(kube, args.targets, args.wave, b.last)
        fns = {"memory": b.memory, "dispatch": b.dispatch, "sidebyside": b.side_by_side, "foreign": b.foreign}
        for p in phases:
            await b.phase(p, fns[p])
        b.results["finished"] = iso(datetime.now(UTC))
        save(args.output, b.results)
    finally:
        b.load.stop()
        for o in b.ops:
            o.stop()
        await kube.close()
        env.stop()
    return b.results


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "operator"], cwd=here.parent, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def save(path: Path | None, results: dict[str, Any]) -> None:
    """Write what is measured so far (a failure later keeps the earlier figures)."""
    if path is not None:
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt  # run the `finally` that stops the environment


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=10_000)
    ap.add_argument(
        "--phases",
        default=",".join(PHASES),
        type=lambda s: [p.strip() for p in s.split(",") if p.strip()],
        help=f"comma-separated, run in this order whatever the order given: {','.join(PHASES)}",
    )
    ap.add_argument("--wave", type=int, default=1_000, help="targets falling due at once")
    ap.add_argument("--periodic", type=int, default=1_000, help="CronJobs and one-minute ScrapeTargets")
    ap.add_argument("--minutes", type=int, default=3, help="length of each periodic window")
    ap.add_argument("--side-by-side-runs", type=int, default=3, help="CronJob/ScrapeTarget pairs of windows")
    ap.add_argument("--foreign", type=int, default=10_000, help="foreign Jobs in the burst")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of each idle window")
    ap.add_argument(
        "--lead", type=float, default=30.0, help="seconds between making a wave due and its due time"
    )
    ap.add_argument("--nodes", type=int, default=10, help="kwok fake nodes")
    ap.add_argument(
        "--operator-pythonpath",
        help="run the operator from another checkout's operator/ directory (e.g. a `git archive` of the "
        "commit to compare with); the harness itself stays this one",
    )
    ap.add_argument(
        "--operator-env", action="append", default=[], metavar="NAME=VALUE", help="extra operator environment"
    )
    ap.add_argument(
        "--no-mirror",
        action="store_true",
        help="run the operator without MongoDB (no jobqueues/companies writes): the controllers alone, "
        "without the embedded FerretDB's per-write collection scans on the same cores",
    )
    ap.add_argument("--label", help="free text stored in the JSON (e.g. which operator code ran)")
    ap.add_argument("--output", type=Path, help="also write the JSON here")
    a = ap.parse_args()
    unknown = set(a.phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {', '.join(sorted(unknown))}")
    print(json.dumps(asyncio.run(main(a)), indent=2, default=str))
