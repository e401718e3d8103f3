#!/usr/bin/env bash
# The image the Docker runner's tests run in: Debian bookworm (minbase) with Python 3 and
# pytest, built from Debian's own packages (debootstrap + `docker import`; no image registry,
# never a pull). Prints the image's tag on stdout; progress goes to stderr.
#
# Cached twice, keyed by a hash of the recipe below (change the recipe -> a new image):
#   - in the daemon, as assay-test-python:<hash>;
#   - as a rootfs tarball, .cache/images/<hash>.tar, imported when the daemon lacks the image.
# Only when both are missing does debootstrap run (as root, about 3-4 minutes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/images"

SUITE=bookworm
VARIANT=minbase
INCLUDE=python3,python3-pytest
MIRROR="${ASSAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CHANGES=(
  "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "ENV LANG=C.UTF-8"
  'CMD ["/bin/sh"]'
)
recipe="$SUITE|$VARIANT|$INCLUDE|$(printf '%s|' "${CHANGES[@]}")|v1"
hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
tag="assay-test-python:$hash"
tarball="$CACHE/$hash.tar"

log() { echo "test-image: $*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # parallel test workers: one builds, the others wait and find it
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
if [ ! -s "$tarball" ]; then
  if [ "$(id -u)" != "0" ] || ! command -v debootstrap >/dev/null 2>&1; then
    log "building $tag needs root and debootstrap (./scripts/setup.sh --with-services)"
    exit 3
  fi
  build="$(mktemp -d "$CACHE/build-$hash.XXXXXX")"
  trap 'rm -rf "$build"' EXIT
  log "debootstrap $SUITE ($VARIANT, $INCLUDE) -> $tarball (a few minutes, once)"
  debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$build/rootfs" "$MIRROR" \
    >"$CACHE/debootstrap-$hash.log" 2>&1 || {
    log "debootstrap failed; see $CACHE/debootstrap-$hash.log"
    exit 3
  }
  rm -rf "$build"/rootfs/var/cache/apt/archives/*.deb "$build"/rootfs/var/lib/apt/lists/*
  tar -C "$build/rootfs" --numeric-owner -cf "$build/rootfs.tar" .
  mv "$build/rootfs.tar" "$tarball"
fi
args=()
for change in "${CHANGES[@]}"; do args+=(--change "$change"); done
log "importing $tarball as $tag"
docker import "${args[@]}" "$tarball" "$tag" >/dev/null
echo "$tag"
