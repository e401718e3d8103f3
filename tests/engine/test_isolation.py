"""Secrets, the per-execution virtualenv, JUnit collection, abort."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from engine_support import RunWorkflow, workflow

from assay.engine.execution import Engine, RunOptions
from assay.settings import Settings
from assay.store import Database, ExecutionStore, SecretStore
from support import make_wheel, write_files

SECRET = "s3cr3t-value-42"


def test_secrets_resolve_and_never_reach_logs_or_store(
    run: RunWorkflow, assay_home: Settings, db: Database
) -> None:
    SecretStore(assay_home.secrets_dir).set("backend", {"api-key": SECRET})
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: secretive}
spec:
  config:
    password: {type: string, default: hunter2-pass, sensitive: true}
  container:
    env:
      - name: API_KEY
        valueFrom: {secretKeyRef: {name: backend, key: api-key}}
  steps:
    - shell: |
        echo "key is $API_KEY"
        test "$API_KEY" = "s3cr3t-value-42"
        echo "password {{ config.password }}"
"""
    )
    assert row.status == "passed"
    log = (assay_home.executions_dir / row.id / "log.txt").read_text()
    assert "key is ***" in log and SECRET not in log
    assert "hunter2-pass" not in log
    assert row.config == {"password": "***"}
    db.close()
    dump = b"".join(p.read_bytes() for p in assay_home.home.glob("assay.db*")).decode("latin-1")
    assert SECRET not in dump and "hunter2-pass" not in dump
    secret_file = assay_home.secrets_dir / "backend.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600


def test_missing_secret_is_an_error_naming_it(run: RunWorkflow, db: Database) -> None:
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: no-secret}
spec:
  steps:
    - run:
        env: [{name: X, valueFrom: {secretKeyRef: {name: nothere, key: k}}}]
        shell: "true"
"""
    )
    assert row.status == "error"
    assert (
        row.error is not None and "nothere" in row.error and "ASSAY_SECRET_NOTHERE__K" in row.error
    )


def test_pip_installs_land_in_the_execution_venv(run: RunWorkflow, tmp_path: Path) -> None:
    pkg = make_wheel(tmp_path, "assay-probe-pkg", "1.0", "VALUE = 1\n")
    marker = tmp_path / "where.txt"
    row = run(
        f"""
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: installs}}
spec:
  steps:
    - shell: |
        pip install -q --no-deps --no-index {pkg}
        python -c "import assay_probe_pkg, sys, pytest; print(assay_probe_pkg.__file__)" > {marker}
"""
    )
    assert row.status == "passed", row.error
    location = marker.read_text()
    assert "/work/" in location or "/assay-home/work/" in location
    assert f"/{row.id}/venv/" in location
    host = subprocess.run([sys.executable, "-c", "import assay_probe_pkg"], capture_output=True)
    assert host.returncode != 0, "the package leaked into the host environment"


def test_pytest_report_is_collected_per_attempt(
    run: RunWorkflow, db: Database, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "test_a.py").write_text(
        "import os\n"
        "def test_ok():\n    pass\n"
        "def test_bad():\n    assert os.environ.get('FIXED') == '1', 'not fixed'\n"
    )
    row = run(
        f"""
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: reports}}
spec:
  container: {{workingDir: {project}}}
  steps:
    - name: tests
      retry: {{count: 1}}
      shell: python -m pytest -q -p no:cacheprovider
"""
    )
    cases = ExecutionStore(db).test_cases(row.id)
    assert row.status == "failed"
    assert row.summary == {
        "tests": 2,
        "passed": 1,
        "failed": 1,
        "skipped": 0,
        "errored": 0,
        "flaky": 0,
        "quarantined": 0,
    }
    assert sorted((c.name, c.attempt, c.status) for c in cases) == [
        ("test_bad", 1, "failed"),
        ("test_bad", 2, "failed"),
        ("test_ok", 1, "passed"),
        ("test_ok", 2, "passed"),
    ]
    assert any("not fixed" in (c.message or "") for c in cases)


def test_cancel_aborts_and_kills(
    assay_home: Settings, db: Database, engine: Engine, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    wf = workflow(
        f"""
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: abortable}}
spec:
  steps:
    - shell: echo $$ > {pidfile}; sleep 60
    - shell: "true"
"""
    )
    threading.Thread(target=lambda: (time.sleep(1.0), engine.cancel()), daemon=True).start()
    row = engine.run(wf, RunOptions())
    assert row.status == "aborted"
    pid = int(pidfile.read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    steps = ExecutionStore(db).steps(row.id)
    assert [s.status for s in steps] == ["aborted", "aborted"]


FLAKY_PROJECT = {
    "test_mix.py": (
        "from pathlib import Path\n\n"
        "COUNTER = Path(__file__).with_name('runs.txt')\n\n"
        "def test_stable():\n    pass\n\n"
        "def test_flaky():\n"
        "    runs = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1\n"
        "    COUNTER.write_text(str(runs))\n"
        "    assert runs % 2 == 0, f'odd run {runs}'\n"
    )
}


def _flaky_workflow(project: Path, scope: str) -> str:
    return f"""
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: retry-{scope}}}
spec:
  container: {{workingDir: {project}}}
  steps:
    - name: tests
      retry: {{count: 2, scope: {scope}}}
      shell: python -m pytest -q -p no:cacheprovider
"""


def test_retry_failed_tests_only_reruns_the_failures(
    run: RunWorkflow, db: Database, tmp_path: Path
) -> None:
    project = tmp_path / "flaky"
    write_files(project, FLAKY_PROJECT)
    row = run(_flaky_workflow(project, "failed-tests"))
    cases = ExecutionStore(db).test_cases(row.id)
    assert row.status == "passed"
    assert sorted((c.name, c.attempt, c.status) for c in cases) == [
        ("test_flaky", 1, "failed"),
        ("test_flaky", 2, "passed"),
        ("test_stable", 1, "passed"),
    ]
    assert row.summary["flaky"] == 1 and row.summary["passed"] == 2 and row.summary["failed"] == 0
    assert (project / "runs.txt").read_text() == "2"


def test_retry_step_scope_reruns_everything(run: RunWorkflow, db: Database, tmp_path: Path) -> None:
    project = tmp_path / "flaky"
    write_files(project, FLAKY_PROJECT)
    row = run(_flaky_workflow(project, "step"))
    names = sorted((c.name, c.attempt) for c in ExecutionStore(db).test_cases(row.id))
    assert names == [("test_flaky", 1), ("test_flaky", 2), ("test_stable", 1), ("test_stable", 2)]
    assert row.summary["flaky"] == 1
