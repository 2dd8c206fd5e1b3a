"""`make demo` on the real node: the operator creates Jobs whose pods run `scoutly scrape` from the
image built by `make image`, against local demo job boards and a local OpenAI-compatible server (pods
reach both on the node's bridge address), and write to FerretDB. The samples keep their names, ranks and
schedules; their sources are pointed at the demo boards (served in Greenhouse's own shape)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient

from scoutly.testing.demo_services import API_KEY, Boards
from scoutly.testing.env import LocalEnv

IMAGE = "localhost/scoutly-operator:dev"
DEMO_USER = "demo.candidate@example.com"


def local_samples(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples with each source a Greenhouse board named after the target (served by the demo
    Greenhouse API that settings_overrides points every scrape at)."""
    out = []
    for doc in samples:
        d = copy.deepcopy(doc)
        name = d["metadata"]["name"]
        d["spec"]["source"] = {"url": f"https://boards.greenhouse.io/{name}"}
        d["spec"].get("jobTemplate", {}).pop("labels", None)  # a Kueue queue label: no Kueue here
        out.append(d)
    return out


def demo_boards(samples: list[dict[str, Any]]) -> Boards:
    return Boards(boards=tuple(d["metadata"]["name"] for d in samples))


async def seed_candidate(db: Any, samples: list[dict[str, Any]]) -> None:
    """One candidate tracking every sample that names its app company, so the scrapes have someone to
    match postings for (documents in the app's shapes, as in tests/appdata.py)."""
    now = datetime.now(UTC)
    stamps = {"createdAt": now, "updatedAt": now, "__v": 0}
    user_id = ObjectId()
    await db["users"].insert_one(
        {
            "_id": ObjectId(),
            "userId": user_id,
            "email": DEMO_USER,
            "candidateInfo": {
                "logistics": {"currentResidence": {"city": "Berlin", "country": "Germany"}},
                "preferences": {
                    "careerGoals": ["Backend Engineer", "Platform Engineer"],
                    "workEnvironments": ["Remote", "Hybrid"],
                },
            },
            **stamps,
        }
    )
    for d in samples:
        company_id = d["spec"].get("companyId")
        if not company_id:
            continue
        name = d["metadata"]["name"]
        await db["companies"].update_one(
            {"_id": ObjectId(company_id)},
            {
                "$setOnInsert": {
                    "companyID": name,
                    "company": d["spec"]["company"],
                    "careers_url": f"https://boards.greenhouse.io/{name}",
                    **stamps,
                }
            },
            upsert=True,
        )
        await db["usercompanypreferences"].insert_one(
            {
                "userId": str(user_id),
                "companyId": ObjectId(company_id),
                "rank": 90,
                "isTracking": True,
                "frequency": "Weekly",
                **stamps,
            }
        )


async def report(env: LocalEnv, database: str) -> None:
    """What the pods wrote, read back from MongoDB."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env.mongo_uri, tz_aware=True)
    db = client[database]
    print("\njob postings fetched by the scrape pods (jobpostings in MongoDB):")
    async for p in db["jobpostings"].find({}, {"board": 1, "title": 1, "location": 1}).sort("board"):
        print(f"  {p.get('board', ''):<10} {p['title']:<40} {p.get('location', '')}")
    print(
        "\nmatches written for the demo candidate (jobmatches with isMatch; the app shows them as savedjobs):"
    )
    async for mt in db["jobmatches"].find({"isMatch": True}).sort("score", -1):
        print(
            f"  {mt.get('score') or 0:>4} {mt.get('verdict') or '':<8} {mt.get('title') or mt.get('url') or ''}"
        )
    print(f"  ({await db['savedjobs'].count_documents({})} savedjobs)")
    print("\njobqueues:")
    async for q in db["jobqueues"].find({}, {"_id": 0, "jobName": 1, "status": 1}):
        print(f"  {q['jobName']:<32} {q['status']}")
    await client.close()


def settings_overrides(llm_url: str, boards_url: str, host: str) -> dict[str, Any]:
    """Operator settings for Jobs that run the local image with the demo LLM and the demo Greenhouse API,
    on an address the scrape guard allows explicitly: scrape-wide settings only the operator may set."""
    return {
        "scrape_settings": json.dumps(
            {"scrape_api_bases": json.dumps({"greenhouse": boards_url}), "scrape_allow_private_hosts": host}
        ),
        "scrape_image": IMAGE,
        "scrape_image_pull_policy": "Never",
        "openai_secret_name": "scoutly-openai",
        "openai_base_url": f"{llm_url}/v1",
    }


__all__ = ["API_KEY", "demo_boards", "local_samples", "report", "seed_candidate", "settings_overrides"]
