"""The CLI starts without loading what only some commands need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import ASSAY

HEAVY = (
    "numpy",
    "httpx",
    "matplotlib",
    "assay.ci",
    "assay.store.test_cases",
    "fastapi",
    "uvicorn",
    "assay.server",
)

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: plain}
spec:
  steps:
  - name: s
    shell: echo hi
"""


def loaded_by(args: list[str], cwd: Path, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a real `assay ARGS` process has imported when it ends."""
    probe = (
        "import json, sys\n"
        "from assay.cli.main import app\n"
        f"sys.argv = ['assay', *{args!r}]\n"
        "try:\n    app()\n"
        "except (SystemExit, Exception):\n    pass\n"
        f"print(json.dumps([m for m in {modules!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, check=True
    )
    return list(json.loads(done.stderr.strip().splitlines()[-1]))


def test_cli_start_up_loads_no_heavy_module() -> None:
    probe = (
        f"import sys, assay.cli.main\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_help_loads_no_store_no_models(tmp_path: Path) -> None:
    heavy = ("sqlalchemy", "pydantic", "yaml", "jinja2", "rich", *HEAVY)
    assert loaded_by(["--help"], tmp_path, heavy) == []


@pytest.mark.parametrize(
    "args",
    [
        ["get", "--help"],
        ["run", "--help"],
        ["trends", "--help"],
        ["server", "--help"],
        ["token", "--help"],
        ["token", "create", "--help"],
    ],
)
def test_command_help_loads_no_store(args: list[str], tmp_path: Path) -> None:
    # typer converts option values with pydantic, so only the store and models are absent
    heavy = ("sqlalchemy", "yaml", "jinja2", "rich", "assay.spec", *HEAVY)
    assert loaded_by(args, tmp_path, heavy) == []


def test_version_loads_no_store(tmp_path: Path) -> None:
    heavy = ("sqlalchemy", "yaml", "jinja2", "rich", "assay.spec", *HEAVY)
    assert loaded_by(["--version"], tmp_path, heavy) == []


@pytest.mark.usefixtures("assay_home")
def test_validate_of_a_plain_workflow_loads_no_store_nor_expressions(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    heavy = ("sqlalchemy", "jinja2", "assay.spec.legacy", "assay.spec.templates", *HEAVY)
    assert loaded_by(["validate", "-f", "wf.yaml"], tmp_path, heavy) == []


@pytest.mark.usefixtures("assay_home")
def test_get_and_logs_load_no_models_nor_numpy(tmp_path: Path) -> None:
    subprocess.run([ASSAY, "get", "executions"], cwd=tmp_path, check=True)  # create the store
    heavy = ("assay.spec", "jinja2", "rich", *HEAVY)
    assert loaded_by(["get", "executions"], tmp_path, heavy) == []
    assert loaded_by(["logs", "nothing-1"], tmp_path, heavy) == []


JUNIT = """\
<testsuite name="s" tests="2">
  <testcase classname="m" name="test_ok" time="0.01"/>
  <testcase classname="m" name="test_bad" time="0.02">
    <failure message="boom">trace</failure>
  </testcase>
</testsuite>
"""


@pytest.mark.usefixtures("assay_home")
def test_storing_test_cases_loads_no_numpy(tmp_path: Path) -> None:
    (tmp_path / "report.xml").write_text(JUNIT)
    subprocess.run([ASSAY, "get", "executions"], cwd=tmp_path, check=True)  # migrate first
    args = ["import", "report.xml", "--workflow", "imported"]
    assert loaded_by(args, tmp_path, ("numpy", "assay.store.test_cases", "alembic")) == []
    listed = subprocess.run(
        [ASSAY, "get", "testcases", "imported-1", "-o", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stored = {case["name"]: case["status"] for case in json.loads(listed)}
    assert stored == {"test_ok": "passed", "test_bad": "failed"}


@pytest.mark.usefixtures("assay_home")
def test_logs_of_an_ended_execution_by_full_id_opens_no_store(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    done = subprocess.run(
        [ASSAY, "run", "-f", "wf.yaml", "-o", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    execution_id = json.loads(done.stdout)["id"]
    assert loaded_by(["logs", execution_id], tmp_path, ("sqlalchemy", *HEAVY)) == []
    by_id = subprocess.run(
        [ASSAY, "logs", execution_id], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    by_name = subprocess.run(
        [ASSAY, "logs", "plain-1"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "hi" in by_id and by_id == by_name


@pytest.mark.usefixtures("assay_home")
def test_logs_by_full_id_of_a_running_execution_asks_the_store(tmp_path: Path) -> None:
    # a workspace left behind means the execution may run or have crashed: the store decides
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    done = subprocess.run(
        [ASSAY, "run", "-f", "wf.yaml", "-o", "json", "--keep-workspace"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    execution_id = json.loads(done.stdout)["id"]
    assert "sqlalchemy" in loaded_by(["logs", execution_id], tmp_path, ("sqlalchemy",))
