"""Operator settings: environment variables SCOUTLY_*, each documented here and in docs/configuration.md.

Typed and validated once, at start-up (`scoutly operator run` exits 2 naming the bad variable):
durations are timedeltas (Go syntax in the environment), namespaces a list (comma-separated), pod
annotations, labels and the node selector mappings (JSON objects), tolerations a list (JSON), the scrape
settings the Job's env values (a JSON object checked against ScrapeSettings), cooldown tiers a
CooldownTiers.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, PlainValidator, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scoutly.scrape.settings import ScrapeSettings
from scoutly.units import CooldownTiers, format_duration, parse_duration

# Scrape settings the operator may not hand out through scrape_settings: the Job contract and the
# secrets it sets itself (controller/jobs.py).
SCRAPE_CONTRACT = frozenset(
    {
        "target",
        "target_spec",
        "target_spec_file",
        "job_name",
        "mongodb_uri",
        "openai_api_key",
        "openai_base_url",
        "llm_model",
        "termination_log",
        "mongodb_database",
    }
)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _scrape_knobs(v: Any) -> Any:
    """SCOUTLY_SCRAPE_SETTINGS as the scrape Job's environment values by setting name, checked against
    ScrapeSettings (names and values, as the scrape will parse them), so a typo fails the operator's
    start rather than every scrape."""
    data = _json_object(v)
    if not isinstance(data, dict):
        return data
    known = set(ScrapeSettings.model_fields) - SCRAPE_CONTRACT
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown scrape settings: {', '.join(unknown)} (docs/scrape.md lists them)")
    ScrapeSettings.model_validate(data)  # no env read: model_validate takes the values as given
    return {k: json.dumps(x) if isinstance(x, bool) else str(x) for k, x in data.items()}


def _duration(v: Any) -> Any:
    return parse_duration(v) if isinstance(v, str) else v


def _names(v: Any) -> Any:
    return [n.strip() for n in v.split(",") if n.strip()] if isinstance(v, str) else v


def _json(v: Any, empty: Any, what: str) -> Any:
    if not isinstance(v, str):
        return v
    if not v.strip():
        return empty
    try:
        data = json.loads(v)
    except ValueError as e:
        raise ValueError(f"not a {what}: {e}") from None
    if not isinstance(data, type(empty)):
        raise ValueError(f"not a {what}")
    return data


def _json_object(v: Any) -> Any:
    return _json(v, {}, "JSON object")


def _json_list(v: Any) -> Any:
    return _json(v, [], "JSON list")


def _tiers(v: Any) -> CooldownTiers:
    if isinstance(v, CooldownTiers):
        return v
    if not isinstance(v, str):
        raise ValueError("expected RANK=DURATION pairs, e.g. 95=12h,0=336h")
    return CooldownTiers.parse(v)


Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
Names = Annotated[list[str], NoDecode, BeforeValidator(_names)]
StringMap = Annotated[dict[str, str], NoDecode, BeforeValidator(_json_object)]
Tolerations = Annotated[list[dict[str, Any]], NoDecode, BeforeValidator(_json_list)]
ScrapeKnobs = Annotated[dict[str, str], NoDecode, BeforeValidator(_scrape_knobs)]
Tiers = Annotated[CooldownTiers, NoDecode, PlainValidator(_tiers), PlainSerializer(str, return_type=str)]


class OperatorSettings(BaseSettings):
    """Settings of `scoutly operator run`."""

    model_config = SettingsConfigDict(env_prefix="SCOUTLY_", extra="ignore")

    kubeconfig: str | None = Field(
        None, description="Path to a kubeconfig; unset: in-cluster, else ~/.kube/config."
    )
    namespaces: Names = Field(
        default_factory=list,
        description="Comma-separated namespaces to watch; empty watches the whole cluster.",
    )
    mongodb_uri: SecretStr | None = Field(
        None, description="MongoDB URI of the app's database (from a Secret). Unset: no mirror writes."
    )
    mongodb_database: str = Field("scoutly", description="Database name when the URI names none.")

    cooldown_tiers: Tiers = Field(
        CooldownTiers.parse("95=12h,85=24h,70=48h,50=168h,0=336h"),
        description="Rank tiers RANK=DURATION, highest first; 0= is the floor.",
    )
    backoff_base: Duration = Field(
        timedelta(minutes=5), description="First retry delay after a failed scrape; doubles per failure."
    )
    jitter: Duration = Field(
        timedelta(0), description="Spread targets due together over this window (stable per target)."
    )
    max_concurrent: int = Field(
        20, ge=1, le=10_000, description="Global cap on scrape Jobs pending or running."
    )
    workers: int = Field(
        64,
        ge=1,
        le=1000,
        description="Keys of the operator's work queue handled at once (status writes, finished Jobs, "
        "dispatcher passes); each is a chain of API calls. Raise it when "
        "scoutly_workqueue_queue_duration_seconds grows while the API server has room.",
    )
    status_batch: Duration = Field(
        timedelta(seconds=1),
        description="A target's status write and Events wait this long after the first change that needs "
        "them, so the changes in between (its Job created, then running) go out as one write, like the Job "
        "controller's 1 s batch of pod updates; 0s: at once. Outcomes are written when recorded.",
    )
    successful_jobs_history_limit: int = Field(3, ge=0, le=100, description="Finished Jobs kept per target.")
    failed_jobs_history_limit: int = Field(1, ge=0, le=100, description="Failed Jobs kept per target.")

    scrape_image: str = Field("ghcr.io/scoutly/scoutly-operator:latest", description="Default scrape image.")
    scrape_image_pull_policy: str = Field("IfNotPresent", description="imagePullPolicy of scrape containers.")
    scrape_service_account: str = Field(
        "scoutly-scrape", description="ServiceAccount of scrape pods (the chart gives it no API permissions)."
    )
    scrape_backoff_limit: int = Field(
        1, ge=0, le=10, description="Default pod retries inside one scrape Job."
    )
    scrape_active_deadline_seconds: int = Field(
        1800, ge=10, description="Default time limit of a scrape Job."
    )
    scrape_cpu_request: str = Field("100m", description="Default CPU request of scrape containers.")
    scrape_memory_request: str = Field("256Mi", description="Default memory request of scrape containers.")
    scrape_memory_limit: str = Field("512Mi", description="Default memory limit of scrape containers.")
    scrape_settings: ScrapeKnobs = Field(
        default_factory=dict,
        description="JSON object of scrape settings (docs/scrape.md, by field name) every scrape Job gets, "
        'e.g. {"scrape_rate_per_host": 2, "scrape_allow_private_hosts": "10.1.2.3"}. Only the operator sets '
        "them: a target's spec.jobTemplate.env cannot (docs/security.md).",
    )
    scrape_allowed_images: str = Field(
        "",
        description="Comma-separated image prefixes (each ending in /, : or @) a target's "
        "spec.jobTemplate.image may start with; empty: only SCOUTLY_SCRAPE_IMAGE itself. A refused image "
        "is an InvalidSpec condition on the target, and no Job.",
    )
    scrape_image_pull_secrets: str = Field(
        "", description="Comma-separated Secret names (in each target namespace) for pulling scrape images."
    )
    scrape_node_selector: StringMap = Field(
        default_factory=dict, description="JSON object: nodeSelector of scrape pods."
    )
    scrape_tolerations: Tolerations = Field(
        default_factory=list, description="JSON list: tolerations of scrape pods."
    )
    scrape_priority_class_name: str = Field("", description="priorityClassName of scrape pods; empty: none.")
    scrape_labels: StringMap = Field(
        default_factory=dict,
        description="JSON object of labels on every scrape Job and pod (e.g. kueue.x-k8s.io/queue-name); a "
        "target's spec.jobTemplate.labels win over these.",
    )
    mongodb_secret_name: str = Field(
        "scoutly-mongodb", description="Secret holding the MongoDB URI for scrape pods."
    )
    mongodb_secret_key: str = Field("uri", description="Key of the MongoDB URI in that Secret.")
    openai_secret_name: str = Field(
        "", description="Secret with the OpenAI API key for scrape pods; empty: none."
    )
    openai_secret_key: str = Field("api-key", description="Key of the API key in that Secret.")
    openai_base_url: str = Field("", description="OpenAI-compatible endpoint for scrape pods; empty: OpenAI.")
    llm_model: str = Field("gpt-4o-mini", description="Model the scrape pods use for matching.")
    llm_daily_token_budget: int = Field(
        0,
        ge=0,
        description="Daily LLM token budget of all scrapes, exported as scoutly_llm_token_budget_daily for "
        "the token-budget alert (docs/runbooks.md); 0: none.",
    )
    extra_pod_annotations: StringMap = Field(
        default_factory=dict,
        description="JSON object of annotations added to scrape pods (the tests use it to steer kwok).",
    )

    metrics_port: int = Field(
        8080, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz; 0: off."
    )
    metrics_per_target: bool = Field(
        False, description="Export per-target series (cardinality grows with targets)."
    )
    log_level: str = Field("INFO", description="Log level of the operator.")
    leader_election: bool = Field(
        False, description="Run several replicas: only the holder of a coordination.k8s.io Lease writes."
    )
    leader_election_namespace: str = Field(
        "",
        description="Namespace of the Lease; empty: POD_NAMESPACE, else the first watched one, else default.",
    )
    leader_election_lease_name: str = Field("scoutly-operator", description="Name of the Lease.")
    lease_duration: Duration = Field(
        timedelta(seconds=15),
        description="How long a Lease holds without renewal; a standby takes over after it expires.",
    )

    sync_interval: Duration = Field(
        timedelta(0),
        description="In-operator preference sync (MongoDB preferences into ScrapeTargets, docs/sync.md) "
        "every this long; 0s: off (use the `scoutly sync` CronJob instead).",
    )
    sync_namespace: str = Field(
        "scoutly", description="Namespace of the ScrapeTargets the preference sync manages."
    )

    company_poll_interval: Duration = Field(
        timedelta(seconds=30),
        description="How often the controller reads the app's companies.lastSuccessfulScrape (one narrow "
        "query; FerretDB has no change streams), so an edit of it moves NEXT SCRAPE; 0s: read only at start.",
    )
    db_log_interval: Duration = Field(
        timedelta(minutes=5),
        description="The operator writes its log records to the app's capped `logs` collection as one batch "
        "document per this interval (at most SCOUTLY_DB_LOG_MAX_ENTRIES records each).",
    )
    db_log_max_entries: int = Field(
        1000, ge=1, le=10_000, description="Log records in one batch document of the `logs` collection."
    )

    @field_validator("scrape_allowed_images")
    @classmethod
    def _image_prefixes(cls, v: str) -> str:
        for prefix in _csv(v):
            if prefix[-1] not in "/:@":
                raise ValueError(
                    f"image prefix {prefix!r} must end in /, : or @ (else it matches other repositories)"
                )
        return v

    @property
    def scrape_env(self) -> list[tuple[str, str]]:
        """The scrape Job's env entries of scrape_settings (checked and converted at start-up)."""
        return [(f"SCOUTLY_{k.upper()}", v) for k, v in sorted(self.scrape_settings.items())]

    @property
    def allowed_image_prefixes(self) -> list[str]:
        return _csv(self.scrape_allowed_images)

    @property
    def image_pull_secrets(self) -> list[str]:
        return _csv(self.scrape_image_pull_secrets)
