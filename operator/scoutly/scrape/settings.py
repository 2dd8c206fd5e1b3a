"""Settings of `scoutly scrape` (the Job's workload): env SCOUTLY_*, plus OPENAI_API_KEY / OPENAI_BASE_URL.

Every field is documented here and in docs/scrape.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import AliasGenerator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

SOURCE_TYPES = (
    "greenhouse",
    "lever",
    "ashby",
    "workable",
    "smartrecruiters",
    "recruitee",
    "personio",
    "workday",
    "jsonld",
    "html",
)


class _UpperCaseEnv(EnvSettingsSource):
    """The process environment, upper-case names only: with `populate_by_name` pydantic-settings would
    also read a field's own name (`openai_api_key`, `llm_model`) from the environment."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k: v for k, v in super()._load_env_vars().items() if k.isupper()}


class ScrapeSettings(BaseSettings):
    """Settings of one scrape run; the controller fills them from the Job's environment."""

    # Case-sensitive and upper-case only: `openai_base_url` or `scoutly_llm_model` in the environment are
    # not these settings (a lower-case name must never shadow the operator's OPENAI_BASE_URL).
    model_config = SettingsConfigDict(
        extra="ignore",
        case_sensitive=True,
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=lambda field: f"SCOUTLY_{field.upper()}"),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _UpperCaseEnv(settings_cls)

    # -- the Job contract (docs/architecture.md) --------------------------------------------------
    target: str = Field("", description="`<namespace>/<name>` of the ScrapeTarget (or --target).")
    target_spec: str = Field(
        "{}",
        description="The target's spec as JSON: company, companyId, source {url, type?, board?}, trackers.",
    )
    target_spec_file: str = Field(
        "",
        description="A file holding that JSON instead (the operator mounts it from a pod annotation: a "
        "thousand trackers exceed the 128 KiB one environment variable may hold); wins over TARGET_SPEC.",
    )
    job_name: str = Field(
        "", description="The Job's name: key of its `jobqueues` document; empty: none written."
    )
    mongodb_uri: SecretStr | None = Field(
        None, description="MongoDB URI of the app's database (from a Secret)."
    )
    mongodb_database: str = Field("scoutly", description="Database name when the URI names none.")
    termination_log: str = Field(
        "/dev/termination-log", description="Where the one-line JSON run summary is written; empty: nowhere."
    )
    log_level: str = Field("INFO", description="Log level (stdout JSON lines and the `logs` collection).")

    # -- fetching -----------------------------------------------------------------------------------
    scrape_user_agent: str = Field(
        "ScoutlyBot/0.1 (+https://scoutly.io/bot)",
        description="User-Agent of every request (also the robots.txt agent).",
    )
    scrape_timeout_seconds: float = Field(
        20.0, gt=0, le=300, description="Per-request timeout (connect and read)."
    )
    scrape_max_response_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1024,
        description="Bodies larger than this are refused (page error, not a crash).",
    )
    scrape_retries: int = Field(
        3, ge=0, le=10, description="Retries of 429/5xx and transport errors per request."
    )
    scrape_backoff_seconds: float = Field(
        0.5, ge=0, le=60, description="First retry delay; doubles per retry."
    )
    scrape_max_retry_after_seconds: float = Field(
        60.0, ge=0, description="Longest Retry-After honoured; a longer one fails the request at once."
    )
    scrape_rate_per_host: float = Field(5.0, gt=0, description="Requests per second per host.")
    scrape_concurrency_per_host: int = Field(4, ge=1, le=64, description="Requests in flight per host.")
    scrape_max_redirects: int = Field(
        5, ge=0, le=20, description="Redirect hops followed (each re-checked for SSRF)."
    )
    scrape_max_pages: int = Field(
        200, ge=1, description="Page cap for paginated sources (Workday, SmartRecruiters)."
    )
    scrape_max_detail_pages: int = Field(
        500, ge=0, description="Detail pages fetched per run (JSON-LD, SmartRecruiters descriptions)."
    )
    scrape_respect_robots: bool = Field(
        True, description="Obey robots.txt for HTML pages (ATS APIs are exempt)."
    )
    scrape_allow_private_hosts: str = Field(
        "",
        description="Comma-separated host names, IPs or CIDRs that may be private (tests, in-cluster boards). "
        "Metadata endpoints stay refused.",
    )
    scrape_api_bases: str = Field(
        "{}",
        description='JSON object mapping a source type to its API base URL, e.g. {"greenhouse": "http://127.0.0.1:8080"}; '
        "unset types use the real ATS host derived from the URL.",
    )
    scrape_max_description_chars: int = Field(
        20_000, ge=100, description="Description text kept per posting (longer text is cut)."
    )
    scrape_conditional_requests: bool = Field(
        True,
        description="Ask boards that are one response conditionally (If-None-Match / If-Modified-Since with "
        "what the last complete run stored); an unchanged board answers 304 and is not parsed.",
    )
    scrape_quality_jump: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Rise in the share of postings lacking a title, URL, location or date (0..1, since the "
        "board's previous run) that the run summary reports as a quality jump (metric and warning Event).",
    )

    # -- matching -----------------------------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias="OPENAI_API_KEY",
        description="OpenAI API key (from a Secret). Unset: the LLM step is skipped, prefilter scores are stored.",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias="OPENAI_BASE_URL",
        description="OpenAI-compatible endpoint; unset: api.openai.com.",
    )
    llm_model: str = Field("gpt-4o-mini", description="Chat model used for matching.")
    llm_token_budget: int = Field(
        200_000,
        ge=0,
        description="LLM tokens (prompt + completion) one run may spend; further pairs stay prefiltered.",
    )
    llm_tokens_per_minute: int = Field(
        150_000, ge=1000, description="Client-side tokens-per-minute limit (estimated before each call)."
    )
    llm_max_completion_tokens: int = Field(200, ge=16, le=4096, description="Cap on each verdict's tokens.")
    llm_max_retries: int = Field(
        3, ge=0, le=10, description="SDK retries of 429 and 5xx (honouring Retry-After)."
    )
    llm_timeout_seconds: float = Field(60.0, gt=0, description="Per-call timeout.")
    llm_concurrency: int = Field(4, ge=1, le=64, description="LLM calls in flight.")
    llm_max_posting_chars: int = Field(
        4000, ge=200, description="Posting description characters sent to the model."
    )
    llm_price_input_per_million: float = Field(
        0.0, ge=0, description="USD per million input tokens, for `tokenusages.costEstimate`; 0: free usage."
    )
    llm_price_output_per_million: float = Field(
        0.0, ge=0, description="USD per million output tokens, for `tokenusages.costEstimate`; 0: free usage."
    )
    match_min_score: int = Field(60, ge=0, le=100, description="Score from which a pair counts as a match.")
    prefilter_min_score: int = Field(
        35, ge=0, le=100, description="Prefilter score a pair needs before it is sent to the model."
    )

    # -- candidates' CVs (users.cvUrl) --------------------------------------------------------------
    cv_max_age: str = Field(
        "24h",
        pattern=r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
        description="How long a CV's extracted text is reused before the CV is fetched again (Go duration).",
    )
    cv_max_pages: int = Field(20, ge=1, le=500, description="Pages of a CV PDF read.")

    @field_validator("scrape_api_bases")
    @classmethod
    def _bases(cls, v: str) -> str:
        data = json.loads(v or "{}")
        if not isinstance(data, dict) or not all(isinstance(x, str) for x in data.values()):
            raise ValueError("must be a JSON object of strings")
        unknown = set(data) - set(SOURCE_TYPES)
        if unknown:
            raise ValueError(f"unknown source types: {', '.join(sorted(unknown))}")
        return v

    @property
    def api_bases(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.scrape_api_bases or "{}")
        return {k: v.rstrip("/") for k, v in data.items()}

    @property
    def allow_private(self) -> list[str]:
        return [h.strip() for h in self.scrape_allow_private_hosts.split(",") if h.strip()]
