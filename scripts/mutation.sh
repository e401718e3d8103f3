#!/usr/bin/env bash
# Mutation testing (cosmic-ray) of the modules where a bug costs users most; see
# docs/testing.md for the scores and the reason each surviving mutant is acceptable.
# Not part of CI (CPU heavy): run it by hand after changing one of these modules.
#
#   scripts/mutation.sh                  every target in the table below
#   scripts/mutation.sh masking gates    some targets by name
#   scripts/mutation.sh 'src/assay/x.py:func,Class.method=tests/test_x.py -k fast'
#                                        an ad-hoc target: FILE[:SYMBOLS]=PYTEST ARGS
#   scripts/mutation.sh --list           the targets
#   scripts/mutation.sh --recheck masking
#                                        after adding tests: run the survivors of the last
#                                        run again, against the current tests
#
# Each target mutates one file (only the lines of SYMBOLS when given: functions,
# Class.method or module-level constants) in a private copy of src/ and tests/ under
# $ASSAY_MUTATION_DIR (default .cache/mutation), and runs its own test files with `-x -n 0`
# for each mutant, one mutant at a time. Results: <dir>/<target>/survivors.txt and the
# summary printed at the end. Exits 1 when a mutant survived, 0 when all were killed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${ASSAY_MUTATION_DIR:-$ROOT/.cache/mutation}"
CONFORMANCE="${ASSAY_TEST_CONFORMANCE_DIR:-$(dirname "$ROOT")/shared/conformance}"
COSMIC_RAY="cosmic-ray==8.7.0"

# name | file[:symbols] | pytest arguments (the tests that should kill its mutants)
TARGETS="
masking|src/assay/engine/masking.py|tests/engine/test_masking.py tests/engine/test_masking_and_globs.py tests/cli/test_secret_masking.py
quarantine-forgive|src/assay/engine/steps.py:StepWalker._forgive_quarantined|tests/engine/test_quarantine_forgiveness.py
quarantine-case|src/assay/model.py:TestCaseResult.apply_quarantine,Summary.add|tests/results/test_junit.py tests/engine/test_quarantine_forgiveness.py
quarantine-store|src/assay/store/quarantine.py|tests/analytics/test_quarantine_store.py tests/store/test_test_cases.py -k 'quarantine and not postgresql'
gates|src/assay/ci/gates.py|tests/ci/test_gates.py
flaky|src/assay/analytics/flaky.py|tests/analytics/test_flaky_rules.py -k 'not postgresql'
junit-summary|src/assay/results/junit.py:summarize|tests/results/test_junit.py
junit-status|src/assay/results/dialects.py:_RESULTS,_RERUNS,_NOT_RUN,_RowBuilder.rows|tests/results/test_junit.py
junit-target|src/assay/results/target.py:_Collector._child_start|tests/results/test_junit.py
artifacts|src/assay/engine/artifacts.py:ArtifactFinder,store_masked|tests/engine/test_masking_and_globs.py tests/cli/test_confinement.py -k 'globs or artifact'
reconciler|src/assay/engine/recovery.py:Reconciler|tests/store/test_recovery.py tests/cli/test_crash_recovery.py tests/cli/test_docker_crash.py -k 'not postgresql and not opening_a_new_store and (test_recovery or kill_9)'
processes|src/assay/processes.py|tests/store/test_recovery.py -k 'not postgresql and not opening_a_new_store'
"

# Binary operators swapped for bitwise/shift/power ones are left out: on the ints and
# floats of these modules they are killed by any test touching the line, and they would
# triple the run time.
EXCLUDED_OPERATORS='core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift|Pow)$'

if [ "${1:-}" = "--list" ]; then
  echo "$TARGETS" | sed '/^$/d' | column -t -s '|'
  exit 0
fi

recheck=0
if [ "${1:-}" = "--recheck" ]; then recheck=1; shift; fi

# A mutant of the code that finds and stops processes (processes.py, engine/recovery.py)
# can signal every process it can see: cosmic-ray runs as the init of a private PID
# namespace (with its own /proc), so a mutant sees and stops only that run's processes.
sandbox=(unshare --pid --fork --mount-proc)
[ "$(id -u)" = 0 ] || sandbox=(unshare --user --map-root-user --pid --fork --mount-proc)
if [ "${1:-}" != "--list" ] && ! "${sandbox[@]}" true 2>/dev/null; then
  echo "mutation: cannot make a private PID namespace (unshare); not running mutants unconfined" >&2
  exit 3
fi

source "$ROOT/.venv/bin/activate"
python -c 'import cosmic_ray' 2>/dev/null || python -m pip install -q "$COSMIC_RAY"

selected=()
if [ $# -eq 0 ]; then
  while IFS= read -r line; do [ -n "$line" ] && selected+=("$line"); done <<<"$TARGETS"
else
  for arg in "$@"; do
    if [[ "$arg" == *=* ]]; then
      spec="${arg%%=*}"; name="$(basename "${spec%%:*}" .py)"
      selected+=("$name|$spec|${arg#*=}")
    else
      line="$(echo "$TARGETS" | grep "^$arg|" || true)"
      [ -n "$line" ] || { echo "mutation: no target named $arg (see --list)" >&2; exit 2; }
      selected+=("$line")
    fi
  done
fi

mkdir -p "$WORK"
status=0
scores=()
for entry in "${selected[@]}"; do
  IFS='|' read -r name spec tests <<<"$entry"
  file="${spec%%:*}"
  symbols=""; [[ "$spec" == *:* ]] && symbols="${spec#*:}"
  dir="$WORK/$name"
  copy="$dir/repo"
  echo "== $name: $spec"
  if [ "$recheck" = 1 ]; then
    [ -f "$dir/session.sqlite" ] || { echo "mutation: $name has no previous run" >&2; exit 2; }
    # an interrupted run leaves its last mutant written in the copy
    cmp -s "$copy/$file" "$ROOT/$file" || {
      echo "mutation: $copy/$file differs from $file (changed since, or a run was interrupted): run $name again" >&2
      exit 2
    }
    cp "$dir/survivors.txt" "$dir/survivors-before-recheck.txt"
    rm -rf "$copy/tests"
    (cd "$ROOT" && tar --exclude=__pycache__ -cf - tests) | tar -xf - -C "$copy"
    python - "$dir/session.sqlite" <<'PY'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as db:
    db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
PY
    # the new tests must pass on the unmutated file, or every mutant would look killed
    (cd "$copy" && PYTHONPATH="$copy/src" cosmic-ray baseline "$dir/config.toml") >"$dir/baseline.txt" 2>&1 || {
      echo "mutation: the tests of $name fail without any mutant (see $dir/baseline.txt)" >&2
      exit 3
    }
  else
    rm -rf "$dir"; mkdir -p "$dir"
    # A private copy: mutants are written into files, and must never touch the worktree.
    mkdir -p "$copy"
    (cd "$ROOT" && tar --exclude=__pycache__ -cf - src tests scripts pyproject.toml) | tar -xf - -C "$copy"
  fi
  [ "$recheck" = 1 ] || python - "$copy" "$file" "$symbols" "$tests" "$dir/config.toml" "$EXCLUDED_OPERATORS" <<'PY'
import ast, json, sys
copy, file, symbols, tests, config, excluded = sys.argv[1:]
source = (__import__("pathlib").Path(copy) / file).read_text(encoding="utf-8")
tree = ast.parse(source)

def find(path):
    nodes, found = tree.body, None
    for part in path.split("."):
        found = None
        for node in nodes:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            if part in names:
                found = node
                break
        if found is None:
            sys.exit(f"mutation: no {path!r} in {file}")
        nodes = getattr(found, "body", [])
    return f"{found.lineno}-{found.end_lineno}"

ranges = [find(s) for s in symbols.split(",") if s]
q = json.dumps  # a JSON string is a TOML basic string
lines = [
    "[cosmic-ray]",
    f"module-path = {q(file)}",
    "timeout = 120.0",
    "excluded-modules = []",
    f"test-command = {q('python -m pytest -x -q -n 0 -p no:cacheprovider ' + tests)}",
    "",
    "[cosmic-ray.distributor]",
    'name = "local"',
    "",
    "[cosmic-ray.filters.operators-filter]",
    f"exclude-operators = [{q(excluded)}]",
]
if ranges:
    lines += ["", "[cosmic-ray.filters.line-filter.lines]", f"{q(file)} = {json.dumps(ranges)}"]
__import__("pathlib").Path(config).write_text("\n".join(lines) + "\n", encoding="utf-8")
PY
  (
    cd "$copy"
    export PYTHONPATH="$copy/src" PYTHONDONTWRITEBYTECODE=1 ASSAY_TEST_CONFORMANCE_DIR="$CONFORMANCE"
    unset PYTEST_ADDOPTS
    if [ "$recheck" = 0 ]; then
      cosmic-ray init "$dir/config.toml" "$dir/session.sqlite"
      cr-filter-operators "$dir/session.sqlite" "$dir/config.toml"
      [ -z "$symbols" ] || cr-filter-lines --config "$dir/config.toml" "$dir/session.sqlite"
      python - "$dir/session.sqlite" "$file" <<'PY'
# Type annotations are never evaluated (`from __future__ import annotations` everywhere):
# a mutant inside one is equivalent by construction, so it is skipped, not counted.
import ast, sys
from pathlib import Path
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult
session, file = sys.argv[1:]
tree = ast.parse(Path(file).read_text(encoding="utf-8"))
spans = []
for node in ast.walk(tree):
    for note in (getattr(node, "annotation", None), getattr(node, "returns", None)):
        if isinstance(note, ast.expr):
            spans.append(((note.lineno, note.col_offset), (note.end_lineno, note.end_col_offset)))
with use_db(session, WorkDB.Mode.open) as db:
    skipped = [
        item.job_id
        for item in db.pending_work_items
        if all(
            any(a <= tuple(m.start_pos) and tuple(m.end_pos) <= b for a, b in spans)
            for m in item.mutations
        )
    ]
    if skipped:
        db.set_multiple_results(
            skipped,
            WorkResult(output="in a type annotation", worker_outcome=WorkerOutcome.SKIPPED),
        )
PY
      if ! cosmic-ray baseline "$dir/config.toml" >"$dir/baseline.txt" 2>&1; then
        echo "mutation: the tests of $name fail without any mutant (see $dir/baseline.txt)" >&2
        exit 3
      fi
    fi
    "${sandbox[@]}" cosmic-ray exec "$dir/config.toml" "$dir/session.sqlite"
  )
  python - "$dir/session.sqlite" "$name" "$dir/survivors.txt" >"$dir/score.txt" <<'PY'
import sys
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome
session, name, out = sys.argv[1:]
killed = survived = incompetent = 0
lines = []
with use_db(session, WorkDB.Mode.open) as db:
    for item, result in db.completed_work_items:
        if result.worker_outcome == WorkerOutcome.SKIPPED:
            continue
        if result.worker_outcome != WorkerOutcome.NORMAL:
            incompetent += 1  # the mutant could not even be imported or run: killed
        elif result.test_outcome == TestOutcome.SURVIVED:
            survived += 1
            m = item.mutations[0]
            lines.append(f"--- {item.job_id} {m.operator_name} line {m.start_pos[0]}\n{result.diff}")
        else:
            killed += 1
total = killed + survived + incompetent
score = 100.0 * (killed + incompetent) / total if total else 100.0
open(out, "w", encoding="utf-8").write("\n".join(lines))
print(f"{name:20} mutants {total:4}  killed {killed + incompetent:4}  survived {survived:3}  score {score:5.1f}%")
PY
  cat "$dir/score.txt"
  scores+=("$dir/score.txt")
  if [ -s "$dir/survivors.txt" ]; then
    status=1
    echo "   survivors: $dir/survivors.txt"
  fi
done
echo "== mutation scores"
cat "${scores[@]}"
exit "$status"
