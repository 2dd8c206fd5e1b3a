#!/usr/bin/env bash
# Builds (or finds) every binary the tests and the local environment need, and caches them outside
# the repo keyed by version, so a second run takes seconds. Usage: hack/testenv.sh [--print-dir]
#
#   SCOUTLY_TESTENV_BIN   use binaries you already have (a directory holding all of them); nothing is built
#   SCOUTLY_CACHE_DIR     cache root (default ~/.cache/scoutly)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
FERRETDB_VERSION=${FERRETDB_VERSION:-v1.24.2}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok ferretdb helm)

die() { echo "testenv: $*" >&2; exit 1; }

if [[ -n "${SCOUTLY_TESTENV_BIN:-}" ]]; then
  for b in "${BINARIES[@]}"; do
    [[ -x "$SCOUTLY_TESTENV_BIN/$b" ]] || die "SCOUTLY_TESTENV_BIN=$SCOUTLY_TESTENV_BIN has no executable '$b'; unset it to build, or add the binary"
  done
  [[ "${1:-}" == "--print-dir" ]] && echo "$SCOUTLY_TESTENV_BIN"
  exit 0
fi

CACHE=${SCOUTLY_CACHE_DIR:-$HOME/.cache/scoutly}
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_ferretdb-${FERRETDB_VERSION}_helm-${HELM_VERSION}"
BIN="$CACHE/testenv/$KEY/bin"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN"; exit 0; fi

missing=()
for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "testenv: cached in $BIN"; exit 0; fi

command -v go >/dev/null || die "Go is not installed; install Go >= 1.26 (the Kubernetes ${K8S_VERSION} modules need it) or set SCOUTLY_TESTENV_BIN"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
mkdir -p "$BIN"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

step() { # step <component> <command...>: runs a build step; on failure names the component and shows the log tail
  local name=$1; shift
  echo "testenv: building $name ..."
  if ! "$@" >"$WORK/$name.log" 2>&1; then
    tail -n 30 "$WORK/$name.log" >&2
    die "building $name failed (log above). Check Go module proxy access (GOPROXY=$(go env GOPROXY)) and disk space, then re-run 'make testenv'"
  fi
}

want() { for b in "${missing[@]}"; do [[ $b == "$1" ]] && return 0; done; return 1; }

build_kubernetes() {
  # k8s.io/kubernetes replaces its staging modules with ./staging/...: a wrapper module pins each to
  # the matching published v0.x version so the commands build from the module proxy.
  local d="$WORK/k8s" minor=${K8S_VERSION#v1.} gomod
  minor=${minor%%.*}
  mkdir -p "$d" && cd "$d"
  go mod init scoutly.local/testenv-k8s >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  local staging
  staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | sort -u)
  [[ -n "$staging" ]] || return 1
  go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
  for m in $staging; do go mod edit -replace="$m=$m@v0.${minor}.${K8S_VERSION##*.}"; done
  local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
              k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  go get "${pkgs[@]}"
  local v="${K8S_VERSION}" ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  go build -trimpath -ldflags "-s -w $ld" -o "$BIN/" "${pkgs[@]}"
}

build_wrapped() { # build_wrapped <module@version> <main package> <name>: build a main package from a wrapper module
  local mod=$1 pkg=$2 name=$3 d="$WORK/$3"
  mkdir -p "$d" && cd "$d"
  go mod init "scoutly.local/testenv-$name" >/dev/null 2>&1
  go get "$mod"
  go build -trimpath -ldflags "-s -w" -o "$BIN/$name" "$pkg"
}

build_ferretdb() {
  # FerretDB panics at start unless build/version/version.txt (generated, not in the module zip) holds
  # its version, and it only reads that file when FerretDB is the main module: build from a copy.
  local src="$WORK/ferretdb-src" dir
  dir=$(cd "$WORK" && go mod download -json "github.com/FerretDB/FerretDB@${FERRETDB_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  echo "${FERRETDB_VERSION}" >"$src/build/version/version.txt"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$BIN/ferretdb" ./cmd/ferretdb)
}

if want kube-apiserver || want kube-controller-manager || want kube-scheduler || want kubectl; then
  step kubernetes build_kubernetes
fi
# etcd's own go.mod carries replace directives, so it is built from a wrapper module as well.
want etcd && step etcd build_wrapped "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" go.etcd.io/etcd/server/v3 etcd
want ferretdb && step ferretdb build_ferretdb
want kwok && step kwok build_wrapped "sigs.k8s.io/kwok@${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok kwok
want helm && step helm build_wrapped "helm.sh/helm/v3@${HELM_VERSION}" helm.sh/helm/v3/cmd/helm helm

for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || die "$b missing after build"; done
echo "testenv: built ${missing[*]} in $(( $(date +%s) - start ))s into $BIN ($(du -sh "$CACHE" | cut -f1) cache in $CACHE)"
