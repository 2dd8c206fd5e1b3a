#!/usr/bin/env bash
# Checks (and, as root on Debian/Ubuntu, installs) what the real node and `make image` need beyond Go:
# the machine itself (Linux, root, overlayfs, cgroups) and a few Debian packages. Usage:
#   hack/node-deps.sh           install missing packages with apt-get; fail with one message naming the gap
#   hack/node-deps.sh --check   only report; exit 1 with the reason when the real node cannot run here
set -euo pipefail

PACKAGES=(buildah mmdebstrap umoci libseccomp-dev pkg-config gcc libc6-dev iptables iproute2 ipset)
# what each package provides, to test without dpkg on non-Debian machines
declare -A PROBE=([buildah]=buildah [mmdebstrap]=mmdebstrap [umoci]=umoci [pkg-config]=pkg-config
                  [gcc]=gcc [iptables]=iptables [iproute2]=ip [ipset]=ipset)

die() { echo "node-deps: $*" >&2; exit 1; }

machine_gap() { # prints why a real node cannot run on this machine, or nothing
  [[ $(uname -s) == Linux ]] || { echo "not Linux ($(uname -s)): containerd and the kubelet need Linux"; return; }
  [[ $(id -u) == 0 ]] || { echo "not root: containerd, runc and the kubelet need root (run as root, e.g. in CI)"; return; }
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || {
    echo "no overlayfs in this kernel (/proc/filesystems): containerd's snapshotter needs it"; return; }
  [[ -d /sys/fs/cgroup ]] || { echo "no /sys/fs/cgroup: the kubelet needs cgroups"; return; }
}

missing_packages() {
  local p out=()
  for p in "${PACKAGES[@]}"; do
    if [[ -n ${PROBE[$p]:-} ]]; then command -v "${PROBE[$p]}" >/dev/null && continue
    elif [[ $p == libseccomp-dev ]]; then pkg-config --exists libseccomp 2>/dev/null && continue
    elif [[ $p == libc6-dev ]]; then [[ -e /usr/include/stdio.h ]] && continue
    fi
    out+=("$p")
  done
  echo "${out[*]:-}"
}

gap=$(machine_gap)
[[ -z $gap ]] || die "the real node cannot run here: $gap"
missing=$(missing_packages)
if [[ ${1:-} == --check ]]; then
  [[ -z $missing ]] || die "missing Debian packages: $missing (install them with 'make node-deps')"
  exit 0
fi
[[ -z $missing ]] && { echo "node-deps: all present"; exit 0; }
command -v apt-get >/dev/null || die "missing packages: $missing; this is not a Debian/Ubuntu machine, install them yourself"
echo "node-deps: apt-get install $missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # a list of package names
apt-get install -y --no-install-recommends $missing >/tmp/scoutly-node-deps.log 2>&1 \
  || { apt-get update >>/tmp/scoutly-node-deps.log 2>&1 && apt-get install -y --no-install-recommends $missing >>/tmp/scoutly-node-deps.log 2>&1; } \
  || { tail -20 /tmp/scoutly-node-deps.log >&2; die "apt-get install $missing failed (log above)"; }
missing=$(missing_packages)
[[ -z $missing ]] || die "still missing after apt-get: $missing"
echo "node-deps: installed"
