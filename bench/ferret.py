"""A FerretDB (SQLite backend) of a benchmark's own, on a free loopback port."""

from __future__ import annotations

from pathlib import Path

from scoutly.testing.env import locate_binaries
from scoutly.testing.procs import Proc, free_port, tcp_open


def start_ferretdb(tmp: Path) -> tuple[Proc, str]:
    """Start FerretDB with its data in `tmp`; returns the process and its MongoDB URI (no database)."""
    port = free_port()
    fdb = Proc(
        "ferretdb",
        [
            str(locate_binaries() / "ferretdb"),
            "--handler=sqlite",
            f"--sqlite-url=file:{tmp}/",
            f"--listen-addr=127.0.0.1:{port}",
            "--state-dir=-",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        tmp / "ferretdb.log",
    )
    fdb.start()
    fdb.wait_ready(lambda: tcp_open(port), timeout=30, what="did not listen")
    return fdb, f"mongodb://127.0.0.1:{port}/"
