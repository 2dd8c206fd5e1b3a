"""A real Prometheus for the tests: find the binaries (hack/testenv-prometheus.sh), run a server that
scrapes given addresses with a rule file, and read its HTTP API (/api/v1/query, /api/v1/alerts)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from scoutly.testing.env import REPO_ROOT
from scoutly.testing.procs import ComponentError, Proc, free_port


def locate() -> Path:
    """Directory holding prometheus and promtool: SCOUTLY_TESTENV_BIN, else the testenv cache."""
    if os.environ.get("SCOUTLY_TESTENV_BIN"):
        return Path(os.environ["SCOUTLY_TESTENV_BIN"])
    script = REPO_ROOT / "hack" / "testenv-prometheus.sh"
    out = subprocess.run(["bash", str(script), "--print-dir"], capture_output=True, text=True, check=True)
    bin_dir = Path(out.stdout.strip())
    for name in ("prometheus", "promtool"):
        if not os.access(bin_dir / name, os.X_OK):
            raise ComponentError(f"testenv: {name} missing in {bin_dir}; run 'make testenv' to build it")
    return bin_dir


@dataclass
class ScrapeJob:
    job: str
    targets: list[str]  # host:port
    labels: dict[str, str] = field(default_factory=dict)  # added to every series (e.g. namespace)


@dataclass
class Prometheus:
    """One Prometheus server on a free port, its TSDB under `workdir`; `stop()` leaves nothing running."""

    workdir: Path
    jobs: list[ScrapeJob]
    rule_files: list[Path] = field(default_factory=list)
    interval: str = "1s"  # scrape and rule evaluation interval
    bin_dir: Path = field(default_factory=locate)
    port: int = 0
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": j.job, "static_configs": [{"targets": j.targets, "labels": j.labels}]}
                for j in self.jobs
            ],
        }

    def start(self, timeout: float = 60) -> Prometheus:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.port = self.port or free_port()
        self.proc = Proc(
            "prometheus",
            [
                str(self.bin_dir / "prometheus"),
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            self.workdir / "prometheus.log",
        )
        self.proc.start()
        self.proc.wait_ready(
            lambda: httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200, timeout=timeout
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    async def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns `data`, raising with Prometheus' own error text."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            r = await client.get(f"/api/v1/{path}", params=params)
        body = r.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    async def query(self, expr: str) -> dict[str, Any]:
        """Instant query: {"resultType": ..., "result": [...]}."""
        data: dict[str, Any] = await self.api("query", query=expr)
        return data

    async def alerts(self) -> list[dict[str, Any]]:
        data = await self.api("alerts")
        return list(data["alerts"])
