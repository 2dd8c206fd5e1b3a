#!/usr/bin/env bash
# Builds the project's Dockerfile without Docker: buildah (chroot isolation, vfs storage) on a local
# python base made from Debian packages by mmdebstrap, then writes an OCI archive that the real node's
# containerd imports (scoutly.testing.node). Usage: hack/image.sh [--print-archive]
#
#   IMG                  image name (default localhost/scoutly-operator:dev)
#   SCOUTLY_CACHE_DIR    cache root (default ~/.cache/scoutly); the archive is image/<name>.oci.tar there
#   SCOUTLY_NODE_DIR     a running real node's directory (scoutly dev up --real-node): import into it too
#   DOCKERFILE           the Dockerfile (default: the project's; the context is always the project root)
set -euo pipefail
IMG=${IMG:-localhost/scoutly-operator:dev}
[[ $IMG == */* ]] || IMG="localhost/$IMG"   # containerd would read a bare name as docker.io/library/...
CACHE=${SCOUTLY_CACHE_DIR:-$HOME/.cache/scoutly}
DIR="$CACHE/image"
ARCHIVE="$DIR/$(echo "${IMG##*/}" | tr ':' '_').oci.tar"
if [[ ${1:-} == --print-archive ]]; then echo "$ARCHIVE"; exit 0; fi
# bookworm's Python is 3.11: the base stands in for python:3.11-slim-bookworm
BASE=docker.io/library/python:3.11-slim-bookworm
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "image: $*" >&2; exit 1; }

bash "$ROOT/hack/node-deps.sh" --check >/dev/null 2>&1 || bash "$ROOT/hack/node-deps.sh" \
  || die "buildah and mmdebstrap are needed (above); 'make docker-build' builds the same Dockerfile with Docker"
# a storage of the project's own, so pruning it touches nothing else on the machine; overlay shares
# unchanged files between layers (vfs copies the whole root file system per step: 4x slower here)
DRIVER=${SCOUTLY_BUILDAH_DRIVER:-overlay}
B=(buildah --root "$DIR/storage-$DRIVER" --runroot "$DIR/run-$DRIVER" --storage-driver "$DRIVER")
mkdir -p "$DIR"
start=$(date +%s)

if ! "${B[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  echo "image: making $BASE from Debian packages (mmdebstrap, once) ..."
  # python on PATH and pip usable like the official image; no docs, man pages or apt lists
  mmdebstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='ln -sf python3 "$1/usr/bin/python"; ln -sf pip3 "$1/usr/bin/pip"; rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$DIR/pybase.tar" >"$DIR/mmdebstrap.log" 2>&1 || { tail -20 "$DIR/mmdebstrap.log" >&2; die "mmdebstrap failed (log above)"; }
  c=$("${B[@]}" from scratch)
  m=$("${B[@]}" mount "$c")
  tar -C "$m" -xf "$DIR/pybase.tar"
  "${B[@]}" umount "$c" >/dev/null
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd python3 "$c"
  "${B[@]}" commit --quiet --rm "$c" "$BASE" >/dev/null
  rm -f "$DIR/pybase.tar"
fi

echo "image: buildah bud -t $IMG (Dockerfile unchanged) ..."
# RUN steps reach the package registries with the host's CA bundle: behind a TLS-intercepting proxy
# only the host trusts its CA
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
"${B[@]}" bud --quiet --pull-never --network host --isolation chroot --layers \
  --volume "$ca:/etc/ssl/certs/ca-certificates.crt:ro" \
  --build-arg PYTHON_VERSION=3.11 --build-arg REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  -t "$IMG" -f "${DOCKERFILE:-$ROOT/Dockerfile}" "$ROOT" >"$DIR/build.log" 2>&1 || { tail -30 "$DIR/build.log" >&2; die "buildah bud failed (log above)"; }
built=$(date +%s)
rm -f "$ARCHIVE.tmp"
"${B[@]}" push --quiet "$IMG" "oci-archive:$ARCHIVE.tmp:$IMG" && mv "$ARCHIVE.tmp" "$ARCHIVE"
# drop what no tag refers to (older builds of $IMG), or the storage grows with every build
"${B[@]}" rmi --prune >/dev/null 2>&1 || true
size=$("${B[@]}" images --format '{{.Size}}' "$IMG" 2>/dev/null | head -1)
echo "image: $IMG built in $((built - start))s, ${size:-?} unpacked; archive $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)) after $(( $(date +%s) - start ))s"

if [[ -n ${SCOUTLY_NODE_DIR:-} ]]; then
  sock="$SCOUTLY_NODE_DIR/containerd/containerd.sock"
  [[ -S $sock ]] || die "SCOUTLY_NODE_DIR=$SCOUTLY_NODE_DIR has no running containerd ($sock)"
  ctr=$(bash "$ROOT/hack/testenv.sh" --print-dir)/ctr
  "$ctr" -a "$sock" -n k8s.io images import --all-platforms "$ARCHIVE" >/dev/null
  echo "image: imported into the node's containerd ($sock)"
fi
