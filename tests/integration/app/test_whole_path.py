"""The whole path on a database shaped like the app's (tests/appdata.py: both app generations, legacy
queue documents and saved jobs, stale fields): `scoutly sync`, then the operator, then each scrape Job,
against the real control plane and FerretDB. Pods are simulated by kwok, so each Job's scrape runs here
in-process, from the Job's own environment, and its termination message is handed to the pod.

Afterwards every document the operator and the scrapes wrote is checked against the app's schemas
(scoutly.store.appschema), and the app's own queries find the right documents."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.api import models as m
from scoutly.controller.jobs import ANN_TARGET_SPEC, SPEC_DIR, SPEC_FILE, parse_time
from scoutly.kube.client import KubeClient, ns_path
from scoutly.scrape.run import run as run_scrape
from scoutly.scrape.run import termination_text
from scoutly.scrape.settings import ScrapeSettings
from scoutly.store import appschema
from scoutly.sync.run import run_sync
from scoutly.testing.env import LocalEnv
from scoutly.testing.wait import eventually
from tests import appdata, pdfgen
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.scrape.fakes import FakeOpenAI, gh_job, serve

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]
DB = AsyncDatabase[dict[str, Any]]
H = timedelta(hours=1)
ACTIVE = {"$in": ["pending", "processing"]}
CV_LINES = ["Jane Doe, Backend Engineer", "Eight years of Python and Go; Kubernetes operators in production"]


@pytest_asyncio.fixture
async def services() -> AsyncIterator[tuple[str, FakeOpenAI, str]]:
    """A Greenhouse board API (each board its own postings and URLs), a CV server, a fake OpenAI."""

    async def greenhouse(request: web.Request) -> web.Response:
        board = request.match_info["board"]
        jobs = [gh_job(1), gh_job(2, title="Senior Python Developer"), gh_job(3, title="Account Executive")]
        for j in jobs:
            j["absolute_url"] = f"https://boards.greenhouse.io/{board}/jobs/{j['id']}"
        return web.json_response({"jobs": jobs, "meta": {"total": len(jobs)}})

    pdf = pdfgen.text_pdf(CV_LINES)

    async def cv(_: web.Request) -> web.Response:
        return web.Response(body=pdf, content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/v1/boards/{board}/jobs", greenhouse)
    app.router.add_get("/cv/jane.pdf", cv)
    llm = FakeOpenAI()
    async with serve(app) as url, serve(llm.app()) as llm_url:
        yield url, llm, llm_url


class App:
    """The app's data for this test, as its Mongoose models store it."""

    def __init__(self, now: datetime, cv_url: str) -> None:
        c = appdata.company
        gh = "https://boards.greenhouse.io"
        # the seed's scheduler cases, one company each
        self.acme = c("acme", "Acme", f"{gh}/acme", last_scrape=now - 2 * H)  # rank 95, 2h ago: not due
        self.initech = c("initech", "Initech", f"{gh}/initech", last_scrape=now - 13 * H)  # 95, 13h: due
        self.globex = c(  # rank 55, 8 days ago: due; the URL as stored: query, fragment, > 200 characters
            "globex",
            "Globex Corporation",
            f"{gh}/globex?gh_src=scoutly&utm_campaign={'x' * 180}#engineering",
            last_scrape=now - timedelta(days=8),
        )
        self.soylent = c("soylent", "Soylent", f"{gh}/soylent")  # 94.5 (the 24h tier), never scraped: due
        self.hooli = c("hooli", "Hooli", f"{gh}/hooli")  # nobody tracks it
        self.umbrella = c("umbrella", "Umbrella", f"{gh}/umbrella", ranking=100)  # only stale fields
        # users of both generations; U2 is from before `userId`, with the stale trackedCompanies
        self.u1 = appdata.user(
            "jane@x.io", info=appdata.candidate_info(goals=["Backend Engineer"]), cv_url=cv_url
        )
        self.u2 = appdata.user(
            "old@x.io",
            generation="old",
            info=appdata.candidate_info(goals=["Python Developer"]),
            tracked=[("umbrella", 100)],
        )
        self.u3 = appdata.user("quiet@x.io", info=appdata.candidate_info())
        p = appdata.preference
        self.prefs = [
            p(self.u1, self.acme, 95),  # newer app: String(users.userId)
            p(self.u1, self.initech, 95),
            p(self.u2, self.globex, 55),  # older app: String(users._id)
            p(self.u1, self.soylent, 94.5),
            p(self.u3, self.hooli, 90, tracking=False),
        ]
        # the app's own queue: a request its scheduler left pending for globex, old finished ones
        self.globex_pending = appdata.app_queue_doc(self.globex, "pending", at=now - H)
        self.queue = [
            self.globex_pending,
            appdata.app_queue_doc(self.acme, "completed", at=now - 2 * H, legacy=True),
            appdata.app_queue_doc(self.initech, "failed", at=now - 20 * H),
        ]
        # U2 saved globex's Python posting under the older model already
        self.legacy_saved = appdata.legacy_saved_job(self.u2, self.globex, f"{gh}/globex/jobs/1002")

    def data(self) -> appdata.AppData:
        return appdata.AppData(
            companies=[self.acme, self.initech, self.globex, self.soylent, self.hooli, self.umbrella],
            users=[self.u1, self.u2, self.u3],
            preferences=self.prefs,
            jobqueues=self.queue,
            savedjobs=[self.legacy_saved],
        )


def scrape_settings(
    job: dict[str, Any], *, mongo_uri: str, board: str, llm: str, tmp: Path
) -> ScrapeSettings:
    """The scrape's settings from the Job's own container environment (what the pod would get), plus
    where this test's fakes are."""
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    # the spec file the downward API would mount from the pod annotation
    spec_file = tmp / f"{env['SCOUTLY_JOB_NAME']}.spec.json"
    spec_file.write_text(job["spec"]["template"]["metadata"]["annotations"][ANN_TARGET_SPEC])
    assert env["SCOUTLY_TARGET_SPEC_FILE"] == f"{SPEC_DIR}/{SPEC_FILE}"
    return ScrapeSettings(
        target=env["SCOUTLY_TARGET"],
        target_spec_file=str(spec_file),
        job_name=env["SCOUTLY_JOB_NAME"],
        llm_model=env["SCOUTLY_LLM_MODEL"],
        mongodb_uri=mongo_uri,
        termination_log=str(tmp / f"{env['SCOUTLY_JOB_NAME']}.term"),
        scrape_allow_private_hosts="127.0.0.1,localhost",
        scrape_api_bases=json.dumps({"greenhouse": board}),
        scrape_rate_per_host=1000.0,
        openai_api_key="sk-test",
        openai_base_url=f"{llm}/v1",
    )


async def run_jobs_in_process(
    kube: KubeClient, namespace: str, done: dict[str, Any], make: Any, stop: asyncio.Event
) -> None:
    """The scrape container of every new Job, here: run it, then give its pod the termination message
    and let kwok finish it."""
    while not stop.is_set():
        jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
        for job in jobs:
            name = job["metadata"]["name"]
            if name in done:
                continue
            pods = (await kube.get(ns_path("v1", namespace, "pods"), labelSelector=f"job-name={name}"))[
                "items"
            ]
            if not pods or (pods[0].get("status") or {}).get("phase") != "Running":
                continue
            rc, summary = await run_scrape(make(job), None)
            done[name] = (rc, summary)
            annotations = {
                "scoutly.io/kwok-message": termination_text(summary),
                "scoutly.io/kwok-duration": "100ms",
            }
            if rc:
                annotations["scoutly.io/kwok-exit-code"] = str(rc)
            await kube.merge_patch(
                ns_path("v1", namespace, "pods", pods[0]["metadata"]["name"]),
                {"metadata": {"annotations": annotations}},
            )
        await asyncio.sleep(0.2)


async def app_docs(db: DB, collection: str) -> list[dict[str, Any]]:
    return await db[collection].find({}).to_list()


async def test_a_database_shaped_like_the_apps_end_to_end(
    local_env: LocalEnv,
    kube: KubeClient,
    namespace: str,
    mongo_db: DB,
    start_operator: OperatorFactory,
    services: tuple[str, FakeOpenAI, str],
    tmp_path: Path,
) -> None:
    board, llm, llm_url = services
    now = datetime.now(UTC)
    app = App(now, f"{board}/cv/jane.pdf")
    await appdata.create_app_collections(mongo_db)
    await app.data().insert(mongo_db)

    # -- one sync: one target per tracked company, with the right name, URL, rank and trackers ---------
    report = await run_sync(db=mongo_db, kube=kube, namespace=namespace)
    assert report.plan.problems == [] and report.errors == []
    targets = {
        t["spec"]["companyId"]: t
        for t in (await kube.get(ns_path(m.API_VERSION, namespace, m.PLURAL)))["items"]
    }
    tracked = {app.acme["_id"]: 95, app.initech["_id"]: 95, app.globex["_id"]: 55, app.soylent["_id"]: 94}
    assert set(targets) == {str(c) for c in tracked}  # not hooli (untracked), not umbrella (stale only)
    by = {c["companyID"]: c for c in (app.acme, app.initech, app.globex, app.soylent)}
    for company in by.values():
        spec = targets[str(company["_id"])]["spec"]
        assert spec["company"] == company["company"] and spec["source"]["url"] == company["careers_url"]
        assert spec["rank"] == tracked[company["_id"]]
    u1, u2 = str(app.u1["_id"]), str(app.u2["_id"])  # both forms of preference resolve to users._id
    assert targets[str(app.acme["_id"])]["spec"]["trackers"] == [{"user": u1, "rank": 95}]
    assert targets[str(app.globex["_id"])]["spec"]["trackers"] == [{"user": u2, "rank": 55}]
    names = {slug: targets[str(c["_id"])]["metadata"]["name"] for slug, c in by.items()}

    # -- the operator: Jobs for exactly the due companies --------------------------------------------
    await start_operator(
        company_poll_interval="1s",
        db_log_interval="1s",
        extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "30s"}),
    )
    uri = f"{local_env.mongo_uri.rstrip('/')}/{mongo_db.name}"
    done: dict[str, Any] = {}
    stop = asyncio.Event()
    runner = asyncio.create_task(
        run_jobs_in_process(
            kube,
            namespace,
            done,
            lambda job: scrape_settings(job, mongo_uri=uri, board=board, llm=llm_url, tmp=tmp_path),
            stop,
        )
    )
    try:

        async def scraped() -> dict[str, dict[str, Any]] | None:
            items = (await kube.get(ns_path(m.API_VERSION, namespace, m.PLURAL)))["items"]
            phases = {
                t["metadata"]["name"]: t for t in items if (t.get("status") or {}).get("phase") == "Succeeded"
            }
            return phases if len(phases) == 3 else None

        # while a Job runs, the app's scheduler guard finds the operator's document for the company
        async def globex_claimed() -> dict[str, Any] | None:
            return await mongo_db["jobqueues"].find_one(
                {"companyId": app.globex["_id"], "jobName": {"$exists": True}}
            )

        ours = await eventually(globex_claimed, timeout=60, what="globex's Job in jobqueues")
        assert ours["jobName"].startswith(names["globex"]) and ours["status"] == "processing"
        active = await mongo_db["jobqueues"].find_one({"companyId": app.globex["_id"], "status": ACTIVE})
        assert active is not None and active["_id"] == ours["_id"]
        assert (
            await mongo_db["jobqueues"].count_documents({"companyId": app.globex["_id"], "status": ACTIVE})
            == 1
        )

        succeeded = await eventually(scraped, timeout=120, what="the three due companies scraped")
        assert set(succeeded) == {names["initech"], names["globex"], names["soylent"]}
        jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
        assert sorted(j["metadata"]["labels"]["scoutly.io/target"] for j in jobs) == sorted(succeeded)
        assert all(rc == 0 for rc, _ in done.values()), done

        # acme was scraped by the app 2 h ago: not due for 10 h, its history shown from the company
        acme_status = (await kube.get(ns_path(m.API_VERSION, namespace, m.PLURAL, names["acme"])))["status"]
        last = parse_time(acme_status["lastSuccessfulScrape"])
        assert last is not None and abs(last - app.acme["lastSuccessfulScrape"]) < timedelta(seconds=1)
        assert parse_time(acme_status["nextScrapeTime"]) == last.replace(microsecond=0) + 12 * H

        # -- what was written, checked against the app's own schemas ---------------------------------
        async def recorded() -> list[dict[str, Any]] | None:
            docs = await mongo_db["jobqueues"].find({"jobName": {"$exists": True}}).to_list()
            return docs if len(docs) == 3 and all(d["status"] == "completed" for d in docs) else None

        mine = await eventually(recorded, timeout=60, what="the Jobs' queue documents completed")
        everything = {
            c: await app_docs(mongo_db, c) for c in ("jobqueues", "companies", "tokenusages", "logs")
        }
        for collection, docs in everything.items():
            assert appdata.validate_all(collection, docs) == [], collection
        saved = await app_docs(mongo_db, "savedjobs")
        new_saved = [d for d in saved if "scoutly" in d]
        assert appdata.validate_all("savedjobs", new_saved) == []
        assert appschema.problems("savedjobs", app.legacy_saved, appschema.LegacySavedJob) == []
        assert (await mongo_db["savedjobs"].find_one({"_id": app.legacy_saved["_id"]})) == app.legacy_saved

        # jobqueues: the app's pending request for globex superseded, never two active ones
        superseded = await mongo_db["jobqueues"].find_one({"_id": app.globex_pending["_id"]})
        assert superseded is not None and superseded["status"] == "failed"
        assert superseded["supersededBy"].startswith(names["globex"])
        assert await mongo_db["jobqueues"].find_one({"status": ACTIVE}) is None
        counts = {
            s: await mongo_db["jobqueues"].count_documents({"status": s})
            for s in ("pending", "processing", "completed", "failed")
        }
        assert counts == {
            "pending": 0,
            "processing": 0,
            "completed": 4,
            "failed": 2,
        }  # fileQueueStatus's lines
        assert {d["companyId"] for d in mine} == {app.initech["_id"], app.globex["_id"], app.soylent["_id"]}

        # companies.lastSuccessfulScrape moved forward for the scraped ones only
        for c in (app.initech, app.globex, app.soylent):
            doc = await mongo_db["companies"].find_one({"_id": c["_id"]})
            assert doc is not None and doc["lastSuccessfulScrape"] > (
                c.get("lastSuccessfulScrape") or now - 100 * H
            )
        assert (await mongo_db["companies"].find_one({"_id": app.acme["_id"]})) == app.acme

        # savedjobs: the matches where the app shows them; U2's posting saved by the older app not twice
        assert {(d["userId"], d["companyId"]) for d in new_saved} == {
            (u1, app.soylent["_id"]),
            (u1, app.initech["_id"]),
        }
        u2_matches = await mongo_db["jobmatches"].find({"userId": u2, "isMatch": True}).to_list()
        assert [d["url"] for d in u2_matches] == [app.legacy_saved["url"]]  # matched, saved already
        assert await mongo_db["savedjobs"].count_documents({"url": app.legacy_saved["url"]}) == 1

        # the CV the app links (a PDF, fetched through the guarded fetcher) reached the model's prompt
        assert any(CV_LINES[1] in str(c["messages"]) for c in llm.calls)
        cv = await mongo_db["candidatecvs"].find_one({"_id": app.u1["_id"]})
        assert cv is not None and CV_LINES[0] in cv["text"] and cv["error"] is None

        # tokenusages as the app sums them (getUserStats: by userEmail, $sum actualTokens)
        total = sum(s.tokens.total for _, s in done.values())
        assert sum(d["actualTokens"] for d in everything["tokenusages"]) == total > 0
        assert {d["userEmail"] for d in everything["tokenusages"]} == {"jane@x.io", "old@x.io"}
        assert {d["companyId"] for d in everything["tokenusages"]} <= {"initech", "globex", "soylent"}

        # logs: batches in the app's format, one per scrape run, plus the operator's
        contexts = [d["context"] for d in everything["logs"]]
        assert sorted(c for c in contexts if c.startswith("scrape:")) == sorted(
            f"scrape:{namespace}/{n}" for n in succeeded
        )

        # -- edits while the operator runs move NEXT SCRAPE at once --------------------------------------
        # the company document: the app says acme was last scraped 13 h ago -> due now, a Job follows
        edited = datetime.now(UTC).replace(microsecond=0) - 13 * H
        await mongo_db["companies"].update_one(
            {"_id": app.acme["_id"]}, {"$set": {"lastSuccessfulScrape": edited}}
        )

        async def acme_job() -> bool:
            jobs = (await kube.get(ns_path("batch/v1", namespace, "jobs")))["items"]
            return any(j["metadata"]["labels"]["scoutly.io/target"] == names["acme"] for j in jobs)

        await eventually(acme_job, timeout=30, what="acme dispatched after its company document was edited")
        # the status: someone sets initech's last scrape back by 11 h -> next scrape in 1 h
        back = datetime.now(UTC).replace(microsecond=0) - 11 * H
        await kube.merge_patch(
            ns_path(m.API_VERSION, namespace, m.PLURAL, names["initech"], "status"),
            {"status": {"lastSuccessfulScrape": back.strftime("%Y-%m-%dT%H:%M:%SZ")}},
        )

        async def moved() -> bool:
            st = (await kube.get(ns_path(m.API_VERSION, namespace, m.PLURAL, names["initech"])))["status"]
            return parse_time(st.get("nextScrapeTime")) == back + 12 * H

        await eventually(moved, timeout=30, what="initech's NEXT SCRAPE moved by the status edit")
    finally:
        stop.set()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
