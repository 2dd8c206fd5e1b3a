"""The Job contract's exit codes (api/jobcontract.py), end to end: the real `scoutly scrape` CLI runs once
per failure class and exits with the contract's code; the real Job controller, given a pod that exits
with that code under the Job the operator builds, fails the Job at once for bad input (podFailurePolicy)
and retries anything else up to backoffLimit."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from scoutly.api import models as m
from scoutly.api.jobcontract import ENV_TARGET_SPEC, ExitCode
from scoutly.config import OperatorSettings
from scoutly.controller.jobs import build_job
from scoutly.kube.client import KubeClient, ns_path
from scoutly.scrape.settings import SOURCE_TYPES
from scoutly.testing.wait import eventually
from tests.integration.scrape.fakes import Board, FakeOpenAI
from tests.integration.scrape.test_scrape_run import ACME, _seed_users, board, llm  # noqa: F401 - fixtures

SPEC = {
    "company": "Acme",
    "companyId": str(ACME["_id"]),
    "source": {"url": "https://boards.greenhouse.io/acme"},
}


async def scrape_cli(env: dict[str, str], tmp: Path) -> tuple[int, str]:
    """`scoutly scrape` as the Job runs it: a process with the contract's environment."""
    full = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "SCOUTLY_TARGET": "team-a/acme",
        ENV_TARGET_SPEC: json.dumps(SPEC),
        "SCOUTLY_JOB_NAME": "acme-001",
        "SCOUTLY_TERMINATION_LOG": str(tmp / "termination-log"),
        "SCOUTLY_SCRAPE_ALLOW_PRIVATE_HOSTS": "127.0.0.1,localhost",
        "SCOUTLY_SCRAPE_RATE_PER_HOST": "1000",
        "SCOUTLY_LLM_MAX_RETRIES": "0",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scoutly.cli",
        "scrape",
        env=full,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


FailureClass = Callable[[dict[str, Any]], dict[str, str]]

# each failure class: the environment that provokes it, given the test's servers
CLASSES: dict[str, tuple[FailureClass, ExitCode, str]] = {
    "invalid-spec": (
        lambda s: {ENV_TARGET_SPEC: '{"company": 5}'},
        ExitCode.BAD_INPUT,
        "SCOUTLY_TARGET_SPEC",
    ),
    "no-target": (lambda s: {"SCOUTLY_TARGET": ""}, ExitCode.BAD_INPUT, "no target"),
    "invalid-settings": (
        lambda s: {"SCOUTLY_SCRAPE_RETRIES": "-1"},
        ExitCode.BAD_INPUT,
        "SCOUTLY_SCRAPE_RETRIES",
    ),
    "no-mongodb-uri": (lambda s: {}, ExitCode.BAD_INPUT, "SCOUTLY_MONGODB_URI"),
    "openai-key-refused": (
        lambda s: {**s["ok"], "OPENAI_API_KEY": "sk-wrong"},
        ExitCode.BAD_INPUT,
        "OPENAI_API_KEY",
    ),
    "mongodb-unreachable": (
        lambda s: {"SCOUTLY_MONGODB_URI": "mongodb://127.0.0.1:9/scoutly?serverSelectionTimeoutMS=300"},
        ExitCode.FAILED,
        "MongoDB unreachable",
    ),
    "success": (lambda s: s["ok"], ExitCode.OK, ""),
}


@pytest.mark.mongo
@pytest.mark.parametrize("failure", list(CLASSES))
async def test_scrape_cli_exits_with_the_contract_code_per_failure_class(
    failure: str,
    mongo_db: AsyncDatabase[dict[str, Any]],
    mongo_uri: str,
    board: tuple[Board, str],  # noqa: F811
    llm: tuple[FakeOpenAI, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    _, board_url = board
    fake, llm_url = llm
    await _seed_users(mongo_db)
    servers = {
        "ok": {
            "SCOUTLY_MONGODB_URI": mongo_uri,
            "SCOUTLY_SCRAPE_API_BASES": json.dumps(dict.fromkeys(SOURCE_TYPES[:8], board_url)),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": f"{llm_url}/v1",
            "SCOUTLY_LLM_CONCURRENCY": "1",
        }
    }
    provoke, expected, says = CLASSES[failure]
    rc, stderr = await scrape_cli(provoke(servers), tmp_path)
    assert rc == expected, stderr[-2000:]
    assert says in stderr
    if failure == "openai-key-refused":
        assert fake.statuses == [401]  # refused once, not retried


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("code", "reason", "pods"),
    [(ExitCode.BAD_INPUT, "PodFailurePolicy", 1), (ExitCode.FAILED, "BackoffLimitExceeded", 2)],
)
async def test_the_job_fails_at_once_on_bad_input_and_retries_other_failures(
    code: ExitCode, reason: str, pods: int, kube: KubeClient, namespace: str
) -> None:
    settings = OperatorSettings(
        scrape_backoff_limit=1,
        extra_pod_annotations=json.dumps(
            {"scoutly.io/kwok-duration": "200ms", "scoutly.io/kwok-exit-code": str(int(code))}
        ),
    )
    body = build_job(
        name=f"exit-{int(code)}",
        namespace=namespace,
        target_name="acme",
        target_uid="0000",
        spec=m.parse_spec(SPEC),
        scheduled=datetime.now(UTC),
        manual_token=None,
        settings=settings,
    )
    # only the Job controller's reaction is under test here: no owner to garbage-collect it by
    del body["metadata"]["ownerReferences"], body["metadata"]["finalizers"]
    await kube.create(ns_path("batch/v1", namespace, "jobs"), body)

    async def failed() -> dict[str, Any] | None:
        job = await kube.get(ns_path("batch/v1", namespace, "jobs", body["metadata"]["name"]))
        conds = {c["type"]: c for c in (job.get("status") or {}).get("conditions") or []}
        return job if conds.get("Failed", {}).get("status") == "True" else None

    job = await eventually(failed, timeout=90, what=f"Job failed after exit code {int(code)}")
    assert next(c for c in job["status"]["conditions"] if c["type"] == "Failed")["reason"] == reason
    assert job["status"]["failed"] == pods
