"""Prometheus metrics of the operator (prefix scoutly_), on one registry. Names documented in docs/metrics.md.

Labels are bounded: result/reason/phase/status/model/kind values come from small fixed sets; per-target
series exist only when SCOUTLY_METRICS_PER_TARGET is on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.metrics_core import Metric

from scoutly import __version__

REGISTRY = CollectorRegistry(auto_describe=True)


class LeaderOnly:
    """Collector of the gauges only the dispatching replica keeps current. A standby exports none of
    them: its last values (from before it lost the Lease) would otherwise be read by `max()` in the
    dashboard and alerts as if they were live."""

    def __init__(self) -> None:
        self.leading: Callable[[], bool] = lambda: True  # replaced by the operator with its Lease state
        self._gauges: list[Gauge] = []

    def gauge(self, name: str, documentation: str, labels: Iterable[str] = ()) -> Gauge:
        g = Gauge(name, documentation, list(labels), registry=None)
        self._gauges.append(g)
        return g

    def describe(self) -> list[Metric]:
        return [m for g in self._gauges for m in g.describe()]

    def collect(self) -> list[Metric]:
        return [m for g in self._gauges for m in g.collect()] if self.leading() else []


LEADER_ONLY = LeaderOnly()

# CronJob's job_creation_skew buckets (1..512 s), with sub-second buckets in front: we dispatch faster
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

build_info = Info("scoutly_build", "Operator build information.", registry=REGISTRY)
build_info.info({"version": __version__})

jobs_created = Counter("scoutly_jobs_created_total", "Scrape Jobs created.", ["trigger"], registry=REGISTRY)
jobs_finished = Counter(
    "scoutly_jobs_finished_total",
    "Scrape Jobs finished, by result and reason.",
    ["result", "reason"],
    registry=REGISTRY,
)
job_duration = Histogram(
    "scoutly_job_duration_seconds",
    "Scrape Job duration from start to finish.",
    ["result"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
dispatch_lag = Histogram(
    "scoutly_dispatch_lag_seconds",
    "Job creation time minus the target's due time.",
    buckets=LAG_BUCKETS,
    registry=REGISTRY,
)
targets = Gauge("scoutly_targets", "ScrapeTargets by phase.", ["phase"], registry=REGISTRY)
targets_due_waiting = LEADER_ONLY.gauge(
    "scoutly_targets_due_waiting", "Targets due but waiting for a concurrency slot (leader only)."
)
dispatcher_heartbeat = LEADER_ONLY.gauge(
    "scoutly_dispatcher_heartbeat_timestamp_seconds",
    "Unix time of the dispatcher's last pass (at least every 15 s while leading; leader only).",
)
targets_overdue = Gauge(
    "scoutly_targets_overdue",
    "Targets without a successful scrape for more than two cooldowns (one cooldown past due).",
    registry=REGISTRY,
)
# "at least N failures in a row": cumulative buckets, so one series per threshold whatever the fleet size
FAILURE_STREAKS = (1, 3, 5)
targets_consecutive_failures = Gauge(
    "scoutly_targets_consecutive_failures",
    "Targets whose last N or more scrapes failed in a row (ge = N).",
    ["ge"],
    registry=REGISTRY,
)
active_scrapes = Gauge("scoutly_active_scrapes", "Scrape Jobs pending or running.", registry=REGISTRY)
max_concurrent = Gauge("scoutly_max_concurrent_scrapes", "The configured concurrency cap.", registry=REGISTRY)
jobqueue_documents = Gauge(
    "scoutly_jobqueue_documents", "jobqueues documents by status (sampled).", ["status"], registry=REGISTRY
)
postings = Counter(
    "scoutly_postings_total", "Postings reported by finished scrapes.", ["kind"], registry=REGISTRY
)
matches = Counter("scoutly_matches_total", "Matches reported by finished scrapes.", registry=REGISTRY)
posting_rows = Counter(
    "scoutly_posting_rows_total",
    "Posting rows the scrapes' sources listed (the quality checks' denominator), by source type.",
    ["source"],
    registry=REGISTRY,
)
postings_missing = Counter(
    "scoutly_postings_missing_total",
    "Posting rows lacking a field (title, url, location, date), by source type.",
    ["source", "field"],
    registry=REGISTRY,
)
posting_quality_jumps = Counter(
    "scoutly_posting_quality_jumps_total",
    "Runs in which the share of postings lacking a field jumped since the board's previous run "
    "(a parser regression or a changed payload), by source type and field.",
    ["source", "field"],
    registry=REGISTRY,
)
llm_tokens = Counter(
    "scoutly_llm_tokens_total",
    "LLM tokens reported by finished scrapes.",
    ["model", "kind"],
    registry=REGISTRY,
)
reconcile_errors = Counter(
    "scoutly_reconcile_errors_total",
    "Errors while handling events or dispatching; each is retried with backoff.",
    ["stage", "kind"],
    registry=REGISTRY,
)
# the work queue's (client-go's workqueue_* metrics), by key kind: target, job, due, dispatch
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
workqueue_depth = Gauge(
    "scoutly_workqueue_depth",
    "Keys waiting in the work queue (delayed adds not counted).",
    ["kind"],
    registry=REGISTRY,
)
workqueue_queue_duration = Histogram(
    "scoutly_workqueue_queue_duration_seconds",
    "Time a key waited in the work queue before a worker took it.",
    ["kind"],
    buckets=QUEUE_BUCKETS,
    registry=REGISTRY,
)
workqueue_work_duration = Histogram(
    "scoutly_workqueue_work_duration_seconds",
    "Time a worker spent on one key.",
    ["kind"],
    buckets=QUEUE_BUCKETS,
    registry=REGISTRY,
)
workqueue_retries = Counter(
    "scoutly_workqueue_retries_total",
    "Keys re-queued with backoff after an error.",
    ["kind"],
    registry=REGISTRY,
)
leader = Gauge(
    "scoutly_leader",
    "1 on the replica that dispatches: the Lease holder, or the only replica without leader election.",
    registry=REGISTRY,
)
mirror_backlog = Gauge(
    "scoutly_mirror_backlog", "MongoDB mirror writes waiting to be stored.", registry=REGISTRY
)
mirror_dropped = Counter(
    "scoutly_mirror_dropped_total", "Non-terminal mirror writes dropped (backlog full).", registry=REGISTRY
)
mongo_up = Gauge("scoutly_mongodb_up", "1 when the last MongoDB write succeeded.", registry=REGISTRY)
watch_events = Counter("scoutly_watch_events_total", "Watch events handled.", ["resource"], registry=REGISTRY)
last_event_timestamp = Gauge(
    "scoutly_last_event_timestamp_seconds", "Unix time of the last handled event.", registry=REGISTRY
)
db_log_dropped = Counter(
    "scoutly_db_log_dropped_total", "Log records dropped by the database logger.", registry=REGISTRY
)
db_log_written = Counter(
    "scoutly_db_log_written_total", "Log records the database logger stored in `logs`.", registry=REGISTRY
)
operator_ready = Gauge(
    "scoutly_operator_ready",
    "1 when the operator is ready: the watch is running and MongoDB (if configured) is reachable.",
    registry=REGISTRY,
)
llm_token_budget_daily = Gauge(
    "scoutly_llm_token_budget_daily",
    "The configured daily LLM token budget (SCOUTLY_LLM_DAILY_TOKEN_BUDGET); 0: none.",
    registry=REGISTRY,
)
target_last_success = Gauge(
    "scoutly_target_last_success_timestamp_seconds",
    "Per target (only with SCOUTLY_METRICS_PER_TARGET): last successful scrape.",
    ["namespace", "name"],
    registry=REGISTRY,
)

REGISTRY.register(LEADER_ONLY)

# Labelled counters start at 0 for the known label values, so the first error or failure is an
# increase() the alerts see (a series born at 1 has no increase).
RECONCILE_STAGES = ("target", "job", "pod", "finish", "dispatch", "create", "status")
ERROR_KINDS = ("connection", "timeout", "http_4xx", "http_5xx", "other")
for _stage in RECONCILE_STAGES:
    for _kind in ERROR_KINDS:
        reconcile_errors.labels(_stage, _kind)
QUEUE_KINDS = ("target", "job", "due", "dispatch")
for _qkind in QUEUE_KINDS:
    workqueue_retries.labels(_qkind)
    workqueue_depth.labels(_qkind)
jobs_finished.labels("succeeded", "Completed")
for _reason in ("BackoffLimitExceeded", "DeadlineExceeded"):
    jobs_finished.labels("failed", _reason)

# process_* (RSS, CPU, open fds) for the operator-health panel and the memory benchmark
from prometheus_client import ProcessCollector  # noqa: E402

ProcessCollector(registry=REGISTRY)
