"""`scoutly dev up/down/demo`: the test environment as a command for people."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import yaml

from scoutly.testing.env import REPO_ROOT, LocalEnv, stop_detached
from scoutly.testing.procs import ComponentError

DEMO_NAMESPACE = "scoutly-demo"


def up(workdir: Path, *, nodes: int = 2) -> int:
    if (workdir / "state.json").exists():
        print(
            f"an environment is already running from {workdir}; run 'make cluster-down' first",
            file=sys.stderr,
        )
        return 1
    try:
        env = LocalEnv(workdir=workdir, nodes=nodes, detach=True).start()
    except ComponentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"""Local control plane and FerretDB are running (logs in {workdir / "logs"}).

  export KUBECONFIG={env.kubeconfig}
  kubectl get nodes
  export SCOUTLY_MONGODB_URI={env.mongo_uri}

Stop it with: make cluster-down   (or: scoutly dev down --dir {workdir})""")
    return 0


def down(workdir: Path) -> int:
    if stop_detached(workdir):
        print(f"stopped the environment in {workdir}")
    else:
        print(f"no environment running from {workdir}")
    return 0


def demo(workdir: Path, *, keep: bool, timeout: float) -> int:
    """Local control plane + FerretDB, the CRD, the operator and the samples; watch them get scraped."""
    if (workdir / "state.json").exists():
        print(
            f"an environment from 'make cluster-up' runs in {workdir}; run 'make cluster-down' first",
            file=sys.stderr,
        )
        return 1
    demo_dir = workdir / "demo"
    env = LocalEnv(workdir=demo_dir, nodes=2)
    try:
        print(
            "starting etcd, kube-apiserver, controller-manager, scheduler, kwok and FerretDB ...", flush=True
        )
        env.start()
        return asyncio.run(_demo(env, keep=keep, timeout=timeout))
    except ComponentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        env.stop()


async def _demo(env: LocalEnv, *, keep: bool, timeout: float) -> int:
    from pymongo import AsyncMongoClient

    from scoutly.api.crd import build_crd
    from scoutly.config import OperatorSettings
    from scoutly.controller.operator import run

    env.kubectl_apply(build_crd())
    env.kubectl("wait", "--for=condition=Established", "crd/scrapetargets.scoutly.io", "--timeout=60s")
    env.kubectl("create", "namespace", DEMO_NAMESPACE)
    env.kubectl(
        "create",
        "secret",
        "generic",
        "scoutly-mongodb",
        "-n",
        DEMO_NAMESPACE,
        f"--from-literal=uri={env.mongo_uri}scoutly",
    )
    samples = REPO_ROOT / "manifests" / "samples" / "scrapetargets.yaml"
    expected = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all(samples.read_text())
        if d and not d["spec"].get("suspend")
    ]
    settings = OperatorSettings(
        kubeconfig=str(env.kubeconfig),
        namespaces=DEMO_NAMESPACE,
        mongodb_uri=env.mongo_uri + "scoutly",
        metrics_port=0,
        log_level="WARNING",
        # kwok plays the pods: each "scrape" runs 3 s (the real pipeline is `scoutly scrape`, docs/scrape.md)
        extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "3s"}),
    )
    stop = asyncio.Event()
    operator = asyncio.create_task(run(settings, stop_flag=stop))
    print(f"operator running; applying {samples.relative_to(REPO_ROOT)}\n", flush=True)
    env.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(samples))
    rc = 1
    last = ""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not operator.done():
            out = env.kubectl("get", "scrapetargets", "-n", DEMO_NAMESPACE).stdout
            if out != last:
                print(
                    f"$ kubectl get scrapetargets   # t={time.monotonic() - deadline + timeout:.0f}s\n{out}",
                    flush=True,
                )
                last = out
            phases = json.loads(
                env.kubectl("get", "scrapetargets", "-n", DEMO_NAMESPACE, "-o", "json").stdout
            )
            done = {
                i["metadata"]["name"]
                for i in phases["items"]
                if (i.get("status") or {}).get("phase") == "Succeeded"
            }
            if set(expected) <= done:
                rc = 0
                break
            await asyncio.sleep(1)
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(env.mongo_uri, tz_aware=True)
        docs = await client["scoutly"]["jobqueues"].find({}, {"_id": 0, "jobName": 1, "status": 1}).to_list()
        await client.close()
        print("jobqueues in MongoDB (FerretDB):")
        for d in docs:
            print(f"  {d['jobName']:<32} {d['status']}")
        print("\nall samples scraped" if rc == 0 else f"\nnot all samples succeeded within {timeout:.0f}s")
        if keep and rc == 0:
            print(f"\nkept running: export KUBECONFIG={env.kubeconfig}; Ctrl-C stops everything", flush=True)
            await operator
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(operator, 20)
    return rc
