"""pytest inside step images on the docker runner: assay's plugin (mounted, loaded by
`-p`) records each attempt's cases, `retry.scope: failed-tests` re-runs only the failures,
and `workingDir` may be any directory of the image."""

from __future__ import annotations

import ast
from pathlib import Path

from engine_support import workflow

import assay.pytest_attempts
from assay import envvars
from assay.engine.execution import Engine, RunOptions
from assay.engine.resolve import Catalog
from assay.runners.docker import DockerRunner
from assay.settings import Settings
from assay.store import Database
from assay.store.executions import ExecutionStore

FLAKY = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: docker-flaky}
spec:
  container: {image: IMAGE}
  content:
    files:
      - path: /data/repo/test_flaky.py
        content: |
          from pathlib import Path

          MARKER = Path("/data/ran-once")

          def test_stable():
              pass

          def test_flaky():
              first = not MARKER.exists()
              MARKER.write_text("x")
              assert not first, "fails on its first run only"
  steps:
    - name: tests
      workingDir: /data/repo
      retry: {count: 2, scope: failed-tests}
      shell: python3 -m pytest -q -p no:cacheprovider
"""

OWN_JUNIT = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: docker-own-junit}
spec:
  container: {image: IMAGE}
  content:
    files:
      - {path: /data/repo/test_one.py, content: "def test_one():\\n    pass\\n"}
  steps:
    - name: tests
      workingDir: /data/repo
      shell: python3 -m pytest -q -p no:cacheprovider --junit-xml=/data/repo/own.xml
      artifacts: {paths: [/data/repo/own.xml]}
"""

IMAGE_DIR = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: docker-image-dir}
spec:
  container: {image: IMAGE}
  steps:
    - name: in-usr-share
      workingDir: /usr/share
      shell: echo "cwd=$(pwd)"
"""


def test_failed_tests_retry_reruns_only_the_failure_in_the_image(
    assay_home: Settings, docker_image: str
) -> None:
    db = Database(assay_home.database_url)
    engine = Engine(assay_home, db, DockerRunner(docker_image, 1.0), Catalog())
    row = engine.run(workflow(FLAKY.replace("IMAGE", docker_image)), RunOptions())
    log = (assay_home.executions_dir / row.id / "log.txt").read_text()
    assert row.status == "passed", log
    cases = ExecutionStore(db).test_cases(row.id)
    assert sorted((c.name, c.attempt, c.status) for c in cases) == [
        ("test_flaky", 1, "failed"),
        ("test_flaky", 2, "passed"),
        ("test_stable", 1, "passed"),
    ]  # attempt 2 ran test_flaky alone: test_stable was deselected
    assert "re-running only the 1 failed test(s)" in log
    assert "1 passed, 1 deselected" in log
    assert row.summary["flaky"] == 1 and row.summary["failed"] == 0
    db.close()


def test_a_collected_own_junit_in_the_image_is_not_counted_twice(
    assay_home: Settings, docker_image: str
) -> None:
    db = Database(assay_home.database_url)
    engine = Engine(assay_home, db, DockerRunner(docker_image, 1.0), Catalog())
    row = engine.run(workflow(OWN_JUNIT.replace("IMAGE", docker_image)), RunOptions())
    log = (assay_home.executions_dir / row.id / "log.txt").read_text()
    assert row.status == "passed", log
    artifacts = assay_home.executions_dir / row.id / "artifacts"
    assert [p.name for p in artifacts.rglob("own.xml")] == ["own.xml"]
    cases = ExecutionStore(db).test_cases(row.id)
    assert [(c.name, c.attempt) for c in cases] == [("test_one", 1)]
    db.close()


def test_working_dir_outside_data_is_the_images(assay_home: Settings, docker_image: str) -> None:
    db = Database(assay_home.database_url)
    engine = Engine(assay_home, db, DockerRunner(docker_image, 1.0), Catalog())
    row = engine.run(workflow(IMAGE_DIR.replace("IMAGE", docker_image)), RunOptions())
    log = (assay_home.executions_dir / row.id / "log.txt").read_text()
    assert row.status == "passed", log
    assert "cwd=/usr/share" in log
    db.close()


def test_the_plugin_is_python_3_8_and_imports_nothing_of_assay() -> None:
    source = Path(assay.pytest_attempts.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not {name for name in imported if name.split(".")[0] == "assay"}
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Match)]
    assert assay.pytest_attempts.REPORT_DIR == envvars.REPORT_DIR
    assert assay.pytest_attempts.RERUN_ONLY == envvars.RERUN_ONLY
    assert assay.pytest_attempts.REPORT_NOTE_SUFFIX == envvars.REPORT_NOTE_SUFFIX
