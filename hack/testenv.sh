#!/usr/bin/env bash
# Builds (or finds) every binary the tests and the local environment need, and caches them outside
# the repo, one directory per component keyed by its version (adding or bumping one component rebuilds
# only that one), plus a directory of symlinks to all of them. A second run takes well under a second.
# Usage: hack/testenv.sh [--print-dir]
#
#   SCOUTLY_TESTENV_BIN   use binaries you already have (a directory holding all of them); nothing is built
#   SCOUTLY_CACHE_DIR     cache root (default ~/.cache/scoutly)
#   SCOUTLY_REAL_NODE=0   skip the real node's binaries (containerd, runc, CNI plugins, kubelet, kube-router)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
FERRETDB_VERSION=${FERRETDB_VERSION:-v1.24.2}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
RUNC_VERSION=${RUNC_VERSION:-v1.5.3}
CNI_PLUGINS_VERSION=${CNI_PLUGINS_VERSION:-v1.10.0}
# the NetworkPolicy agent of the e2e test (its firewall controller only); test-only, never shipped
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v2.1.0}

# component name -> the binaries it provides
declare -A COMPONENT=(
  [kubernetes-$K8S_VERSION]="kube-apiserver kube-controller-manager kube-scheduler kubectl"
  [etcd-$ETCD_VERSION]="etcd"
  [ferretdb-$FERRETDB_VERSION]="ferretdb"
  [kwok-$KWOK_VERSION]="kwok"
  [helm-$HELM_VERSION]="helm"
)
ORDER=("kubernetes-$K8S_VERSION" "etcd-$ETCD_VERSION" "ferretdb-$FERRETDB_VERSION" "kwok-$KWOK_VERSION" "helm-$HELM_VERSION")
NODE_ORDER=("containerd-$CONTAINERD_VERSION" "runc-$RUNC_VERSION" "cni-plugins-$CNI_PLUGINS_VERSION" "kubelet-$K8S_VERSION" "kube-router-$KUBE_ROUTER_VERSION")
COMPONENT[containerd-$CONTAINERD_VERSION]="containerd ctr containerd-shim-runc-v2"
COMPONENT[runc-$RUNC_VERSION]="runc"
COMPONENT[cni-plugins-$CNI_PLUGINS_VERSION]="bridge host-local loopback portmap"
COMPONENT[kubelet-$K8S_VERSION]="kubelet pause"
COMPONENT[kube-router-$KUBE_ROUTER_VERSION]="kube-router"

die() { echo "testenv: $*" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)

if [[ -n "${SCOUTLY_TESTENV_BIN:-}" ]]; then
  for c in "${ORDER[@]}"; do for b in ${COMPONENT[$c]}; do
    [[ -x "$SCOUTLY_TESTENV_BIN/$b" ]] || die "SCOUTLY_TESTENV_BIN=$SCOUTLY_TESTENV_BIN has no executable '$b'; unset it to build, or add the binary"
  done; done
  [[ "${1:-}" == "--print-dir" ]] && echo "$SCOUTLY_TESTENV_BIN"
  exit 0
fi

CACHE=${SCOUTLY_CACHE_DIR:-$HOME/.cache/scoutly}
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_ferretdb-${FERRETDB_VERSION}_helm-${HELM_VERSION}"
# the layout before per-component directories: its binaries are hard-linked in rather than rebuilt
LEGACY="$CACHE/testenv/$KEY/bin"
BIN="$CACHE/testenv/${KEY}_containerd-${CONTAINERD_VERSION}_runc-${RUNC_VERSION}_cni-${CNI_PLUGINS_VERSION}/bin"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN"; exit 0; fi

node_gap=""
if [[ ${SCOUTLY_REAL_NODE:-1} == 0 ]]; then
  node_gap="SCOUTLY_REAL_NODE=0"
elif ! node_gap=$(bash "$HERE/node-deps.sh" --check 2>&1); then
  # root on Debian: install the packages (runc needs libseccomp-dev); elsewhere skip the node, saying why
  if [[ $(id -u) == 0 && $node_gap == *"missing Debian packages"* ]] && command -v apt-get >/dev/null; then
    bash "$HERE/node-deps.sh" && node_gap=""
  fi
else
  node_gap=""
fi
[[ -z $node_gap ]] && ORDER+=("${NODE_ORDER[@]}")

have() { local b; for b in ${COMPONENT[$1]}; do [[ -x "$CACHE/testenv/$1/bin/$b" ]] || return 1; done; }
todo=()
for c in "${ORDER[@]}"; do
  have "$c" && continue
  mkdir -p "$CACHE/testenv/$c/bin"
  for b in ${COMPONENT[$c]}; do  # migrate from the legacy layout without rebuilding
    [[ -f "$LEGACY/$b" && ! -L "$LEGACY/$b" && ! -e "$CACHE/testenv/$c/bin/$b" ]] \
      && { ln "$LEGACY/$b" "$CACHE/testenv/$c/bin/$b" 2>/dev/null || cp "$LEGACY/$b" "$CACHE/testenv/$c/bin/$b"; }
  done
  have "$c" || todo+=("$c")
done

link_all() {
  mkdir -p "$BIN"
  local c b
  for c in "${ORDER[@]}"; do for b in ${COMPONENT[$c]}; do ln -sfn "../../$c/bin/$b" "$BIN/$b"; done; done
}
note_node() { [[ -z $node_gap ]] || echo "testenv: real node binaries skipped: ${node_gap#node-deps: }"; }

if [[ ${#todo[@]} -eq 0 ]]; then link_all; note_node; echo "testenv: cached in $BIN"; exit 0; fi

command -v go >/dev/null || die "Go is not installed; install Go >= 1.26 (the Kubernetes ${K8S_VERSION} modules need it) or set SCOUTLY_TESTENV_BIN"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

step() { # step <component> <command...>: builds into $OUT; on failure names the component and shows the log tail
  local name=$1; shift
  echo -n "testenv: building $name ... "
  OUT="$CACHE/testenv/$name/bin"
  local t0=$SECONDS
  if ! ( "$@" ) >"$WORK/$name.log" 2>&1; then
    echo
    tail -n 30 "$WORK/$name.log" >&2
    die "building $name failed (log above). Check Go module proxy access (GOPROXY=$(go env GOPROXY)) and disk space, then re-run 'make testenv'"
  fi
  echo "$((SECONDS - t0))s"
}

k8s_wrapper() { # a module requiring k8s.io/kubernetes with each staging module pinned to its published v0.x
  local d=$1 minor=${K8S_VERSION#v1.} gomod staging
  minor=${minor%%.*}
  mkdir -p "$d" && cd "$d"
  go mod init scoutly.local/testenv-k8s >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | sort -u)
  [[ -n "$staging" ]] || return 1
  go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
  for m in $staging; do go mod edit -replace="$m=$m@v0.${minor}.${K8S_VERSION##*.}"; done
  K8S_LDFLAGS=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    K8S_LDFLAGS+=" -X $p.gitVersion=${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
}

build_kubernetes() {
  # k8s.io/kubernetes replaces its staging modules with ./staging/...: the wrapper module pins them so
  # the commands build from the module proxy.
  k8s_wrapper "$WORK/k8s"
  local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
              k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  go get "${pkgs[@]}"
  go build -trimpath -ldflags "-s -w $K8S_LDFLAGS" -o "$OUT/" "${pkgs[@]}"
}

build_kubelet() {
  # the kubelet, and the pod sandbox's `pause` from the C source shipped in the same module (static)
  k8s_wrapper "$WORK/kubelet"
  go get k8s.io/kubernetes/cmd/kubelet
  go build -trimpath -ldflags "-s -w $K8S_LDFLAGS" -o "$OUT/" k8s.io/kubernetes/cmd/kubelet
  local src
  src=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  gcc -Os -static -DVERSION="${K8S_VERSION}" -o "$OUT/pause" "$src"
}

build_wrapped() { # build_wrapped <module@version> <name> <main package...>: main packages from a wrapper module
  local mod=$1 name=$2; shift 2
  mkdir -p "$WORK/$name" && cd "$WORK/$name"
  go mod init "scoutly.local/testenv-$name" >/dev/null 2>&1
  go get "$mod"
  if [[ $# -eq 1 ]]; then go build -trimpath ${TAGS:+-tags "$TAGS"} -ldflags "-s -w" -o "$OUT/$name" "$1"
  else go build -trimpath ${TAGS:+-tags "$TAGS"} -ldflags "-s -w" -o "$OUT/" "$@"; fi
}

build_ferretdb() {
  # FerretDB panics at start unless build/version/version.txt (generated, not in the module zip) holds
  # its version, and it only reads that file when FerretDB is the main module: build from a copy.
  local src="$WORK/ferretdb-src" dir
  dir=$(cd "$WORK" && go mod download -json "github.com/FerretDB/FerretDB@${FERRETDB_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  echo "${FERRETDB_VERSION}" >"$src/build/version/version.txt"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$OUT/ferretdb" ./cmd/ferretdb)
}

for c in "${todo[@]}"; do
  case $c in
    kubernetes-*) step "$c" build_kubernetes ;;
    # etcd's own go.mod carries replace directives, so it is built from a wrapper module as well
    etcd-*) step "$c" build_wrapped "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" etcd go.etcd.io/etcd/server/v3 ;;
    ferretdb-*) step "$c" build_ferretdb ;;
    kwok-*) step "$c" build_wrapped "sigs.k8s.io/kwok@${KWOK_VERSION}" kwok sigs.k8s.io/kwok/cmd/kwok ;;
    helm-*) step "$c" build_wrapped "helm.sh/helm/v3@${HELM_VERSION}" helm helm.sh/helm/v3/cmd/helm ;;
    containerd-*) TAGS="no_btrfs no_devmapper no_zfs" step "$c" build_wrapped \
        "github.com/containerd/containerd/v2@${CONTAINERD_VERSION}" containerd \
        github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
        github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 ;;
    # Debian bookworm's runc 1.1 fails under containerd 2.4 ("can't get final child's PID from pipe")
    runc-*) CGO_ENABLED=1 TAGS=seccomp step "$c" build_wrapped "github.com/opencontainers/runc@${RUNC_VERSION}" runc \
        github.com/opencontainers/runc ;;
    cni-plugins-*) step "$c" build_wrapped "github.com/containernetworking/plugins@${CNI_PLUGINS_VERSION}" cni \
        github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/main/loopback \
        github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/meta/portmap ;;
    kubelet-*) step "$c" build_kubelet ;;
    kube-router-*) step "$c" build_wrapped "github.com/cloudnativelabs/kube-router/v2@${KUBE_ROUTER_VERSION}" kube-router \
        github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;
  esac
  have "$c" || die "$c: binaries missing after the build (${COMPONENT[$c]})"
done

link_all
note_node
echo "testenv: built ${todo[*]} in $(( $(date +%s) - start ))s into $CACHE/testenv (linked in $BIN; $(du -sh "$CACHE" | cut -f1) cache in $CACHE)"
