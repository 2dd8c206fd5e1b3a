"""A real node for the local control plane: containerd + runc + the CNI bridge + a kubelet, registered
as a labelled node next to the kwok nodes, so pods run the project's image for real (Linux, root).

Everything it makes on the host is named after one claimed index N (bridge scoutly<N>, pod subnet
10.88.N.0/24, Service range 10.96.N.0/24, cgroup /scoutly-N, one iptables rule) and recorded in a
`NodeState`, so `teardown` works from the state alone: after a failed start, a failed test, or for a
detached `scoutly dev up --real-node` stopped by another process. Processes are only signalled after
checking they are the ones started here (start time, or argv naming this node's own socket).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from scoutly.testing.dns import CLUSTER_DOMAIN
from scoutly.testing.oci import single_binary_image
from scoutly.testing.procs import ComponentError, Proc, free_port, proc_start_time

NODE_NAME = "real-node"
NODE_LABELS = {"type": "real", "scoutly.io/node": "real"}
NODE_BINARIES = (
    "containerd",
    "ctr",
    "containerd-shim-runc-v2",
    "runc",
    "bridge",
    "host-local",
    "loopback",
    "kubelet",
    "pause",
)
PAUSE_IMAGE = "localhost/scoutly-pause:dev"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def node_gap(bin_dir: Path) -> str | None:
    """Why a real node cannot run here (None when it can): the machine, then the binaries."""
    if platform.system() != "Linux":
        return f"not Linux ({platform.system()}): containerd and the kubelet need Linux"
    if os.geteuid() != 0:
        return "not root: containerd, runc and the kubelet need root (CI runs as root)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "no overlayfs in this kernel (/proc/filesystems): containerd's snapshotter needs it"
    for tool in ("ip", "iptables"):
        if not any(os.access(Path(d) / tool, os.X_OK) for d in os.environ.get("PATH", "").split(":")):
            return f"the {tool} command is missing: run 'make node-deps'"
    missing = [b for b in NODE_BINARIES if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        return f"{', '.join(missing)} missing in {bin_dir}: run 'make testenv'"
    return None


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)
    if check and proc.returncode != 0:
        raise ComponentError(f"real node: {' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return proc


@dataclass
class NodeState:
    """What the node made on the host; JSON in the environment's state file."""

    index: int
    dir: str
    api_port: int = 0
    pids: dict[str, list[int]] | None = None  # name -> [pid, start time]
    cgroups: list[str] | None = None
    iptables_rule: list[str] | None = None

    @property
    def bridge(self) -> str:
        return f"scoutly{self.index}"

    @property
    def gateway(self) -> str:
        return f"10.88.{self.index}.1"

    @property
    def subnet(self) -> str:
        return f"10.88.{self.index}.0/24"

    @property
    def service_cidr(self) -> str:
        return f"10.96.{self.index}.0/24"

    @property
    def kubernetes_ip(self) -> str:
        return f"10.96.{self.index}.1"

    @property
    def sock(self) -> str:
        return f"{self.dir}/containerd/containerd.sock"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def claim_network(node_dir: Path) -> NodeState:
    """Create the bridge of the first free index: creating the link is the atomic claim, so concurrent
    environments on one machine never share a bridge, subnet or Service range."""
    taken = _run("ip", "-o", "addr").stdout
    for i in range(1, 255):
        if f" 10.88.{i}." in taken:
            continue
        if _run("ip", "link", "add", f"scoutly{i}", "type", "bridge", check=False).returncode != 0:
            continue
        state = NodeState(index=i, dir=str(node_dir))
        try:
            _run("ip", "addr", "add", f"{state.gateway}/24", "dev", state.bridge)
            _run("ip", "link", "set", state.bridge, "up")
        except ComponentError:
            teardown(state)
            raise
        return state
    raise ComponentError("real node: no free bridge index (scoutly1..scoutly254 all exist)")


class RealNode:
    """Starts containerd and the kubelet for a claimed `NodeState`; `LocalEnv` owns it."""

    def __init__(self, state: NodeState, bin_dir: Path, kubeconfig: Path, ca_crt: Path, *, detach: bool):
        self.state = state
        self.bin_dir = bin_dir
        self.kubeconfig = kubeconfig
        self.ca_crt = ca_crt
        self.detach = detach
        self.dir = Path(state.dir)
        self.procs: list[Proc] = []

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(str(self.bin_dir / "ctr"), "-a", self.state.sock, "-n", "k8s.io", *args, check=check)

    def route_kubernetes_service(self, api_port: int) -> None:
        """The in-cluster address of the API server (the `kubernetes` Service) leads to it: one DNAT rule
        for this environment's Service IP, in place of kube-proxy (which would own the host's tables)."""
        rule = [
            "PREROUTING", "-d", f"{self.state.kubernetes_ip}/32", "-p", "tcp", "--dport", "443",
            "-m", "comment", "--comment", f"scoutly-node-{self.state.index}",
            "-j", "DNAT", "--to-destination", f"{self.state.gateway}:{api_port}",
        ]  # fmt: skip
        _run("iptables", "-w", "-t", "nat", "-A", *rule)
        self.state.iptables_rule = rule

    def start(self, images: list[Path], on_state: Callable[[], None]) -> None:
        for sub in ("containerd", "cni/net.d", "kubelet", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.state.cgroups = _make_cgroups(f"scoutly-{self.state.index}")
        on_state()
        self._start_containerd()
        on_state()
        pause = self.dir / "pause.oci.tar"
        single_binary_image(self.bin_dir / "pause", PAUSE_IMAGE, pause)
        for archive in [pause, *images]:
            self.ctr("images", "import", "--all-platforms", str(archive))
        self._start_dns()
        self._start_kubelet()
        on_state()

    def _start_dns(self) -> None:
        """Cluster DNS on the bridge address (scoutly.testing.dns): in-cluster clients such as kopf's
        reach the API server as kubernetes.default.svc."""
        s = self.state
        p = self._proc(
            "cluster-dns",
            "-m",
            "scoutly.testing.dns",
            f"--listen={s.gateway}",
            f"--record=kubernetes.default.svc.{CLUSTER_DOMAIN}={s.kubernetes_ip}",
            exe=sys.executable,
        )
        p.wait_ready(lambda: _resolves(s.gateway), timeout=15, what="did not answer on port 53")

    def _proc(self, name: str, *args: str, exe: str | None = None) -> Proc:
        p = Proc(name, [exe or str(self.bin_dir / name), *args], self.dir / "logs" / f"{name}.log")
        p.env = {"PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}"}
        p.start(detach=self.detach)
        self.procs.append(p)
        assert p.pid is not None
        self.state.pids = {**(self.state.pids or {}), name: [p.pid, proc_start_time(p.pid) or 0]}
        return p

    def _start_containerd(self) -> None:
        d, b = self.dir, self.bin_dir
        (d / "containerd" / "config.toml").write_text(f"""version = 3
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{self.state.sock}"
[ttrpc]
  address = "{d}/containerd/containerd.sock.ttrpc"
[plugins.'io.containerd.nri.v1.nri']
  disable = true   # its socket is machine-wide; another environment's containerd may hold it
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true   # no CAP_SYS_RESOURCE in sandboxes: a lower oom_score_adj is refused
  netns_mounts_under_state_dir = true   # pod network namespaces under this node's directory
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{b}/runc"
        Root = "{d}/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{b}"]
    conf_dir = "{d}/cni/net.d"
""")
        s = self.state
        conflist = {
            "cniVersion": "1.0.0",
            "name": f"scoutly-{s.index}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": s.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": f"{d}/cni/ipam",
                        "ranges": [[{"subnet": s.subnet, "gateway": s.gateway}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        }
        (d / "cni" / "net.d" / "10-scoutly.conflist").write_text(json.dumps(conflist))
        p = self._proc("containerd", f"--config={d}/containerd/config.toml")
        p.wait_ready(
            lambda: self.ctr("version", check=False).returncode == 0, timeout=30, what="did not answer"
        )

    def _start_kubelet(self) -> None:
        d, s = self.dir, self.state
        port, healthz = free_port(), free_port()
        (d / "kubelet" / "config.yaml").write_text(
            json.dumps(
                {
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "failCgroupV1": False,  # cgroup v1 machines: deprecated, still works
                    "cgroupDriver": "cgroupfs",
                    "cgroupRoot": f"/scoutly-{s.index}",
                    "containerRuntimeEndpoint": f"unix://{s.sock}",
                    # the API server proxies logs/exec with its client certificate
                    "authentication": {
                        "anonymous": {"enabled": False},
                        "webhook": {"enabled": False},
                        "x509": {"clientCAFile": str(self.ca_crt)},
                    },
                    "authorization": {"mode": "AlwaysAllow"},
                    "address": s.gateway,
                    "port": port,
                    "readOnlyPort": 0,
                    "healthzBindAddress": "127.0.0.1",
                    "healthzPort": healthz,
                    "failSwapOn": False,
                    "resolvConf": "/etc/resolv.conf",
                    "clusterDNS": [s.gateway],
                    "clusterDomain": CLUSTER_DOMAIN,
                    "evictionHard": {
                        "memory.available": "100Mi",
                        "nodefs.available": "1%",
                        "imagefs.available": "1%",
                    },
                    "imageGCHighThresholdPercent": 100,
                    "imageGCLowThresholdPercent": 99,
                    "podLogsDir": f"{d}/kubelet/pod-logs",
                    "volumePluginDir": f"{d}/kubelet/volume-plugins",
                    "serializeImagePulls": False,
                    "nodeStatusUpdateFrequency": "2s",
                    "syncFrequency": "5s",
                }
            )
        )
        labels = ",".join(f"{k}={v}" for k, v in NODE_LABELS.items())
        p = self._proc(
            "kubelet",
            f"--kubeconfig={self.kubeconfig}",
            f"--config={d}/kubelet/config.yaml",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={s.gateway}",
            f"--node-labels={labels}",
            f"--root-dir={d}/kubelet/root",
            f"--cert-dir={d}/kubelet/pki",
            "--v=1",
        )
        p.wait_ready(lambda: self._ready(), timeout=60, what="did not register a Ready node")

    def _ready(self) -> bool:
        out = _run(
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={self.kubeconfig}",
            "get",
            "node",
            NODE_NAME,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
            check=False,
        )
        return out.stdout.strip() == "True"

    def stop(self) -> None:
        teardown(self.state, procs=self.procs, bin_dir=self.bin_dir)
        self.procs.clear()


def _resolves(server: str) -> bool:
    """The cluster DNS answers a query for the kubernetes Service."""
    name = f"kubernetes.default.svc.{CLUSTER_DOMAIN}"
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(query, (server, 53))
        reply = s.recv(512)
    return reply[:2] == b"\x12\x34" and reply[6:8] == b"\x00\x01"


def _make_cgroups(name: str) -> list[str]:
    """The kubelet's cgroupRoot in every v1 hierarchy (it must exist before the kubelet starts)."""
    made = []
    for hierarchy in sorted(CGROUP_ROOT.iterdir()):
        if hierarchy.is_symlink() or not hierarchy.is_dir():
            continue
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        made.append(str(path))
        if hierarchy.name == "cpuset":  # a new cpuset has no cpus/mems until given its parent's
            for f in ("cpuset.cpus", "cpuset.mems"):
                (path / f).write_text((hierarchy / f).read_text())
    return made


def _cgroup_pids(cgroups: list[str]) -> set[int]:
    pids: set[int] = set()
    for root in cgroups:
        for dirpath, _dirs, files in os.walk(root):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    pids |= {int(x) for x in Path(dirpath, "cgroup.procs").read_text().split()}
    return pids


def _remove_cgroups(cgroups: list[str]) -> list[str]:
    left = []
    for root in cgroups:
        for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(dirpath)
    return left


def _mounts_under(path: str) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4].replace("\\040", " ")
        if mnt == path or mnt.startswith(path.rstrip("/") + "/"):
            out.append(mnt)
    return sorted(set(out), key=len, reverse=True)


def _signal_verified(pid: int, start: int, sig: int) -> None:
    """Signal `pid` only while it is still the process started here (same start time)."""
    if start and proc_start_time(pid) == start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _our_shims(sock: str) -> list[int]:
    """containerd's shims for this node: their argv names this node's own containerd socket."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and sock.encode() in argv:
                pids.append(int(entry.name))
    return pids


def teardown(state: NodeState, procs: list[Proc] | None = None, bin_dir: Path | None = None) -> list[str]:
    """Remove everything the node made, in order; best effort, returns what could not be removed."""
    problems: list[str] = []
    by_name = {p.name: p for p in procs or []}
    pids = state.pids or {}

    def stop(name: str) -> None:
        if name in by_name:
            by_name[name].stop()
        elif name in pids:
            pid, start = pids[name]
            _signal_verified(pid, start, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while proc_start_time(pid) == start and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_verified(pid, start, signal.SIGKILL)

    stop("kubelet")  # first, so nothing restarts the containers
    stop("cluster-dns")
    cgroups = state.cgroups or []
    for _ in range(50):  # the pods' processes live in this node's cgroups, so they are its own
        left = _cgroup_pids(cgroups)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    if bin_dir and Path(state.sock).exists() and "containerd" in pids:
        ctr = [str(bin_dir / "ctr"), "-a", state.sock, "-n", "k8s.io"]
        for cid in _run(*ctr, "containers", "ls", "-q", check=False).stdout.split():
            _run(*ctr, "tasks", "delete", "-f", cid, check=False)
            _run(*ctr, "containers", "delete", cid, check=False)
    stop("containerd")
    for pid in _our_shims(state.sock):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for mnt in _mounts_under(state.dir):
        if _run("umount", "-l", mnt, check=False).returncode != 0:
            problems.append(f"mount {mnt}")
    rule = state.iptables_rule
    if rule and _run("iptables", "-w", "-t", "nat", "-D", *rule, check=False).returncode != 0:
        problems.append("iptables rule " + " ".join(rule))
    _run("ip", "link", "del", state.bridge, check=False)
    if _run("ip", "link", "show", state.bridge, check=False).returncode == 0:
        problems.append(f"bridge {state.bridge}")
    for _ in range(30):
        stuck = _remove_cgroups(cgroups)
        if not stuck:
            break
        time.sleep(0.1)
    else:
        problems += [f"cgroup {c}" for c in stuck]
    return problems
