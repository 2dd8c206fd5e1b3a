"""The Job contract (api/jobcontract.py) is the one source both sides read: the Job the operator builds
carries exactly the contract's environment, container and podFailurePolicy, and `scoutly scrape` reads
its settings from those names and maps failures to the contract's exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from scoutly.api import jobcontract as contract
from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.jobs import build_job
from scoutly.scrape.run import _mongo_failure
from scoutly.scrape.settings import ScrapeSettings


def _job() -> dict[str, object]:
    return build_job(
        name="acme-1",
        namespace="ns",
        target_name="acme",
        target_uid="u",
        spec=m.parse_spec({"company": "Acme", "source": {"url": "https://boards.greenhouse.io/acme"}}),
        scheduled=datetime(2026, 1, 1, tzinfo=UTC),
        manual_token=None,
        settings=OperatorSettings(openai_secret_name="openai", openai_base_url="http://llm"),
    )


def test_the_job_carries_the_contract() -> None:
    spec = _job()["spec"]
    assert isinstance(spec, dict)
    assert spec["podFailurePolicy"] == contract.pod_failure_policy()
    rule = spec["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {
        "containerName": contract.CONTAINER,
        "operator": "In",
        "values": [contract.ExitCode.BAD_INPUT],
    }
    container = spec["template"]["spec"]["containers"][0]
    assert container["name"] == contract.CONTAINER
    assert container["terminationMessagePath"] == contract.TERMINATION_LOG
    names = {e["name"] for e in container["env"]}
    assert names == {
        contract.ENV_TARGET,
        contract.ENV_TARGET_SPEC_FILE,
        contract.ENV_JOB_NAME,
        contract.ENV_MONGODB_URI,
        contract.ENV_MONGODB_DATABASE,
        contract.ENV_LLM_MODEL,
        contract.ENV_OPENAI_API_KEY,
        contract.ENV_OPENAI_BASE_URL,
    }


def test_the_scrape_reads_every_variable_the_job_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        contract.ENV_TARGET: "ns/acme",
        contract.ENV_TARGET_SPEC: json.dumps({"company": "Acme"}),
        contract.ENV_TARGET_SPEC_FILE: "/etc/scoutly/target/spec.json",
        contract.ENV_JOB_NAME: "acme-1",
        contract.ENV_MONGODB_URI: "mongodb://db/x",
        contract.ENV_MONGODB_DATABASE: "app",
        contract.ENV_LLM_MODEL: "gpt-x",
        contract.ENV_OPENAI_API_KEY: "sk-1",
        contract.ENV_OPENAI_BASE_URL: "http://llm/v1",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    s = ScrapeSettings()
    read = {
        contract.ENV_TARGET: s.target,
        contract.ENV_TARGET_SPEC: s.target_spec,
        contract.ENV_TARGET_SPEC_FILE: s.target_spec_file,
        contract.ENV_JOB_NAME: s.job_name,
        contract.ENV_MONGODB_URI: s.mongodb_uri.get_secret_value() if s.mongodb_uri else None,
        contract.ENV_MONGODB_DATABASE: s.mongodb_database,
        contract.ENV_LLM_MODEL: s.llm_model,
        contract.ENV_OPENAI_API_KEY: s.openai_api_key.get_secret_value() if s.openai_api_key else None,
        contract.ENV_OPENAI_BASE_URL: s.openai_base_url,
    }
    assert read == values
    assert ScrapeSettings.model_fields["termination_log"].default == contract.TERMINATION_LOG


def test_mongodb_refusing_the_credentials_is_bad_input_and_an_outage_is_retried() -> None:
    refused = OperationFailure("Authentication failed.", code=18)
    assert _mongo_failure(refused, "MongoDB unreachable").code == contract.ExitCode.BAD_INPUT
    assert (
        _mongo_failure(OperationFailure("not authorized", code=13), "x").code == contract.ExitCode.BAD_INPUT
    )
    down = _mongo_failure(ServerSelectionTimeoutError("no servers"), "MongoDB unreachable")
    assert down.code == contract.ExitCode.FAILED and "ServerSelectionTimeoutError" in str(down)


def test_the_job_spec_has_the_crds_limits() -> None:
    """The slice the workload validates is the CRD's model: same fields, same constraints."""
    crd = m.ScrapeTargetSpec.model_json_schema()
    job = m.JobTargetSpec.model_json_schema()
    for name in ("company", "companyId"):
        assert job["properties"][name] == crd["properties"][name]
    for ours, theirs in (("JobSource", "Source"), ("JobTracker", "Tracker")):
        assert job["$defs"][ours]["properties"] == crd["$defs"][theirs]["properties"]
    assert job["properties"]["trackers"]["maxItems"] == crd["properties"]["trackers"]["maxItems"]


def test_a_spec_the_api_server_admits_reaches_the_workload_intact() -> None:
    spec = m.parse_spec(
        {
            "company": "Acme",
            "companyId": "acme-1",
            "rank": 80,
            "source": {"url": "https://boards.greenhouse.io/acme", "type": "greenhouse"},
            "trackers": [{"user": "u1", "rank": 90}],
        }
    )
    carried = m.job_target_spec(spec)
    assert set(carried) == {"company", "companyId", "source", "trackers"}
    got = m.JobTargetSpec.model_validate_json(json.dumps({**carried, "futureField": 1}))  # newer operator
    assert got.company_id == "acme-1" and got.source.type == "greenhouse" and got.trackers[0].rank == 90
