"""Child processes of the local environment: start, wait for readiness, stop, report failures.

Every process gets its own session (so its whole group can be killed) and, unless the environment is
detached for `scoutly dev up`, PR_SET_PDEATHSIG so it dies with the test process even after kill -9.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ComponentError(RuntimeError):
    """A component of the local environment failed; the message names it and shows its log tail."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_free(port: int, component: str) -> None:
    """Fail with a clear message when `port` is taken, before a component would trip over it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # like the servers themselves (Go's net.Listen): connections in TIME_WAIT after a restart of the
        # same component on the same port do not make it busy, a listener does
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise ComponentError(
                f"{component}: port {port} on 127.0.0.1 is busy ({e.strerror}); stop whatever listens there "
                "or let the environment pick a free port"
            ) from None


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text[-lines:]) or "(log is empty)"


@dataclass
class Proc:
    """One running component."""

    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, *, detach: bool = False) -> None:
        exe = self.args[0]
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            raise ComponentError(
                f"{self.name}: binary {exe} not found or not executable; run 'make testenv' "
                "(or point SCOUTLY_TESTENV_BIN at a directory holding it)"
            )
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=None if detach else _die_with_parent,
                env={**os.environ, **self.env},
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def fail(self, what: str) -> ComponentError:
        code = self.popen.poll() if self.popen else None
        state = f"exited with code {code}" if code is not None else "still running"
        return ComponentError(
            f"{self.name} {what} ({state}); last lines of {self.log}:\n{log_tail(self.log)}"
        )

    def wait_ready(
        self, probe: Callable[[], bool], *, timeout: float, what: str = "did not become ready"
    ) -> None:
        """Poll `probe` until it returns True; fail early if the process dies, with its log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.fail("exited during start-up")
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.1)
        raise self.fail(f"{what} within {timeout:.0f}s")

    def stop(self, *, grace: float = 5.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(grace)


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.create_connection((host, port), timeout=0.5):
        return True


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), None when it is
    gone: with the pid it identifies one process, so a recycled pid is never mistaken for ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count fields after its closing ")"
    return int(stat.rsplit(")", 1)[1].split()[19])
