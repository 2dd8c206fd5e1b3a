"""Seeding the app's collections and reading targets for the sync tests."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.api import models as m
from scoutly.kube.client import KubeClient, ns_path
from scoutly.testing.env import LocalEnv
from tests import appdata

# The sync never deletes (it suspends). DELETEs are left out because the counter is cluster-wide: the
# namespace controller deleting earlier tests' namespaces deletes their targets meanwhile.
WRITE_VERBS = ("APPLY", "PATCH", "POST", "PUT", "CREATE", "UPDATE")
METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")


def oid() -> ObjectId:
    return ObjectId()


async def seed(
    db: AsyncDatabase[dict[str, Any]],
    *,
    users: list[ObjectId],
    companies: list[dict[str, Any]],
    prefs: list[tuple[ObjectId, Any, Any, bool]],
) -> None:
    """The app's documents as its models store them (tests/appdata.py). users: `_id`s; companies:
    documents; prefs: (user, companyId, rank, isTracking), with `userId` = String(users._id) as the
    older app wrote it."""
    if users:
        await db["users"].insert_many([{**appdata.user(f"{u}@example.com"), "_id": u} for u in users])
    if companies:
        await db["companies"].insert_many(companies)
    if prefs:
        await db["usercompanypreferences"].insert_many(
            [
                {**appdata.preference({"_id": u}, {"_id": c}, r, tracking=t, by="_id"), "companyId": c}
                for u, c, r, t in prefs
            ]
        )


def company(cid: ObjectId, name: str, slug: str | None = None) -> dict[str, Any]:
    s = slug or name.lower()
    return {**appdata.company(s, name, f"https://boards.greenhouse.io/{s}"), "_id": cid}


async def targets(kube: KubeClient, namespace: str) -> dict[str, dict[str, Any]]:
    items = (await kube.get(ns_path(m.API_VERSION, namespace, m.PLURAL)))["items"]
    return {t["metadata"]["name"]: t for t in items}


def versions(ts: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {n: t["metadata"]["resourceVersion"] for n, t in ts.items()}


async def scrapetarget_writes(env: LocalEnv) -> float:
    """apiserver_request_total summed over write verbs on scrapetargets (the admin client's /metrics)."""
    text = await asyncio.to_thread(env._api_get, "/metrics")
    total = 0.0
    for line in text.splitlines():
        mt = METRIC.match(line)
        if not mt or 'resource="scrapetargets"' not in mt.group(1):
            continue
        verb = re.search(r'verb="([A-Z]+)"', mt.group(1))
        if verb and verb.group(1) in WRITE_VERBS:
            total += float(mt.group(2))
    return total


def trackers(t: dict[str, Any]) -> dict[str, int]:
    return {x["user"]: x["rank"] for x in t["spec"].get("trackers") or []}
