#!/usr/bin/env bash
# Quick start, command 2: set up (including PostgreSQL when root with apt), then run
# the linters, the type checker and the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" --with-services
cd "$ROOT"
# Wheels that test fixtures install offline inside executions (seed 000's preRunScript), and
# uv's, which the local stand-in of seed 000's uv image is built with (tests/kube/seed_cluster.py).
wheels="pytest pytest-cov httpx python-dotenv uv"
if [ "$(cat .cache/wheelhouse/.complete 2>/dev/null)" != "$wheels" ]; then
  echo "== preparing .cache/wheelhouse"
  # shellcheck disable=SC2086 # one name per word
  python -m pip download -q --disable-pip-version-check --only-binary=:all: \
    -d .cache/wheelhouse $wheels
  echo "$wheels" >.cache/wheelhouse/.complete
fi
echo "== ruff";  ruff check --no-cache src tests bench && ruff format --check --no-cache src tests bench
echo "== mypy";  mypy
echo "== pytest"
workers="${ASSAY_TEST_WORKERS:-4}"  # mostly waiting on servers, containers and steps: 4 even on 2 cores
exec pytest -n "$workers" "$@"
