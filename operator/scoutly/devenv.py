"""`scoutly dev up/down/demo`: the test environment as a command for people."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from scoutly.testing.env import REPO_ROOT, LocalEnv, image_archive, locate_binaries, stop_detached
from scoutly.testing.node import NODE_NAME, node_gap
from scoutly.testing.procs import ComponentError

DEMO_NAMESPACE = "scoutly-demo"


def up(workdir: Path, *, nodes: int = 2, real_node: bool = False) -> int:
    if (workdir / "state.json").exists():
        print(
            f"an environment is already running from {workdir}; run 'make cluster-down' first",
            file=sys.stderr,
        )
        return 1
    try:
        images = [a for a in [image_archive()] if a.exists()] if real_node else []
        env = LocalEnv(workdir=workdir, nodes=nodes, detach=True, real_node=real_node, images=images)
        env.start()
    except ComponentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    node = ""
    if env.node_state:
        node = f"""
A real node '{NODE_NAME}' runs pods (containerd + kubelet, logs in {workdir / "node" / "logs"}); the kwok
nodes are tainted. Pods reach this machine at {env.host}. Image: {
            ", ".join(map(str, images))
            or "none imported (run 'make image', then: SCOUTLY_NODE_DIR="
            + str(workdir / "node")
            + " make image)"
        }
"""
    print(f"""Local control plane and FerretDB are running (logs in {workdir / "logs"}).
{node}
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
    # every demo starts from an empty database: a company scraped by the last demo would be in cooldown
    shutil.rmtree(demo_dir / "ferretdb", ignore_errors=True)
    bin_dir = locate_binaries()
    archive = image_archive()
    gap = node_gap(bin_dir) or (None if archive.exists() else f"no image at {archive} ('make image')")
    if gap:
        print(
            f"no real node here ({gap}):\nfalling back to kwok. The pods are SIMULATED: nothing is fetched, "
            "no postings or matches are written.\n",
            flush=True,
        )
    env = LocalEnv(
        workdir=demo_dir, nodes=2, bin_dir=bin_dir, real_node=not gap, images=[] if gap else [archive]
    )
    try:
        print(
            "starting etcd, kube-apiserver, controller-manager, scheduler, kwok, FerretDB"
            + ("" if gap else ", and a real node (containerd + kubelet)")
            + " ...",
            flush=True,
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
    if env.node_state is None:
        return await _demo_on(env, keep=keep, timeout=timeout)
    from scoutly.testing import realdemo
    from scoutly.testing.demo_services import FakeLLM, serve

    samples = [d for d in yaml.safe_load_all(SAMPLES.read_text()) if d]
    boards = realdemo.demo_boards(samples)
    async with serve(boards.app(), env.host) as boards_url, serve(FakeLLM().app(), env.host) as llm_url:
        print(
            f"demo job boards (Greenhouse API) at {boards_url}, fake LLM at {llm_url}: "
            f"the pods on node '{NODE_NAME}' reach them over the bridge\n",
            flush=True,
        )
        local = realdemo.local_samples(samples)
        return await _demo_on(
            env,
            keep=keep,
            timeout=timeout,
            samples=local,
            overrides=realdemo.settings_overrides(llm_url, boards_url, env.host),
        )


SAMPLES = REPO_ROOT / "manifests" / "samples" / "scrapetargets.yaml"


def settings_sa() -> str:
    from scoutly.config import OperatorSettings

    return str(OperatorSettings.model_fields["scrape_service_account"].default)


async def _demo_on(
    env: LocalEnv,
    *,
    keep: bool,
    timeout: float,
    samples: list[dict[str, Any]] | None = None,
    overrides: dict[str, Any] | None = None,
) -> int:
    """The operator in this process and the samples: on kwok (`samples` None: the file as it is, pods
    simulated) or on the real node (`samples` pointed at the demo boards, `overrides` for the image)."""
    from pymongo import AsyncMongoClient

    from scoutly.api.crd import build_crd
    from scoutly.config import OperatorSettings
    from scoutly.controller.operator import run
    from scoutly.testing import realdemo

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
    # the scrape pods' ServiceAccount (the chart creates it; ServiceAccount admission on a real node
    # refuses pods without it)
    env.kubectl("create", "serviceaccount", settings_sa(), "-n", DEMO_NAMESPACE)
    docs = samples or [d for d in yaml.safe_load_all(SAMPLES.read_text()) if d]
    expected = [d["metadata"]["name"] for d in docs if not d["spec"].get("suspend")]
    if overrides is None:
        # kwok plays the pods: each "scrape" runs 3 s (the real pipeline is `scoutly scrape`, docs/scrape.md)
        overrides = {"extra_pod_annotations": json.dumps({"scoutly.io/kwok-duration": "3s"})}
    else:
        env.kubectl(
            "create", "secret", "generic", "scoutly-openai", "-n", DEMO_NAMESPACE,
            f"--from-literal=api-key={realdemo.API_KEY}",
        )  # fmt: skip
        seed: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(env.mongo_uri, tz_aware=True)
        await realdemo.seed_candidate(seed["scoutly"], docs)
        await seed.close()
    settings = OperatorSettings(
        kubeconfig=str(env.kubeconfig),
        namespaces=DEMO_NAMESPACE,
        mongodb_uri=env.mongo_uri + "scoutly",
        metrics_port=0,
        log_level="WARNING",
        **overrides,
    )
    stop = asyncio.Event()
    operator = asyncio.create_task(run(settings, stop_flag=stop))
    what = "the samples, pointed at the demo boards" if samples else SAMPLES.relative_to(REPO_ROOT)
    print(f"operator running; applying {what}\n", flush=True)
    env.kubectl(
        "apply",
        "-n",
        DEMO_NAMESPACE,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
    )
    rc = 1
    last = ""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not operator.done():
            # no AGE column: a table that changes every second would print every second
            out = env.kubectl(
                "get", "scrapetargets", "-n", DEMO_NAMESPACE, "-o",
                "custom-columns=NAME:.metadata.name,COMPANY:.spec.company,RANK:.spec.rank,PHASE:.status.phase,"
                "LAST SCRAPE:.status.lastSuccessfulScrape,RESULT:.status.lastJob.message",
            ).stdout  # fmt: skip
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
        if samples:
            await realdemo.report(env, "scoutly")
        else:
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(env.mongo_uri, tz_aware=True)
            queue = (
                await client["scoutly"]["jobqueues"].find({}, {"_id": 0, "jobName": 1, "status": 1}).to_list()
            )
            await client.close()
            print("jobqueues in MongoDB (FerretDB):")
            for d in queue:
                print(f"  {d['jobName']:<32} {d['status']}")
            print("\n(kwok: the pods were simulated; nothing was fetched)")
        print("\nall samples scraped" if rc == 0 else f"\nnot all samples succeeded within {timeout:.0f}s")
        if keep and rc == 0:
            print(f"\nkept running: export KUBECONFIG={env.kubeconfig}; Ctrl-C stops everything", flush=True)
            await operator
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(operator, 20)
    return rc
