"""`--source` without `workingDir`, and a `/data/repo` nothing fills (issue 10.2)."""

from __future__ import annotations

from pathlib import Path

from cli_support import Cli

from support import write_files

HEADER = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: NAME}
spec:
"""


def _flow(tmp_path: Path, name: str, spec: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEADER.replace("NAME", name) + spec)
    return path


def test_source_without_working_dir_runs_in_the_source(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    write_files(source, {"tests/test_here.py": "def test_here():\n    pass\n"})
    flow = _flow(
        tmp_path,
        "in-source",
        "  steps:\n    - shell: pwd -P && python -m pytest tests -q -p no:cacheprovider\n",
    )
    result = cli.json("run", "-f", str(flow), "--source", str(source))
    assert result["status"] == "passed"
    assert result["summary"]["tests"] == 1 and result["summary"]["passed"] == 1
    log = cli("logs", result["id"], check=0).stdout
    assert str(source.resolve()) in log.splitlines()


def test_missing_data_repo_is_bad_input_with_a_hint(cli: Cli, tmp_path: Path) -> None:
    flow = _flow(
        tmp_path,
        "no-repo",
        "  steps:\n    - shell: python -m pytest tests\n      workingDir: /data/repo/backend\n",
    )
    done = cli("run", "-f", str(flow), check=2)
    assert "spec.steps[0].workingDir" in done.stderr
    assert "pass --source DIR or add content.git" in done.stderr
    assert "Traceback" not in done.stderr
    assert cli.json("get", "executions", "-o", "json") == []
    # with --source the same workflow runs
    source = tmp_path / "checkout"
    write_files(source, {"backend/tests/test_ok.py": "def test_ok():\n    pass\n"})
    result = cli.json("run", "-f", str(flow), "--source", str(source))
    assert result["status"] == "passed" and result["summary"]["passed"] == 1


def test_a_step_that_creates_data_repo_is_not_refused(cli: Cli, tmp_path: Path) -> None:
    flow = _flow(
        tmp_path,
        "makes-repo",
        "  steps:\n"
        "    - shell: mkdir -p /data/repo/app && echo made > /data/repo/app/marker\n"
        "    - shell: cat marker\n"
        "      workingDir: /data/repo/app\n",
    )
    result = cli.json("run", "-f", str(flow))
    assert result["status"] == "passed"
    assert "made" in cli("logs", result["id"], check=0).stdout
