#!/usr/bin/env bash
# Quick start, command 2: set up (including PostgreSQL when root with apt), then run
# the linters, the type checker and the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" --with-services
cd "$ROOT"
echo "== ruff";  ruff check src tests bench && ruff format --check src tests bench
echo "== mypy";  mypy
echo "== pytest"
workers=$(python -c 'import os; print(max(2, min(4, os.cpu_count() or 2)))')
exec pytest -n "$workers" "$@"
