"""NetworkPolicy enforcement on the real node, for tests: kube-router's network-policy controller alone
(iptables + ipset; its router and service proxy off), and listeners on addresses only the node's pods
reach, so a test can show what a policy refuses without touching the machine's own routes.

The plain CNI bridge of scoutly.testing.node enforces nothing. kube-router's rules and ipsets are
machine-wide (it rewrites the filter table and deletes pod chains it does not know), so one agent runs
per machine at a time: a lock file, held from start to cleanup.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from scoutly.testing.node import NODE_NAME, NodeState
from scoutly.testing.procs import ComponentError, Proc

LOCK_FILE = Path("/run/scoutly-netpol-agent.lock")
# what kube-router makes: filter chains and ipsets with these prefixes (and the jumps to its chains)
AGENT_CHAINS = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
AGENT_IPSETS = ("KUBE-SRC-", "KUBE-DST-")
_IP_TRANSPARENT = 19  # linux/in.h: bind, and answer from, an address no interface holds


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)
    if check and proc.returncode != 0:
        raise ComponentError(f"netpol: {' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return proc


def agent_gap(bin_dir: Path) -> str | None:
    """Why the agent cannot run here (None when it can)."""
    if not os.access(bin_dir / "kube-router", os.X_OK):
        return f"kube-router missing in {bin_dir}: run 'make testenv'"
    for tool in ("ipset", "iptables-save", "iptables-restore"):
        if shutil.which(tool) is None:
            return f"the {tool} command is missing: run 'make node-deps'"
    return None


def leftovers() -> list[str]:
    """The agent's chains and ipsets still on this machine."""
    chains = [
        line.split()[0][1:]
        for line in _run("iptables-save", "-t", "filter").stdout.splitlines()
        if line.startswith(":") and line[1:].startswith(AGENT_CHAINS)
    ]
    sets = [s for s in _run("ipset", "list", "-n").stdout.split() if s.startswith(AGENT_IPSETS)]
    return [f"chain {c}" for c in chains] + [f"ipset {s}" for s in sets]


def remove_agent_objects() -> None:
    """Remove kube-router's jumps from the built-in chains, then its chains, then its ipsets. Not
    `kube-router --cleanup-config`: in v2.1.0 it leaves the netpol chains (its handlers are unset there)
    and flushes every IPVS service on the machine."""
    saved = _run("iptables-save", "-t", "filter").stdout.splitlines()
    for line in saved:
        if line.startswith("-A ") and any(f"-j {p}" in line for p in AGENT_CHAINS):
            words = shlex.split(line)
            if not words[1].startswith(AGENT_CHAINS):  # a jump from INPUT, FORWARD or OUTPUT
                _run("iptables", "-w", "-D", *words[1:], check=False)
    chains = [c.removeprefix("chain ") for c in leftovers() if c.startswith("chain ")]
    for chain in chains:
        _run("iptables", "-w", "-F", chain, check=False)
    for chain in chains:
        _run("iptables", "-w", "-X", chain, check=False)
    for name in [s.removeprefix("ipset ") for s in leftovers() if s.startswith("ipset ")]:
        _run("ipset", "destroy", name, check=False)


class PolicyAgent:
    """kube-router --run-firewall for the real node of one environment; `stop` removes all it made."""

    def __init__(self, bin_dir: Path, kubeconfig: Path, state: NodeState, log: Path):
        self.bin_dir = bin_dir
        self.kubeconfig = kubeconfig
        self.state = state
        self.log = log
        self.proc: Proc | None = None
        self._lock: int | None = None

    def start(self, *, lock_timeout: float = 900) -> None:
        self._acquire(lock_timeout)
        try:
            if left := leftovers():  # a previous run killed before its cleanup: start clean
                self._cleanup()
                if left := leftovers():
                    raise ComponentError(f"netpol: kube-router's objects left by another run: {left}")
            self.proc = Proc(
                "kube-router",
                [
                    str(self.bin_dir / "kube-router"),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--hostname-override={NODE_NAME}",
                    "--run-firewall=true",
                    "--run-router=false",
                    "--run-service-proxy=false",
                    "--run-loadbalancer=false",
                    f"--service-cluster-ip-range={self.state.service_cidr}",
                    "--health-port=0",  # no fixed port: other environments share the machine
                    "--metrics-port=0",
                    "--iptables-sync-period=5m",  # changes apply on watch events; this is the resync
                    "--v=1",
                ],
                self.log,
            )
            self.proc.start()
            self.proc.wait_ready(
                lambda: _run("iptables", "-w", "-S", "KUBE-ROUTER-FORWARD", check=False).returncode == 0,
                timeout=60,
                what="did not install its chains",
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> list[str]:
        """Stop the agent, remove its chains and ipsets; returns what is left (empty when clean)."""
        try:
            if self.proc:
                self.proc.stop(grace=10)
            self._cleanup()
            return leftovers()
        finally:
            self._release()

    def _cleanup(self) -> None:
        remove_agent_objects()

    def _acquire(self, timeout: float) -> None:
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise ComponentError(
                        f"netpol: another NetworkPolicy agent held {LOCK_FILE} for {timeout:.0f}s"
                    ) from None
                time.sleep(0.5)

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor drops the flock
            self._lock = None


@contextlib.contextmanager
def pod_only_listener(state: NodeState, address: str, *ports: int) -> Iterator[None]:
    """TCP listeners on `address` at `ports` that only this node's pods reach: a policy route delivers
    their packets for `address` locally, while the machine's own traffic to it (e.g. a real metadata
    service at 169.254.169.254) keeps its route. They accept and close every connection."""
    table = str(1000 + state.index)
    rule = ["from", state.subnet, "to", f"{address}/32", "lookup", table, "pref", table]
    route = ["local", f"{address}/32", "dev", "lo", "table", table]
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IP, _IP_TRANSPARENT, 1)
            sock.bind((address, port))
            sock.listen(64)
            sock.settimeout(0.2)
            server = threading.Thread(target=_serve, args=(sock, stop), name=f"{address}:{port}", daemon=True)
            server.start()
            stack.callback(server.join)
        stack.callback(stop.set)
        _run("ip", "route", "add", *route)
        stack.callback(_run, "ip", "route", "del", *route, check=False)
        _run("ip", "rule", "add", *rule)
        stack.callback(_run, "ip", "rule", "del", *rule, check=False)
        yield


def _serve(sock: socket.socket, stop: threading.Event) -> None:
    # accept and close: a full accept queue would drop SYNs, a refusal the policy did not make
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            sock.accept()[0].close()
