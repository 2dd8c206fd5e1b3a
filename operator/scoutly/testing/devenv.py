"""`scoutly dev up/down/demo`: the test environment as a command for people."""

from __future__ import annotations

import sys
from pathlib import Path

from scoutly.testing.env import LocalEnv, stop_detached
from scoutly.testing.procs import ComponentError


def up(workdir: Path, *, nodes: int = 2) -> int:
    if (workdir / "state.json").exists():
        print(
            f"an environment is already running from {workdir}; run 'make cluster-down' first",
            file=sys.stderr,
        )
        return 1
    try:
        env = LocalEnv(workdir=workdir, nodes=nodes, detach=True).start()
    except ComponentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"""Local control plane and FerretDB are running (logs in {workdir / "logs"}).

  export KUBECONFIG={env.kubeconfig}
  kubectl get nodes
  export SCOUTLY_MONGODB_URI={env.mongo_uri}

Stop it with: make cluster-down   (or: scoutly dev down --dir {workdir})""")
    return 0


def down(workdir: Path) -> int:
    if stop_detached(workdir):
        print(f"stopped the environment in {workdir}")
    else:
        print(f"no environment running from {workdir}")
    return 0


def demo(workdir: Path, *, keep: bool, timeout: float) -> int:
    """Until the controller lands: bring the environment up, prove it answers, and say so."""
    rc = up(workdir)
    if rc:
        return rc
    print("\nThe operator is not built yet: the demo stops at the running environment.")
    if not keep:
        down(workdir)
    return 0
