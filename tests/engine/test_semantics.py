"""Step semantics against real processes: conditions, timeouts, retries, optional, negative."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import RunWorkflow, workflow

from assay.engine.execution import Engine
from assay.errors import DefinitionError
from assay.store import Database, ExecutionStore

MIXED = """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: semantics}
spec:
  config:
    greeting: {type: string, default: hello}
    attempts_file: {type: string}
  steps:
    - name: greet
      shell: 'echo "{{ config.greeting }} from {{ workflow.name }} #{{ execution.number }}"'
    - name: flaky
      retry: {count: 2}
      shell: |
        n=$(cat "{{ config.attempts_file }}" 2>/dev/null || echo 0)
        n=$((n+1)); echo $n > "{{ config.attempts_file }}"
        test $n -ge 3
    - name: optional-failure
      optional: true
      shell: exit 7
    - name: expected-to-fail
      negative: true
      shell: exit 1
    - name: slow
      timeout: 1s
      shell: sleep 30
    - name: skipped-after-failure
      shell: echo never
  after:
    - name: cleanup
      condition: always
      shell: echo cleaning up
    - name: only-on-success
      shell: echo not printed
"""


def test_documented_semantics(run: RunWorkflow, db: Database, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    row = run(MIXED, config={"greeting": "hi", "attempts_file": str(counter)})
    steps = {s.name: s for s in ExecutionStore(db).steps(row.id)}
    assert row.status == "timeout"
    assert steps["greet"].status == "passed"
    assert steps["flaky"].status == "passed" and steps["flaky"].attempts == 3
    assert counter.read_text().strip() == "3"
    assert steps["optional-failure"].status == "failed"
    assert steps["optional-failure"].exit_code == 7
    assert steps["expected-to-fail"].status == "passed"
    assert steps["slow"].status == "timeout"
    assert steps["skipped-after-failure"].status == "skipped"
    assert steps["cleanup"].status == "passed"
    assert steps["only-on-success"].status == "skipped"
    log = Path(db.url.removeprefix("sqlite:///")).parent / "executions" / row.id / "log.txt"
    text = log.read_text()
    assert "hi from semantics #1" in text
    assert "cleaning up" in text and "not printed" not in text


def test_optional_failure_alone_keeps_execution_passed(run: RunWorkflow) -> None:
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: optional-only}
spec:
  steps:
    - {name: may-fail, optional: true, shell: "false"}
    - {name: main, shell: "true"}
"""
    )
    assert row.status == "passed"


def test_failed_step_fails_execution_and_failed_condition_runs(
    run: RunWorkflow, db: Database
) -> None:
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: on-failure}
spec:
  steps:
    - {name: broken, shell: "echo bad; exit 2"}
    - {name: diagnose, condition: failed, shell: "echo diagnosing"}
    - {name: expression, condition: "config.x == 'y' || failed", shell: "true"}
  config:
    x: {type: string, default: "z"}
"""
    )
    steps = {s.name: s for s in ExecutionStore(db).steps(row.id)}
    assert row.status == "failed"
    assert steps["broken"].exit_code == 2
    assert steps["diagnose"].status == "passed"
    assert steps["expression"].status == "passed"


def test_job_deadline_times_out_execution(run: RunWorkflow, db: Database) -> None:
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: deadline}
spec:
  job: {activeDeadlineSeconds: 1}
  steps:
    - {name: long, shell: "sleep 20"}
    - {name: later, shell: "true"}
"""
    )
    steps = {s.name: s.status for s in ExecutionStore(db).steps(row.id)}
    assert row.status == "timeout"
    assert steps == {"long": "timeout", "later": "skipped"}


def test_nested_steps_and_shell_set_e(run: RunWorkflow, db: Database) -> None:
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: nested}
spec:
  steps:
    - name: group
      steps:
        - {name: inner-ok, shell: "true"}
        - name: inner-fails-early
          shell: |
            false
            echo should-not-print
"""
    )
    steps = {s.name: s for s in ExecutionStore(db).steps(row.id)}
    assert row.status == "failed"
    assert steps["group"].status == "failed"
    assert steps["inner-fails-early"].status == "failed"
    assert steps["inner-ok"].ref.startswith(steps["group"].ref + ".")


def test_bad_config_is_rejected_before_anything_is_stored(engine: Engine, db: Database) -> None:

    wf = workflow(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: typed}
spec:
  config:
    count: {type: integer, default: 1}
    mode: {type: string, default: a, enum: [a, b]}
  steps: [{shell: "true"}]
"""
    )
    from assay.engine.execution import RunOptions

    for bad in ({"count": "many"}, {"mode": "c"}, {"unknown": "1"}):
        with pytest.raises(DefinitionError):
            engine.run(wf, RunOptions(config=bad))
    assert ExecutionStore(db).recent() == []
