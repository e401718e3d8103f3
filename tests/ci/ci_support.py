"""Helpers for the CI tests: the Actions environment, JUnit snippets, executions, `assay`
called in-process, and a checkout with two pytest suites.  The GitHub and Slack stand-in is
in :mod:`github_standin` (re-exported here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github_standin import SLACK_PATH, TOKEN, GitHubStandIn, serve

__all__ = ["SLACK_PATH", "TOKEN", "GitHubStandIn", "serve"]


def actions_env(
    root: Path,
    stand_in: GitHubStandIn,
    *,
    pr: int | None = 7,
    head_sha: str = "a" * 40,
    merge_sha: str = "m" * 40,
    token: str | None = TOKEN,
) -> dict[str, str]:
    """The GITHUB_* variables Actions sets for a pull_request (or push) job."""
    root.mkdir(parents=True, exist_ok=True)
    event = root / "event.json"
    if pr is not None:
        event.write_text(
            json.dumps({"number": pr, "pull_request": {"number": pr, "head": {"sha": head_sha}}})
        )
    else:
        event.write_text(json.dumps({"ref": "refs/heads/main", "after": merge_sha}))
    env = {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_API_URL": stand_in.api_url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "octo/shop",
        "GITHUB_SHA": merge_sha,
        "GITHUB_REF": f"refs/pull/{pr}/merge" if pr is not None else "refs/heads/main",
        "GITHUB_REF_NAME": f"{pr}/merge" if pr is not None else "main",
        "GITHUB_HEAD_REF": "fix-login" if pr is not None else "",
        "GITHUB_EVENT_NAME": "pull_request" if pr is not None else "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_RUN_ID": "4242",
        "GITHUB_STEP_SUMMARY": str(root / "summary.md"),
        "GITHUB_OUTPUT": str(root / "output.txt"),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if token:
        env["GITHUB_TOKEN"] = token
    return env


def read_outputs(path: Path) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file (both forms), later values winning."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            values[name] = "\n".join(lines[index + 1 : end])
            index = end + 1
            continue
        name, _, value = line.partition("=")
        values[name] = value
        index += 1
    return values


def junit(*cases: str) -> str:
    """A pytest-like JUnit document holding ``cases`` (``<testcase>`` elements)."""
    return '<testsuite name="pytest">\n' + "\n".join(cases) + "\n</testsuite>\n"


def passing(name: str, classname: str = "tests.test_api", seconds: float = 0.1) -> str:
    return f'<testcase classname="{classname}" name="{name}" time="{seconds}"/>'


def failing(
    name: str,
    message: str = "AssertionError: boom",
    classname: str = "tests.test_api",
    file: str | None = None,
    line: int | None = None,
) -> str:
    where = (f' file="{file}"' if file else "") + (f' line="{line}"' if line is not None else "")
    return (
        f'<testcase classname="{classname}" name="{name}" time="0.2"{where}>'
        f'<failure message="{message}">trace</failure></testcase>'
    )


def flaky(name: str, classname: str = "tests.test_api", file: str | None = None) -> str:
    where = f' file="{file}"' if file else ""
    return (
        f'<testcase classname="{classname}" name="{name}" time="0.3"{where}>'
        '<flakyFailure message="ConnectionResetError" type="OSError"/></testcase>'
    )


def import_run(cli: Any, path: Path, xml: str, workflow: str, *tags: str, check: int) -> str:
    """`assay import` a JUnit document; returns the execution's name."""
    path.write_text(xml, encoding="utf-8")
    args = [a for tag in tags for a in ("--tag", tag)]
    done = cli("import", str(path), "--workflow", workflow, *args, check=check)
    return done.stdout.split()[0]


@dataclass
class Invoked:
    """The outcome of an in-process `assay` call."""

    returncode: int
    stdout: str
    stderr: str


class InProcess:
    """`assay` called in this process (fast), with the console script's error handling:
    an AssayError prints ``error: ...`` and exits with its code."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    def __call__(self, *args: str, check: int | None = None) -> Invoked:
        from typer.testing import CliRunner

        from assay.cli import common
        from assay.cli.main import app
        from assay.errors import AssayError

        common._APP = None  # settings are read from the environment on first use
        try:
            result = CliRunner().invoke(app, list(args), env=self.env)
        finally:
            common._APP = None
        error = result.exception
        if isinstance(error, AssayError):
            done = Invoked(error.exit_code, result.stdout, f"{result.stderr}error: {error}\n")
        elif error is not None and not isinstance(error, SystemExit):
            raise error
        else:
            done = Invoked(result.exit_code, result.stdout, result.stderr)
        if check is not None:
            assert done.returncode == check, (
                f"assay {' '.join(args)} exited {done.returncode}, expected {check}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done


def record(
    store: Any,
    workflow: str,
    cases: list[Any],
    *,
    tags: dict[str, str] | None = None,
) -> Any:
    """An execution with ``cases`` (TestCaseResult), recorded through the store API."""
    from assay.status import ExecutionStatus

    row = store.create(workflow, runner="local", tags=tags or {})
    store.start(row.id)
    summary = store.add_test_cases(row.id, workflow, cases)
    bad = summary.failed + summary.errored
    return store.finish(
        row.id, ExecutionStatus.FAILED if bad else ExecutionStatus.PASSED, summary=summary
    )


def case(
    name: str,
    status: str = "passed",
    *,
    classname: str = "tests.test_api",
    file: str | None = None,
    line: int | None = None,
    message: str | None = None,
    attempt: int = 1,
    trace: str | None = None,
) -> Any:
    """One attempt of one test case."""
    from assay.model import CaseStatus, TestCaseResult

    return TestCaseResult(
        suite="pytest",
        classname=classname,
        name=name,
        status=CaseStatus(status),
        duration_ms=100,
        file=file,
        line=line,
        message=message,
        attempt=attempt,
        trace=trace,
    )


# --- a checkout with two pytest suites and their workflows (local runner) ----------------

AUTH_TESTS = """\
def test_login():
    assert True


def test_logout():
    assert True
"""

API_TESTS = """\
import pytest


def test_create_game():
    assert 201 == 201


def test_list_games():
    games = []
    assert games, "expected games, got none"


@pytest.mark.skip(reason="needs a league")
def test_standings():
    pass


def test_delete_game():
    assert True
"""

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: {name}}}
spec:
  container: {{workingDir: {backend}}}
  steps:
    - name: pytest
      shell: python -m pytest -q -p no:cacheprovider -o junit_family=xunit1 tests/{tests}
"""


def make_repo(root: Path) -> Path:
    """A checkout (the job's GITHUB_WORKSPACE) with two suites and their workflows."""
    backend = root / "backend"
    (backend / "tests").mkdir(parents=True)
    (backend / "tests" / "test_auth.py").write_text(AUTH_TESTS)
    (backend / "tests" / "test_api.py").write_text(API_TESTS)
    definitions = root / "k8s"
    definitions.mkdir()
    for name, tests in (("auth", "test_auth.py"), ("api", "test_api.py")):
        (definitions / f"{name}.yaml").write_text(
            WORKFLOW.format(name=name, backend=backend, tests=tests)
        )
    return root
