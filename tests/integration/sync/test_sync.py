"""Preference sync against the real control plane and FerretDB: targets follow the app's preferences."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.api import models as m
from scoutly.kube.client import KubeClient, ns_path
from scoutly.sync.plan import ANNOTATION_COMPANY_ID, LABEL_MANAGED_BY, MANAGED_BY
from scoutly.sync.run import run_sync
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import create_target
from tests.integration.sync.helpers import (
    company,
    oid,
    scrapetarget_writes,
    seed,
    targets,
    trackers,
    versions,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

Db = AsyncDatabase[dict[str, Any]]


async def assert_zero_writes(kube: KubeClient, env: LocalEnv, db: Db, namespace: str) -> None:
    """A second run over unchanged input: no API write (resourceVersions and apiserver metrics)."""
    before = versions(await targets(kube, namespace))
    writes_before = await scrapetarget_writes(env)
    report = await run_sync(db=db, kube=kube, namespace=namespace)
    assert report.plan.actions == [] and report.writes == 0, report.as_dict()
    assert versions(await targets(kube, namespace)) == before
    assert await scrapetarget_writes(env) == writes_before


async def test_sync_follows_preferences(
    kube: KubeClient, local_env: LocalEnv, crd: Any, namespace: str, mongo_db: Db
) -> None:
    u1, u2, u3, ghost = oid(), oid(), oid(), oid()
    a, b, c, missing = oid(), oid(), oid(), oid()
    await seed(
        mongo_db,
        users=[u1, u2, u3],
        companies=[company(a, "Acme"), company(b, "Beta"), company(c, "Gamma")],
        prefs=[
            (u1, a, 40, True),
            (u2, a, 90, True),
            (u2, a, 90, True),  # duplicate
            (u1, b, 60, True),
            (u3, c, 70, False),  # not tracking: no target
            (u1, missing, 50, True),  # missing company
            (ghost, b, 99, True),  # missing user
            (u3, b, 150, True),  # rank out of range
        ],
    )
    hand = await create_target(kube, namespace, "acme-by-hand", company="Acme (mine)", rank=5)
    hand_rv = hand["metadata"]["resourceVersion"]
    ta, tb = f"co-{a}", f"co-{b}"

    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    counts = report.counts()
    assert (counts["create"], counts["problems"], counts["errors"]) == (2, 4, 0), report.errors
    assert sorted(p.kind for p in report.plan.problems) == [
        "bad-rank",
        "duplicate",
        "missing-company",
        "missing-user",
    ]
    ts = await targets(kube, namespace)
    assert set(ts) == {ta, tb, "acme-by-hand"}
    assert ts[ta]["spec"]["rank"] == 90 and trackers(ts[ta]) == {str(u1): 40, str(u2): 90}
    assert ts[ta]["spec"]["company"] == "Acme" and ts[ta]["spec"]["companyId"] == str(a)
    assert ts[ta]["spec"]["source"] == {"url": "https://boards.greenhouse.io/acme"}
    assert ts[ta]["metadata"]["labels"][LABEL_MANAGED_BY] == MANAGED_BY
    assert ts[ta]["metadata"]["annotations"][ANNOTATION_COMPANY_ID] == str(a)
    assert ts[tb]["spec"]["rank"] == 60 and trackers(ts[tb]) == {str(u1): 60}

    await assert_zero_writes(kube, local_env, mongo_db, namespace)

    # a user's kubectl edits of fields the sync does not own survive, and cost the sync no write
    await asyncio.to_thread(
        local_env.kubectl,
        "patch", "scrapetarget", ta, "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"cooldown": "6h", "jobTemplate": {"backoffLimit": 3}}}),
    )  # fmt: skip
    await assert_zero_writes(kube, local_env, mongo_db, namespace)

    # an edit of a field the sync owns is put back by the next run (the preferences decide)
    await asyncio.to_thread(
        local_env.kubectl,
        "patch", "scrapetarget", ta, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"rank": 1}}),
    )  # fmt: skip
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    assert [(x.kind, x.diff) for x in report.plan.actions] == [("update", ("rank: 1 -> 90",))]
    t = (await targets(kube, namespace))[ta]
    assert t["spec"]["rank"] == 90 and t["spec"]["cooldown"] == "6h"
    await assert_zero_writes(kube, local_env, mongo_db, namespace)

    prefs = mongo_db["usercompanypreferences"]
    await prefs.update_one({"userId": str(u1), "companyId": a}, {"$set": {"rank": 95}})
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    assert report.counts()["update"] == 1 and report.writes == 1, report.as_dict()
    t = (await targets(kube, namespace))[ta]
    assert t["spec"]["rank"] == 95 and trackers(t) == {str(u1): 95, str(u2): 90}
    assert t["spec"]["cooldown"] == "6h" and t["spec"]["jobTemplate"] == {"backoffLimit": 3}

    # untrack: suspended, not deleted; the rank is kept
    await prefs.update_one({"userId": str(u1), "companyId": b}, {"$set": {"isTracking": False}})
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    assert report.counts()["suspend"] == 1, report.as_dict()
    t = (await targets(kube, namespace))[tb]
    assert t["spec"]["suspend"] is True and trackers(t) == {} and t["spec"]["rank"] == 60
    await assert_zero_writes(kube, local_env, mongo_db, namespace)

    # retrack: resumed with the new rank
    await prefs.update_one({"userId": str(u1), "companyId": b}, {"$set": {"isTracking": True, "rank": 20}})
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    assert report.counts()["resume"] == 1, report.as_dict()
    t = (await targets(kube, namespace))[tb]
    assert t["spec"]["suspend"] is False and trackers(t) == {str(u1): 20} and t["spec"]["rank"] == 20

    # deleted company: suspended and reported, its history stays
    await mongo_db["companies"].delete_one({"_id": a})
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    assert [(x.kind, x.name, x.reason) for x in report.plan.actions] == [("suspend", ta, "company deleted")]
    assert any(p.kind == "deleted" and p.record == f"company {a}" for p in report.plan.problems)
    t = (await targets(kube, namespace))[ta]
    assert t["spec"]["suspend"] is True and t["spec"]["company"] == "Acme"
    assert t["spec"]["cooldown"] == "6h"
    await assert_zero_writes(kube, local_env, mongo_db, namespace)

    # the hand-made target was never written
    assert (await targets(kube, namespace))["acme-by-hand"]["metadata"]["resourceVersion"] == hand_rv


async def test_cli_dry_run_prints_the_plan_and_writes_nothing(
    kube: KubeClient, local_env: LocalEnv, crd: Any, namespace: str, mongo_db: Db
) -> None:
    u1, a, bad = oid(), oid(), oid()
    await seed(
        mongo_db,
        users=[u1],
        companies=[
            company(a, "Acme"),
            {
                "_id": "Not_A_Name",
                "companyID": "odd",
                "company": "Odd",
                "careers_url": "https://x.example/jobs",
            },
        ],
        prefs=[(u1, a, 70, True), (u1, bad, 10, True), (u1, "Not_A_Name", 10, True)],
    )
    env = {
        **os.environ,
        "SCOUTLY_MONGODB_URI": local_env.mongo_uri,
        "SCOUTLY_MONGODB_DATABASE": mongo_db.name,
        "SCOUTLY_KUBECONFIG": str(local_env.kubeconfig),
    }

    async def cli(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scoutly.cli", "sync", "--namespace", namespace, *args,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode() + err.decode()

    rc, out = await cli("--dry-run", "--output", "json")
    assert rc == 0, out
    plan = json.loads(out)
    assert plan["dryRun"] is True
    assert plan["counts"]["create"] == 1 and plan["counts"]["problems"] == 2
    assert plan["actions"][0]["name"] == f"co-{a}"
    assert "rank: + 70" in plan["actions"][0]["diff"]
    assert sorted(p["kind"] for p in plan["problems"]) == ["bad-name", "missing-company"]
    assert await targets(kube, namespace) == {}

    rc, out = await cli()
    assert rc == 0, out
    assert f"create  co-{a}" in out and "missing-company" in out, out
    assert (await targets(kube, namespace))[f"co-{a}"]["spec"]["rank"] == 70

    rc, out = await cli("--dry-run")
    assert rc == 0 and "create 0, update 0, suspend 0, resume 0, unchanged 1" in out, out


async def test_in_operator_mode(
    kube: KubeClient, crd: Any, namespace: str, mongo_db: Db, start_operator: OperatorFactory
) -> None:
    u1, a = oid(), oid()
    await seed(mongo_db, users=[u1], companies=[company(a, "Acme")], prefs=[(u1, a, 30, True)])
    await start_operator(sync_interval="1s", sync_namespace=namespace)
    path = ns_path(m.API_VERSION, namespace, m.PLURAL, f"co-{a}")

    async def rank() -> int | None:
        items = await targets(kube, namespace)
        t = items.get(f"co-{a}")
        return int(t["spec"]["rank"]) if t else None

    assert await eventually(rank, what="the operator's sync to create the target") == 30
    await mongo_db["usercompanypreferences"].update_one({"userId": str(u1)}, {"$set": {"rank": 80}})

    async def updated() -> bool:
        return await rank() == 80

    await eventually(updated, what="the operator's sync to follow the new rank")
    assert (await kube.get(path))["metadata"]["labels"][LABEL_MANAGED_BY] == MANAGED_BY


async def test_5000_preferences_1000_companies_under_30s(
    kube: KubeClient, local_env: LocalEnv, crd: Any, namespace: str, mongo_db: Db
) -> None:
    users = [oid() for _ in range(1000)]
    comps = [oid() for _ in range(1000)]
    prefs = [
        (users[(i * 7 + k) % 1000], comps[i], 10 + (i + k) % 90, True) for i in range(1000) for k in range(5)
    ]
    await seed(
        mongo_db,
        users=users,
        companies=[company(c, f"Company {i}", f"c{i}") for i, c in enumerate(comps)],
        prefs=prefs,
    )
    started = time.monotonic()
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    first = time.monotonic() - started
    assert report.counts()["create"] == 1000 and report.errors == [] and report.plan.problems == []
    started = time.monotonic()
    await assert_zero_writes(kube, local_env, mongo_db, namespace)
    second = time.monotonic() - started
    print(f"\npreference sync: 5000 preferences / 1000 companies: first run {first:.2f}s (1000 creates), "
          f"second run {second:.2f}s (0 writes)")  # fmt: skip
    assert first < 30, f"first sync took {first:.1f}s"
    ts = await targets(kube, namespace)
    assert len(ts) == 1000
    assert all(len(t["spec"]["trackers"]) == 5 for t in ts.values())
