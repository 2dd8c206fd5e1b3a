"""Issue 16 against the real API server: each way a ScrapeTarget's author could reach past a scrape is
refused at admission with a message naming the field, or by the operator with a condition and no Job;
and every valid name and tracker list gives a Job the API server accepts and whose pod starts."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.jobs import ANN_TARGET_SPEC, build_job
from scoutly.kube.client import ApiError, KubeClient, ns_path
from scoutly.scheduling.due import job_name
from scoutly.testing.wait import eventually
from tests.integration.controller.conftest import OperatorFactory
from tests.integration.controller.helpers import (
    ST,
    condition,
    create_target,
    get_target,
    jobs_of,
    patch_target,
    target_body,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mongo]

ENV_REFUSED = "may only be TZ, LANG, LANGUAGE or LC_*"

# (jobTemplate or spec patch, field the message must name, words it must say)
ESCALATIONS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "ssrf-guard-off",
        {
            "jobTemplate": {
                "env": [{"name": "SCOUTLY_SCRAPE_ALLOW_PRIVATE_HOSTS", "value": "127.0.0.1,10.0.0.0/8"}]
            }
        },
        "spec.jobTemplate.env[0].name",
        ENV_REFUSED,
    ),
    (
        "robots-off",
        {
            "jobTemplate": {
                "env": [
                    {"name": "TZ", "value": "UTC"},
                    {"name": "SCOUTLY_SCRAPE_RESPECT_ROBOTS", "value": "false"},
                ]
            }
        },
        "spec.jobTemplate.env[1].name",
        ENV_REFUSED,
    ),
    (
        "rate-limit-off",
        {"jobTemplate": {"env": [{"name": "SCOUTLY_SCRAPE_RATE_PER_HOST", "value": "1000"}]}},
        "spec.jobTemplate.env[0].name",
        ENV_REFUSED,
    ),
    (
        "key-to-evil-host",
        {"jobTemplate": {"env": [{"name": "openai_base_url", "value": "https://evil.example/v1"}]}},
        "spec.jobTemplate.env[0].name",
        ENV_REFUSED,
    ),
    (
        "proxy",
        {"jobTemplate": {"env": [{"name": "HTTPS_PROXY", "value": "http://evil.example:3128"}]}},
        "spec.jobTemplate.env[0].name",
        ENV_REFUSED,
    ),
    (
        "preload",
        {"jobTemplate": {"env": [{"name": "LD_PRELOAD", "value": "/tmp/x.so"}]}},
        "spec.jobTemplate.env[0].name",
        ENV_REFUSED,
    ),
    (
        "own-label",
        {"jobTemplate": {"labels": {"scoutly.io/target": "someone-else"}}},
        "spec.jobTemplate.labels",
        "scoutly.io/",
    ),
    (
        "job-label",
        {"jobTemplate": {"labels": {"batch.kubernetes.io/job-name": "x"}}},
        "spec.jobTemplate.labels",
        "batch.kubernetes.io/",
    ),
    (
        "managed-by",
        {"jobTemplate": {"labels": {"app.kubernetes.io/managed-by": "me"}}},
        "spec.jobTemplate.labels",
        "managed-by",
    ),
    (
        "bad-label-key",
        {"jobTemplate": {"labels": {"bad key!": "x"}}},
        "spec.jobTemplate.labels",
        "valid label keys",
    ),
    (
        "long-label-key",
        {"jobTemplate": {"labels": {"a" * 64: "x"}}},
        "spec.jobTemplate.labels",
        "valid label keys",
    ),
    (
        "dot-cpu",
        {"jobTemplate": {"resources": {"requests": {"cpu": "."}}}},
        "spec.jobTemplate.resources.requests.cpu",
        "Kubernetes quantity",
    ),
    (
        "negative-memory",
        {"jobTemplate": {"resources": {"limits": {"memory": "-1Gi"}}}},
        "spec.jobTemplate.resources.limits.memory",
        "non-negative",
    ),
    (
        "word-cpu",
        {"jobTemplate": {"resources": {"limits": {"cpu": "lots"}}}},
        "spec.jobTemplate.resources.limits.cpu",
        "Kubernetes quantity",
    ),
    (
        "too-many-trackers",
        {"trackers": [{"user": f"u{i}", "rank": 1} for i in range(1001)]},
        "spec.trackers",
        "1000",
    ),
]


@pytest.mark.parametrize(("case", "spec", "field", "words"), ESCALATIONS, ids=[e[0] for e in ESCALATIONS])
async def test_the_api_server_refuses_each_escalation_naming_the_field(
    kube: KubeClient, crd: Any, namespace: str, case: str, spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await create_target(kube, namespace, case, **spec)
    assert refused.value.status == 422, refused.value
    assert field in refused.value.message and words in refused.value.message, refused.value.message
    # a patch of an existing target is refused the same way
    await create_target(kube, namespace, case)
    with pytest.raises(ApiError) as patched:
        await patch_target(kube, namespace, case, {"spec": spec})
    assert patched.value.status == 422 and field in patched.value.message, patched.value.message


async def test_what_a_target_may_set_is_admitted(kube: KubeClient, crd: Any, namespace: str) -> None:
    await create_target(
        kube,
        namespace,
        "ok",
        jobTemplate={
            "env": [{"name": "TZ", "value": "Europe/Amsterdam"}, {"name": "LC_ALL", "value": "C.UTF-8"}],
            "labels": {"kueue.x-k8s.io/queue-name": "scrapes", "team": "a"},
            "resources": {
                "requests": {"cpu": 1, "memory": "256Mi"},
                "limits": {"cpu": "1500m", "memory": "1.5Gi"},
            },
        },
        trackers=[{"user": f"u{i}", "rank": 1} for i in range(1000)],
    )


async def test_a_foreign_image_gets_a_condition_and_no_job_an_allowed_one_runs(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    await start_operator(scrape_allowed_images="registry.corp/scoutly/")
    await create_target(kube, namespace, "evil", jobTemplate={"image": "evil.example/steal-secrets:latest"})
    await create_target(kube, namespace, "corp", jobTemplate={"image": "registry.corp/scoutly/scrape:2"})

    async def refused() -> dict[str, Any] | None:
        conds = {
            c["type"]: c
            for c in (await get_target(kube, namespace, "evil")).get("status", {}).get("conditions") or []
        }
        return conds.get("Ready") if conds.get("Ready", {}).get("reason") == "InvalidSpec" else None

    ready = await eventually(refused, timeout=30, what="InvalidSpec on the foreign image")
    assert ready["status"] == "False"
    assert "spec.jobTemplate.image" in ready["message"] and "evil.example/steal-secrets" in ready["message"]

    async def corp_job() -> list[dict[str, Any]] | None:
        return await jobs_of(kube, namespace, "corp") or None

    (job,) = (await eventually(corp_job, timeout=30, what="a Job of the allowed image"))[:1]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.corp/scoutly/scrape:2"
    assert await jobs_of(kube, namespace, "evil") == []


# -- 3. names and sizes ---------------------------------------------------------------------------------
def _job(name: str, trackers: int, user_len: int = 128) -> dict[str, Any]:
    from datetime import UTC, datetime

    spec = m.parse_spec(
        {
            "company": "C" * 200,
            "source": {"url": "https://example.com/" + "p" * 2000},
            "trackers": [{"user": f"{i:0{user_len}d}", "rank": 100} for i in range(trackers)],
        }
    )
    slot = datetime(2026, 11, 22, tzinfo=UTC)
    return build_job(
        name=job_name(target=name, slot=slot),
        namespace="ns",
        target_name=name,
        target_uid="00000000-0000-0000-0000-000000000000",
        spec=spec,
        scheduled=slot,
        manual_token=None,
        settings=OperatorSettings(),
    )


def _names_with_a_separator_at_every_position() -> list[str]:
    """Valid object names (DNS subdomains, 1..253) with - or . at every position, at the end of the part
    kept by each cut (62, 63) and in names of every length around those cuts."""
    names = ["a", "a-b", "a.b"]
    for sep in "-.":
        for pos in range(1, 252):
            names.append("a" * pos + sep + "b" * (252 - pos))  # 253 characters
            names.append("a" * pos + sep + "b")  # ends right after it
    return names


async def test_every_name_and_tracker_count_gives_a_job_the_api_server_accepts(
    kube: KubeClient, crd: Any, namespace: str
) -> None:
    """Server-side dry run of the exact Job the operator would create: the API server validates its name,
    labels (the pod template's too) and annotation sizes as for a real create."""
    path = ns_path("batch/v1", namespace, "jobs")
    for name in _names_with_a_separator_at_every_position():
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name)
        body = _job(name, 0)
        body["metadata"]["namespace"] = namespace
        await kube.create(path, body, dryRun="All")
    for trackers in (0, 1, 999, 1000):  # the CRD's bound; each user id at its 128-character maximum
        body = _job("t" * 253, trackers)
        body["metadata"]["namespace"] = namespace
        await kube.create(path, body, dryRun="All")
        env = body["spec"]["template"]["spec"]["containers"][0]["env"]
        assert max(len(e.get("value", "")) for e in env) < 128 * 1024  # MAX_ARG_STRLEN


names = st.from_regex(
    r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,60}[a-z0-9])?){0,4}\Z"
).filter(lambda n: len(n) <= 253)


def _examples(n: int) -> list[tuple[str, int]]:
    """Edge cases, then hypothesis-drawn names and tracker counts."""
    edges = [
        ("a", 0),
        ("a" * 62 + "-" + "b" * 20, 1000),  # character 63 is a dash: the label cut used to end in it
        ("a" * 62 + "." + "b" * 20, 1),
        ("x" * 63, 5),
        ("y." * 126 + "z", 1000),  # 253 characters, a dot every other one
        ("big", 5000),
        ("over", 1001),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        drawn = [st.tuples(names, st.integers(0, 5000)).example() for _ in range(n)]
    out: dict[str, int] = {}
    for name, count in edges + drawn:
        out.setdefault(name, count)
    return list(out.items())


async def test_every_admitted_target_gets_a_job_whose_pod_starts(
    kube: KubeClient, namespace: str, start_operator: OperatorFactory
) -> None:
    """Names 1..253 (dots and dashes anywhere a name allows) and 0..5,000 trackers: over the CRD's bound
    of 1,000 the API server refuses the target naming spec.trackers; otherwise the operator creates the
    Job, the Job controller its pod, and the pod runs to completion (kwok plays the kubelet)."""
    await start_operator(extra_pod_annotations=json.dumps({"scoutly.io/kwok-duration": "100ms"}))
    admitted: dict[str, int] = {}
    for name, trackers in _examples(12):
        body = target_body(
            name,
            company="Acme",
            trackers=[{"user": f"user-{i:05d}", "rank": i % 101} for i in range(trackers)],
        )
        try:
            await kube.create(ns_path(ST, namespace, "scrapetargets"), body)
        except ApiError as e:
            assert trackers > 1000, (name, e.message)
            assert e.status == 422 and "spec.trackers" in e.message, e.message
            continue
        assert trackers <= 1000, name
        admitted[name] = trackers
    assert len(admitted) >= 5

    for name, trackers in admitted.items():

        async def finished(name: str = name) -> dict[str, Any] | None:
            jobs = await jobs_of(kube, namespace, name)
            return jobs[0] if jobs and condition(jobs[0], "Complete") else None

        job = await eventually(finished, timeout=90, what=f"Job of {name} complete")
        spec = json.loads(job["spec"]["template"]["metadata"]["annotations"][ANN_TARGET_SPEC])
        assert len(spec.get("trackers", [])) == trackers
        pods = (
            await kube.get(
                ns_path("v1", namespace, "pods"), labelSelector=f"job-name={job['metadata']['name']}"
            )
        )["items"]
        assert pods and pods[0]["status"]["phase"] == "Succeeded", name
