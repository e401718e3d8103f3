#!/usr/bin/env bash
# Build the server image (Dockerfile) with no registry: the base is the local Debian image of
# scripts/test-image.sh, the Python packages a wheelhouse made here with `pip wheel`. Prints
# the image's tag on stdout; progress goes to stderr. Usage: scripts/server-image.sh [TAG]
#
# Cached by a hash of the Dockerfile, pyproject.toml, src/ and the base image: an unchanged
# tree reuses the image (in the daemon) and its wheelhouse (.cache/server-image/<hash>/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
log() { echo "server-image: $*" >&2; }

base="$("$ROOT/scripts/test-image.sh")"
hash="$(
  cd "$ROOT"
  {
    echo "$base"
    sha256sum Dockerfile pyproject.toml
    find src -type f \( -name '*.py' -o -name '*.sh' -o -name '*.yaml' -o -name '*.ini' \
      -o -name '*.html' -o -path '*/static/*' -o -name 'py.typed' \) -print0 | sort -z |
      xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)"
tag="${1:-assay-server:$hash}"
if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "${1:-}" ]; then
  echo "$tag"
  exit 0
fi
context="$ROOT/.cache/server-image/$hash"
mkdir -p "$ROOT/.cache/server-image"
exec 9>"$ROOT/.cache/server-image/.lock"
flock 9  # parallel test workers: one builds, the others wait and find it
if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "${1:-}" ]; then
  echo "$tag"
  exit 0
fi
if [ ! -f "$context/.complete" ]; then
  rm -rf "$context"
  mkdir -p "$context/wheels"
  log "wheelhouse of assay and its dependencies -> $context/wheels"
  "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$context/wheels" \
    "$ROOT[postgres]" pip >"$context/pip.log" 2>&1 || {
    log "pip wheel failed; see $context/pip.log"
    exit 3
  }
  cp "$ROOT/Dockerfile" "$context/Dockerfile"
  touch "$context/.complete"
fi
log "docker build $tag (FROM $base)"
docker build --quiet --build-arg "BASE=$base" --tag "$tag" "$context" >"$context/build.log" 2>&1 || {
  log "docker build failed; see $context/build.log"
  exit 3
}
# other trees' images and wheelhouses are not needed again
find "$ROOT/.cache/server-image" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
echo "$tag"
