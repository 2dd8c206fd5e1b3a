"""Issue 16: whoever may write a ScrapeTarget gets no more than a scrape. The pure layers: what the models
admit, what the Job carries, what the scrape reads from its environment."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from scoutly.api import models as m
from scoutly.config import OperatorSettings
from scoutly.controller.jobs import (
    ANN_TARGET_SPEC,
    LABEL_TARGET,
    SPEC_DIR,
    SPEC_FILE,
    build_job,
    image_error,
    target_label,
)
from scoutly.scrape.settings import ScrapeSettings

NOW = datetime(2026, 11, 22, tzinfo=UTC)
LABEL_VALUE = re.compile(m.LABEL_VALUE_PATTERN)
SPEC = {"company": "Acme", "source": {"url": "https://boards.greenhouse.io/acme"}}


def spec(**job_template: Any) -> m.ScrapeTargetSpec:
    return m.parse_spec({**SPEC, "jobTemplate": job_template})


def job(s: m.ScrapeTargetSpec, name: str = "acme", **settings: Any) -> dict[str, Any]:
    return build_job(
        name="acme-1",
        namespace="team-a",
        target_name=name,
        target_uid="u1",
        spec=s,
        scheduled=NOW,
        manual_token=None,
        settings=OperatorSettings(**settings),
    )


def env_of(body: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in body["spec"]["template"]["spec"]["containers"][0]["env"]}


# -- 1. env: an allow-list --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "SCOUTLY_SCRAPE_ALLOW_PRIVATE_HOSTS",  # the SSRF guard off
        "SCOUTLY_SCRAPE_RESPECT_ROBOTS",  # robots.txt off
        "SCOUTLY_SCRAPE_RATE_PER_HOST",  # rate limit off
        "openai_base_url",  # the API key sent to another host (lower case was read before)
        "OPENAI_BASE_URL",
        "Openai_Api_Key",
        "scoutly_llm_model",
        "HTTPS_PROXY",
        "http_proxy",
        "PYTHONPATH",
        "LD_PRELOAD",
        "SSL_CERT_FILE",
    ],
)
def test_a_target_cannot_set_the_scrapes_settings_through_env(name: str) -> None:
    with pytest.raises(ValidationError, match="may only be TZ, LANG, LANGUAGE or LC_"):
        spec(env=[{"name": name, "value": "127.0.0.1,10.0.0.0/8"}])


def test_locale_and_timezone_env_are_allowed_and_reach_the_job() -> None:
    body = job(spec(env=[{"name": "TZ", "value": "Europe/Amsterdam"}, {"name": "LC_ALL", "value": "C"}]))
    env = env_of(body)
    assert env["TZ"]["value"] == "Europe/Amsterdam" and env["LC_ALL"]["value"] == "C"


def test_the_crd_says_the_same_as_the_models() -> None:
    from scoutly.api.crd import build_crd

    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    name = schema["properties"]["spec"]["properties"]["jobTemplate"]["properties"]["env"]["items"]
    rule = name["properties"]["name"]["x-kubernetes-validations"][0]
    assert rule["rule"] == f"self.matches('{m.ENV_ALLOWED_PATTERN}')"
    assert "spec.jobTemplate.env[].name" in rule["message"]


def test_scrape_settings_are_case_sensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://llm.internal/v1")
    monkeypatch.setenv("openai_base_url", "https://evil.example/v1")
    monkeypatch.setenv("openai_api_key", "stolen")
    monkeypatch.setenv("llm_model", "evil")
    monkeypatch.setenv("scoutly_scrape_respect_robots", "false")
    monkeypatch.setenv("Scoutly_Scrape_Allow_Private_Hosts", "127.0.0.1")
    monkeypatch.setenv("SCOUTLY_SCRAPE_RATE_PER_HOST", "2")
    s = ScrapeSettings()
    assert s.openai_base_url == "https://llm.internal/v1"
    assert s.openai_api_key is None
    assert s.llm_model == "gpt-4o-mini"
    assert s.scrape_respect_robots is True
    assert s.allow_private == []
    assert s.scrape_rate_per_host == 2.0  # the upper-case name is still read


def test_scrape_wide_knobs_come_from_the_operator_only() -> None:
    knobs = json.dumps({"scrape_respect_robots": False, "scrape_rate_per_host": 2, "cv_max_pages": 5})
    env = env_of(job(spec(), scrape_settings=knobs))
    assert env["SCOUTLY_SCRAPE_RESPECT_ROBOTS"]["value"] == "false"
    assert env["SCOUTLY_SCRAPE_RATE_PER_HOST"]["value"] == "2"
    assert env["SCOUTLY_CV_MAX_PAGES"]["value"] == "5"
    # and the scrape parses exactly what the operator passed
    s = ScrapeSettings.model_validate({k: v["value"] for k, v in env.items() if "value" in v})
    assert s.scrape_respect_robots is False and s.cv_max_pages == 5


@pytest.mark.parametrize(
    ("knobs", "error"),
    [
        ('{"openai_base_url": "https://evil.example"}', "unknown scrape settings: openai_base_url"),
        ('{"target_spec": "{}"}', "unknown scrape settings: target_spec"),
        ('{"scrape_rate_per_hots": 2}', "unknown scrape settings"),
        ('{"scrape_rate_per_host": -1}', "greater than 0"),
    ],
)
def test_the_operators_scrape_settings_are_checked_at_start(knobs: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        OperatorSettings(scrape_settings=knobs)


# -- 1. images: an allow-list of the operator ---------------------------------------------------------
def test_only_the_operators_image_runs_by_default() -> None:
    settings = OperatorSettings(scrape_image="ghcr.io/scoutly/scoutly-operator:1.0")
    assert image_error(spec(), settings) is None
    assert image_error(spec(image="ghcr.io/scoutly/scoutly-operator:1.0"), settings) is None
    refused = image_error(spec(image="evil.example/steal-secrets:latest"), settings)
    assert refused is not None
    assert "spec.jobTemplate.image" in refused and "evil.example/steal-secrets:latest" in refused


def test_image_prefixes_widen_the_allow_list() -> None:
    settings = OperatorSettings(
        scrape_allowed_images="registry.corp/scoutly/,ghcr.io/scoutly/scoutly-operator:"
    )
    assert image_error(spec(image="registry.corp/scoutly/scrape:2"), settings) is None
    assert image_error(spec(image="ghcr.io/scoutly/scoutly-operator:1.1"), settings) is None
    assert image_error(spec(image="registry.corp/scoutly-evil/x:1"), settings) is not None
    assert image_error(spec(image="ghcr.io/scoutly/scoutly-operator-evil:1"), settings) is not None


def test_an_image_prefix_must_end_at_a_boundary() -> None:
    with pytest.raises(ValidationError, match="must end in /, : or @"):
        OperatorSettings(scrape_allowed_images="ghcr.io/scoutly")


# -- 3. names and sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cut", ["-", "."])
def test_the_target_label_is_valid_when_character_63_is_a_dash_or_dot(cut: str) -> None:
    name = "a" * 62 + cut + "b" * 20
    label = job(spec(), name=name)["metadata"]["labels"][LABEL_TARGET]
    assert len(label) <= 63 and LABEL_VALUE.match(label), label
    assert label != target_label("a" * 62 + cut + "c" * 20)  # distinct names stay distinct


def test_trackers_reach_the_pod_as_a_file_not_an_env_string() -> None:
    trackers = [{"user": f"{i:0128d}", "rank": 100} for i in range(1000)]
    s = m.parse_spec({**SPEC, "trackers": trackers})
    body = job(s)
    pod = body["spec"]["template"]
    for e in pod["spec"]["containers"][0]["env"]:
        assert len(e.get("value", "")) < 4096, e["name"]  # far from MAX_ARG_STRLEN (128 KiB)
    assert env_of(body)["SCOUTLY_TARGET_SPEC_FILE"]["value"] == f"{SPEC_DIR}/{SPEC_FILE}"
    assert json.loads(pod["metadata"]["annotations"][ANN_TARGET_SPEC])["trackers"] == trackers
    # Kubernetes caps all annotations of an object at 256 KiB; the CRD's bounds keep the spec below it
    assert len(pod["metadata"]["annotations"][ANN_TARGET_SPEC]) < 256 * 1024


# -- 5. placement of scrape pods ----------------------------------------------------------------------
def test_pull_secrets_and_placement_come_from_the_operator() -> None:
    body = job(
        spec(labels={"team": "a"}),
        scrape_image_pull_secrets="regcred, other",
        scrape_node_selector='{"pool": "scrape"}',
        scrape_tolerations='[{"key": "scrape", "operator": "Exists", "effect": "NoSchedule"}]',
        scrape_priority_class_name="low",
        scrape_labels='{"kueue.x-k8s.io/queue-name": "scrapes", "team": "default"}',
    )
    pod = body["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]
    assert pod["nodeSelector"] == {"pool": "scrape"}
    assert pod["tolerations"][0]["key"] == "scrape"
    assert pod["priorityClassName"] == "low"
    labels = body["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "scrapes"
    assert labels["team"] == "a"  # the target's own label wins over the default


# -- 6. schema ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "scoutly.io/target",
        "scoutly.io/anything",
        "batch.kubernetes.io/job-name",
        "job-name",
        "controller-uid",
        "app.kubernetes.io/managed-by",
        ".",
        "a" * 64,
        "bad key!",
    ],
)
def test_label_keys_are_validated(key: str) -> None:
    with pytest.raises(ValidationError, match=r"label key|reserved|should match pattern"):
        spec(labels={key: "x"})


@pytest.mark.parametrize("cpu", [".", "1..2", "-1", "1m1", "abc", "", "1 m"])
def test_bad_quantities_are_refused(cpu: str) -> None:
    with pytest.raises(ValidationError, match="quantity"):
        spec(resources={"requests": {"cpu": cpu}})


@pytest.mark.parametrize(
    ("cpu", "memory"), [("100m", "512Mi"), ("0.5", "1G"), (2, 1073741824), ("1e3", "1.5Gi")]
)
def test_good_quantities_reach_the_job(cpu: Any, memory: Any) -> None:
    body = job(spec(resources={"limits": {"cpu": cpu, "memory": memory}}))
    limits = body["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": str(cpu), "memory": str(memory)}
