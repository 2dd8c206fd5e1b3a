#!/usr/bin/env bash
# Builds (or finds) Prometheus and promtool for the alert-rule tests and the real-Prometheus test,
# cached apart from hack/testenv.sh's binaries (its own key: a version bump rebuilds only these).
# Usage: hack/testenv-prometheus.sh [--print-dir]
#
#   SCOUTLY_TESTENV_BIN   a directory that already holds prometheus and promtool: nothing is built
#   SCOUTLY_CACHE_DIR     cache root (default ~/.cache/scoutly)
set -euo pipefail

# Prometheus 3.x is published on the Go module proxy as v0.3xx.y (module github.com/prometheus/prometheus)
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
BINARIES=(prometheus promtool)

die() { echo "testenv-prometheus: $*" >&2; exit 1; }

if [[ -n "${SCOUTLY_TESTENV_BIN:-}" ]]; then
  for b in "${BINARIES[@]}"; do
    [[ -x "$SCOUTLY_TESTENV_BIN/$b" ]] || die "SCOUTLY_TESTENV_BIN=$SCOUTLY_TESTENV_BIN has no executable '$b'"
  done
  [[ "${1:-}" == "--print-dir" ]] && echo "$SCOUTLY_TESTENV_BIN"
  exit 0
fi

CACHE=${SCOUTLY_CACHE_DIR:-$HOME/.cache/scoutly}
BIN="$CACHE/testenv/prometheus-${PROMETHEUS_VERSION}/bin"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN"; exit 0; fi

missing=()
for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "testenv-prometheus: cached in $BIN"; exit 0; fi

command -v go >/dev/null || die "Go is not installed; install Go >= 1.26 or set SCOUTLY_TESTENV_BIN"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
mkdir -p "$BIN"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
echo "testenv-prometheus: building prometheus and promtool ${PROMETHEUS_VERSION} ..."
# Built from a wrapper module (prometheus' own go.mod is not the main module). remove_all_sd drops the
# cloud service discoveries (static and file SD stay): the tests scrape a local address.
# The web UI's assets are not in the module (the HTTP API, which the tests use, is).
(
  cd "$WORK" && go mod init scoutly.local/testenv-prometheus >/dev/null 2>&1 &&
  go get "github.com/prometheus/prometheus@${PROMETHEUS_VERSION}" &&
  go build -trimpath -tags remove_all_sd -ldflags "-s -w" -o "$BIN/" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
) >"$WORK/build.log" 2>&1 || {
  tail -n 30 "$WORK/build.log" >&2
  die "building prometheus failed (log above). Check Go module proxy access (GOPROXY=$(go env GOPROXY)) and disk space"
}
for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || die "$b missing after build"; done
echo "testenv-prometheus: built ${missing[*]} in $(( $(date +%s) - start ))s into $BIN"
