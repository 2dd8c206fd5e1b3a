"""A real local control plane and MongoDB-protocol server on loopback, for tests and `scoutly dev up`.

etcd + kube-apiserver (TLS, RBAC) + kube-controller-manager + kube-scheduler + kwok (fake nodes and
pods) + FerretDB (SQLite). Binaries come from `make testenv` (hack/testenv.sh) or SCOUTLY_TESTENV_BIN.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from scoutly.testing.certs import Certs, make_certs
from scoutly.testing.procs import ComponentError, Proc, ensure_free, free_port, tcp_open

REPO_ROOT = Path(__file__).resolve().parents[3]
KCM_CONTROLLERS = (
    "job-controller,garbage-collector-controller,ttl-after-finished-controller,namespace-controller,"
    "cronjob-controller,serviceaccount-controller,serviceaccount-token-controller,deployment-controller,"
    "replicaset-controller,clusterrole-aggregation-controller"
)
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "ferretdb",
    "helm",
)


def locate_binaries() -> Path:
    """Where the binaries are: SCOUTLY_TESTENV_BIN, else the cache directory hack/testenv.sh builds into."""
    if os.environ.get("SCOUTLY_TESTENV_BIN"):
        return Path(os.environ["SCOUTLY_TESTENV_BIN"])
    script = REPO_ROOT / "hack" / "testenv.sh"
    if not script.exists():
        raise ComponentError("testenv: SCOUTLY_TESTENV_BIN is not set and hack/testenv.sh is not here")
    out = subprocess.run(["bash", str(script), "--print-dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def check_binaries(bin_dir: Path) -> None:
    missing = [b for b in BINARIES if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        raise ComponentError(
            f"testenv: {', '.join(missing)} missing in {bin_dir}; run 'make testenv' to build them "
            "(or set SCOUTLY_TESTENV_BIN to a directory that has them)"
        )


@dataclass
class LocalEnv:
    """The running environment. `start()` brings everything up; `stop()` leaves no process behind."""

    workdir: Path
    bin_dir: Path = field(default_factory=locate_binaries)
    nodes: int = 2
    detach: bool = False
    procs: list[Proc] = field(default_factory=list)
    api_port: int = 0
    mongo_port: int = 0
    certs: Certs | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _proc(self, name: str, *args: str) -> Proc:
        p = Proc(name, [self.bin(name.split("#")[0]), *args], self.workdir / "logs" / f"{name}.log")
        p.start(detach=self.detach)
        self.procs.append(p)
        return p

    # -- components -----------------------------------------------------------------------------
    def start(self) -> LocalEnv:
        check_binaries(self.bin_dir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.certs = make_certs(self.workdir / "pki")
            self._start_etcd_and_apiserver()
            self._write_kubeconfig()
            self._start_controllers()
            self._start_ferretdb()
            self._create_nodes()
        except BaseException:
            self.stop()
            raise
        self._write_state()
        return self

    def _start_etcd_and_apiserver(self) -> None:
        assert self.certs is not None
        etcd_port, peer_port = free_port(), free_port()
        data = (
            Path("/dev/shm") if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else self.workdir
        )
        etcd_dir = data / f"scoutly-etcd-{os.getpid()}-{etcd_port}"
        etcd = self._proc(
            "etcd",
            f"--data-dir={etcd_dir}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        )
        self._cleanup_paths = [etcd_dir]
        etcd.wait_ready(lambda: _http_ok(f"http://127.0.0.1:{etcd_port}/health"), timeout=30)

        self.api_port = free_port()
        c = self.certs
        api = self._proc(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--tls-cert-file={c.serving_crt}",
            f"--tls-private-key-file={c.serving_key}",
            f"--client-ca-file={c.ca_crt}",
            f"--secure-port={self.api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={c.sa_pub}",
            f"--service-account-signing-key-file={c.sa_key}",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
            "--enable-priority-and-fairness=false",
            "--v=1",
        )
        api.wait_ready(lambda: self._api_get("/readyz") == "ok", timeout=90, what="did not answer /readyz")

    def _start_controllers(self) -> None:
        c = self.certs
        assert c is not None
        kc = str(self.kubeconfig)
        kcm = self._proc(
            "kube-controller-manager",
            f"--kubeconfig={kc}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--controllers={KCM_CONTROLLERS}",
            f"--service-account-private-key-file={c.sa_key}",
            f"--root-ca-file={c.ca_crt}",
            "--use-service-account-credentials=false",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
            "--concurrent-job-syncs=20",
            "--concurrent-cron-job-syncs=20",
            "--v=1",
        )
        sched = self._proc(
            "kube-scheduler",
            f"--kubeconfig={kc}",
            "--leader-elect=false",
            "--secure-port=0",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
            "--v=1",
        )
        stages = resources.files("scoutly.testing").joinpath("kwok/stages.yaml")
        kwok = self._proc(
            "kwok",
            f"--kubeconfig={kc}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--config={stages}",
            "--server-address=127.0.0.1:0",
            "--node-lease-duration-seconds=0",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.1.0.1",
            "--v=-4",
        )
        # kcm and the scheduler report nothing over HTTP here (secure-port=0): give them a moment to die
        # on bad flags, so start-up errors name the right component.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for p in (kcm, sched, kwok):
                if not p.alive():
                    raise p.fail("exited during start-up")
            time.sleep(0.2)

    def _start_ferretdb(self, port: int | None = None) -> None:
        self.mongo_port = port or free_port()
        ensure_free(self.mongo_port, "ferretdb")
        db_dir = self.workdir / "ferretdb"
        db_dir.mkdir(parents=True, exist_ok=True)
        fdb = self._proc(
            "ferretdb",
            "--handler=sqlite",
            f"--sqlite-url=file:{db_dir}/",
            f"--listen-addr=127.0.0.1:{self.mongo_port}",
            "--state-dir=-",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        )
        fdb.wait_ready(lambda: tcp_open(self.mongo_port), timeout=30, what="did not listen")

    def restart_ferretdb(self) -> None:
        """Stop and start FerretDB on the same port and data (for outage tests)."""
        self.stop_component("ferretdb")
        self._start_ferretdb(self.mongo_port)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again with the same flags, port and etcd data."""
        old = next(p for p in self.procs if p.name == "kube-apiserver")
        old.stop()
        new = Proc(old.name, old.args, old.log)
        new.start(detach=self.detach)
        self.procs[self.procs.index(old)] = new
        new.wait_ready(lambda: self._api_get("/readyz") == "ok", timeout=90, what="did not answer /readyz")

    def stop_component(self, name: str) -> None:
        for p in [p for p in self.procs if p.name == name]:
            p.stop()
            self.procs.remove(p)

    def _create_nodes(self) -> None:
        for i in range(self.nodes):
            self.kubectl_apply(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": f"kwok-node-{i}",
                        "annotations": {"kwok.x-k8s.io/node": "fake"},
                        "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-node-{i}"},
                    },
                    "spec": {},
                }
            )
        deadline = time.monotonic() + 60
        kwok = next(p for p in self.procs if p.name == "kwok")
        while time.monotonic() < deadline:
            nodes = json.loads(self._api_get("/api/v1/nodes"))["items"]
            ready = [
                n
                for n in nodes
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in n.get("status", {}).get("conditions", [])
                )
            ]
            if len(ready) >= self.nodes:
                return
            if not kwok.alive():
                raise kwok.fail("exited")
            time.sleep(0.2)
        raise kwok.fail(f"did not make {self.nodes} fake nodes Ready within 60s")

    # -- access ---------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        assert self.certs is not None
        ctx = ssl.create_default_context(cafile=str(self.certs.ca_crt))
        ctx.load_cert_chain(str(self.certs.admin_crt), str(self.certs.admin_key))
        return ctx

    def _api_get(self, path: str) -> str:
        with urllib.request.urlopen(self.api_url + path, context=self._ssl(), timeout=5) as r:
            return str(r.read().decode())

    def _write_kubeconfig(self) -> None:
        assert self.certs is not None

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "scoutly-local",
            "clusters": [
                {
                    "name": "scoutly-local",
                    "cluster": {"server": self.api_url, "certificate-authority-data": b64(self.certs.ca_crt)},
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(self.certs.admin_crt),
                        "client-key-data": b64(self.certs.admin_key),
                    },
                }
            ],
            "contexts": [{"name": "scoutly-local", "context": {"cluster": "scoutly-local", "user": "admin"}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(cfg))
        self.kubeconfig.chmod(0o600)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.bin("kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise ComponentError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def kubectl_apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def _write_state(self) -> None:
        state = {
            "pids": {p.name: p.pid for p in self.procs},
            "kubeconfig": str(self.kubeconfig),
            "mongoUri": self.mongo_uri,
            "cleanup": [str(p) for p in getattr(self, "_cleanup_paths", [])],
        }
        (self.workdir / "state.json").write_text(json.dumps(state, indent=2))

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()
        for path in getattr(self, "_cleanup_paths", []):
            subprocess.run(["rm", "-rf", str(path)], check=False)


def stop_detached(workdir: Path) -> bool:
    """Stop an environment started with detach=True (by `scoutly dev up`), from its state file."""
    import signal

    state_file = workdir / "state.json"
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    for pid in reversed(list(state["pids"].values())):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 10
    for pid in state["pids"].values():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    for path in state.get("cleanup", []):
        subprocess.run(["rm", "-rf", path], check=False)
    state_file.unlink()
    return True


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return bool(r.status == 200)
