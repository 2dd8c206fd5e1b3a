"""The image's install steps without a container engine: build the wheel from what the Dockerfile
copies, install only that wheel into a fresh venv as the final stage does, run both entry points."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.chart.helm import ROOT


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    return proc.stdout


def test_wheel_installs_alone_and_runs_both_commands(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    # build stage: the context the Dockerfile copies (and .dockerignore lets through), nothing else
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.M)
    assert copied == ["pyproject.toml README.md", "operator"]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "operator", src / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    assert "python -m build --wheel --outdir /dist ." in dockerfile
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", ".", cwd=src)
    (wheel,) = (tmp_path / "dist").glob("scoutly_operator-*.whl")

    # final stage: python -m venv, pip install the wheel (and its dependencies), remove pip
    assert "python -m venv /opt/scoutly" in dockerfile and "pip uninstall -y pip" in dockerfile
    venv = tmp_path / "opt-scoutly"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin/pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    _run(venv / "bin/pip", "uninstall", "-y", "--quiet", "pip")
    assert not (venv / "bin/pip").exists()
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "scoutly" / "py.typed").exists()
    assert (site / "scoutly" / "testing" / "kwok" / "stages.yaml").exists()  # package data made it
    assert not (site / "build").exists()  # the build tool stays in the build stage

    top = _run(venv / "bin/scoutly", "--help")
    assert "operator" in top and "scrape" in top
    assert "--target" in _run(venv / "bin/scoutly", "scrape", "--help")
    assert "run" in _run(venv / "bin/scoutly", "operator", "--help")
    # the helm test hook runs `python -c` with the image's interpreter
    assert _run(venv / "bin/python", "-c", "import scoutly, urllib.request; print('ok')").strip() == "ok"
