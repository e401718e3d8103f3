#!/usr/bin/env bash
# Quick start, command 1: set up, then run the examples end to end on the embedded
# defaults (local runner, SQLite under ASSAY_HOME) and print the results.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
set +e  # setup.sh runs with -e; the demo checks exit codes itself
export ASSAY_HOME="${ASSAY_HOME:-$ROOT/.assay-home}"
cd "$ROOT/examples"

echo; echo "== validate the example definitions"
assay validate -f workflows/ || exit $?

echo; echo "== run the passing workflow (expect exit 0)"
assay run -f workflows/calculator.yaml calculator-tests --source calculator --tag branch=main --watch
pass_code=$?
echo "exit code: $pass_code"

echo; echo "== run the workflow that shows a failure (expect exit 1)"
assay run -f workflows/calculator.yaml calculator-with-known-bug --source calculator --watch
fail_code=$?
echo "exit code: $fail_code"

echo; echo "== history"
assay get executions --limit 5
last=$(assay get executions --workflow calculator-with-known-bug --limit 1 -o json \
  | python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo; echo "== test cases of the failing execution"
assay get testcases "$last"

if [ "$pass_code" -eq 0 ] && [ "$fail_code" -eq 1 ]; then
  echo; echo "demo: OK (passing workflow exit 0, failing workflow exit 1)"
  exit 0
fi
echo "demo: unexpected exit codes ($pass_code, $fail_code)" >&2
exit 1
