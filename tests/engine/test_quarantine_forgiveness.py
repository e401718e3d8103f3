"""Quarantine forgives a step only when quarantined tests are its only failures.

A real pytest runs one quarantined test and one other test; environment variables decide
which of them fails or errors. Forgiveness must not reach an *errored* (or failed) test
that is not quarantined, nor a step that timed out or errored: those keep failing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import RunWorkflow

from assay.settings import Settings
from assay.store import Database, ExecutionStore
from assay.store.quarantine import QuarantineStore

TESTS = """\
import os

import pytest


@pytest.fixture
def other_resource():
    if os.environ.get("OTHER") == "error":
        raise RuntimeError("setup of the other test broke")


def test_quarantined():
    if os.environ.get("QUARANTINED") == "error":
        raise RuntimeError("quarantined test errored")
    assert os.environ.get("QUARANTINED") != "fail", "quarantined test failed"


def test_other(other_resource):
    assert os.environ.get("OTHER") != "fail", "other test failed"


def test_plain():
    pass


@pytest.mark.skip(reason="not today")
@pytest.mark.parametrize("n", [1, 2])
def test_skipped(n):
    pass
"""

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: forgiving}}
spec:
  container:
    workingDir: {project}
    env:
      - {{name: QUARANTINED, value: "{quarantined}"}}
      - {{name: OTHER, value: "{other}"}}
  steps:
    - name: group
      steps:
        - name: tests
          shell: {shell}
{extra}"""

PYTEST = "python -m pytest -q -p no:cacheprovider"
SKIPPED = {"test_skipped[1]": "skipped", "test_skipped[2]": "skipped"}
MISSING_SECRET = """\
        - name: broken
          run:
            env: [{name: X, valueFrom: {secretKeyRef: {name: nothere, key: k}}}]
            shell: "true"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "test_forgive.py").write_text(TESTS, encoding="utf-8")
    return folder


def _run(
    run: RunWorkflow,
    project: Path,
    *,
    quarantined: str = "pass",
    other: str = "pass",
    shell: str = PYTEST,
    extra: str = "",
    **options: object,
) -> str:
    text = WORKFLOW.format(
        project=project, quarantined=quarantined, other=other, shell=shell, extra=extra
    )
    return run(text, **options).id


def _quarantine_test_quarantined(run: RunWorkflow, project: Path, db: Database) -> None:
    """A first, passing run stores the tests; then `test_quarantined` is quarantined."""
    first = _run(run, project)
    (case,) = [c for c in ExecutionStore(db).test_cases(first) if c.name == "test_quarantined"]
    QuarantineStore(db).add(case.test_id, reason="known flaky")


def _outcome(db: Database, execution_id: str) -> tuple[str, dict[str, str], dict[str, str]]:
    store = ExecutionStore(db)
    row = store.get(execution_id)
    steps = {step.name: step.status for step in store.steps(execution_id)}
    cases = {case.name: case.status for case in store.test_cases(execution_id)}
    return row.status, steps, cases


@pytest.mark.parametrize("failure", ["fail", "error"])
def test_a_step_failing_only_through_quarantined_tests_passes(
    run: RunWorkflow, project: Path, db: Database, assay_home: Settings, failure: str
) -> None:
    _quarantine_test_quarantined(run, project, db)
    execution = _run(run, project, quarantined=failure)
    status, steps, cases = _outcome(db, execution)
    assert (status, steps) == ("passed", {"group": "passed", "tests": "passed"})
    log = (assay_home.executions_dir / execution / "log.txt").read_text(encoding="utf-8")
    # said once, by the step itself (its group then passed), counting the quarantined test
    # only (not the passed or skipped ones)
    assert log.count("--- only quarantined tests failed (1): step passes ---") == 1, log
    assert cases == {
        "test_quarantined": "quarantined",
        "test_other": "passed",
        "test_plain": "passed",
        **SKIPPED,
    }


@pytest.mark.parametrize(
    ("other", "case_status"), [("fail", "failed"), ("error", "errored")], ids=["failed", "errored"]
)
def test_another_failed_or_errored_test_is_not_forgiven(
    run: RunWorkflow, project: Path, db: Database, other: str, case_status: str
) -> None:
    _quarantine_test_quarantined(run, project, db)
    status, steps, cases = _outcome(db, _run(run, project, quarantined="fail", other=other))
    assert (status, steps) == ("failed", {"group": "failed", "tests": "failed"})
    assert cases == {
        "test_quarantined": "quarantined",
        "test_other": case_status,
        "test_plain": "passed",
        **SKIPPED,
    }


def test_a_step_that_timed_out_is_not_forgiven(
    run: RunWorkflow, project: Path, db: Database
) -> None:
    _quarantine_test_quarantined(run, project, db)
    # the report is complete (only the quarantined test failed), then the step hangs
    # (`||`: the step shell stops at the first failing command); the timeout leaves pytest
    # time to write its report on a loaded machine
    hanging = f'"{PYTEST} || sleep 120"\n          timeout: 25s'
    status, steps, cases = _outcome(db, _run(run, project, quarantined="fail", shell=hanging))
    assert cases == {
        "test_quarantined": "quarantined",
        "test_other": "passed",
        "test_plain": "passed",
        **SKIPPED,
    }
    assert (steps["tests"], steps["group"]) == ("timeout", "timeout")
    assert status == "timeout"


def test_a_group_with_an_errored_step_is_not_forgiven(
    run: RunWorkflow, project: Path, db: Database
) -> None:
    _quarantine_test_quarantined(run, project, db)
    execution = _run(run, project, quarantined="fail", extra=MISSING_SECRET)
    status, steps, cases = _outcome(db, execution)
    assert cases == {
        "test_quarantined": "quarantined",
        "test_other": "passed",
        "test_plain": "passed",
        **SKIPPED,
    }
    assert steps == {"group": "error", "tests": "passed", "broken": "error"}
    assert status == "error"
