"""Results intelligence on real executions (local runner, real pytest, the real CLI).

A deliberately flaky test fails on odd runs (a counter file counts its runs): verdicts (a)
same commit, (b) retry and (c) flip rate each appear with their evidence; a retry makes the
execution pass with the test counted flaky; quarantine changes the exit code for that test
only, and only until it expires; `assay trace` reads the requirement markers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from analytics_support import Cli

TESTS = """\
import pathlib

import pytest

COUNTER = pathlib.Path({counter!r})
BREAK = pathlib.Path({breaker!r})


@pytest.mark.requirement("BR-E2E-001")
def test_flaky():
    runs = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(runs))
    assert runs % 2 == 0, f"fails on odd runs (run {{runs}})"


@pytest.mark.requirement("BR-E2E-002")
def test_solid():
    assert not BREAK.exists(), "broken on purpose"
"""

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: {name}}}
spec:
  container: {{workingDir: {project}}}
  steps:
    - name: pytest
{retry}      shell: python -m pytest -q -p no:cacheprovider
"""


class Project:
    """A pytest project with a flaky test, and a workflow running it."""

    def __init__(self, root: Path, name: str, *, retry: bool = False) -> None:
        self.counter = root / "counter"
        self.breaker = root / "break-solid"
        self.name = name
        project = root / "project"
        project.mkdir(parents=True)
        (project / "test_app.py").write_text(
            TESTS.format(counter=str(self.counter), breaker=str(self.breaker))
        )
        self.workflow = root / "workflow.yaml"
        self.workflow.write_text(
            WORKFLOW.format(
                name=name, project=project, retry="      retry: {count: 1}\n" if retry else ""
            )
        )

    def next_run_fails(self, fails: bool) -> None:
        """Set the counter so that the next run of test_flaky is odd (fails) or even."""
        runs = int(self.counter.read_text()) if self.counter.exists() else 0
        if (runs + 1) % 2 != int(fails):
            self.counter.write_text(str(runs + 1))


def run(cli: Cli, project: Project, *tags: str, expect: int) -> dict[str, Any]:
    args = [arg for tag in tags for arg in ("--tag", tag)]
    done = cli("run", "-f", str(project.workflow), *args, "-o", "json", check=expect)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def cases(cli: Cli, execution: str) -> dict[tuple[str, int], dict[str, Any]]:
    rows = cli.json("get", "testcases", execution)
    return {(row["name"], row["attempt"]): row for row in rows}


def flaky_json(cli: Cli, workflow: str) -> dict[str, Any]:
    found = cli.json("flaky", "--workflow", workflow)
    assert [t["name"] for t in found] == ["test_flaky"], found
    test: dict[str, Any] = found[0]
    return test


@pytest.fixture
def plain(tmp_path: Path) -> Project:
    return Project(tmp_path / "plain", "checkout")


@pytest.fixture
def retried(tmp_path: Path) -> Project:
    return Project(tmp_path / "retried", "checkout-retry", retry=True)


def test_same_commit_and_flip_rate_verdicts(cli: Cli, plain: Project) -> None:
    first = run(cli, plain, "sha=c1", "branch=main", expect=1)  # run 1: odd, fails
    second = run(cli, plain, "sha=c1", "branch=main", expect=0)  # run 2, same commit: passes
    test = flaky_json(cli, "checkout")
    assert (test["verdict"], test["reasons"]) == ("flaky", ["same-commit"])
    (evidence,) = test["evidence"]
    assert evidence["sha"] == "c1"
    assert evidence["executionIds"] == [first["id"], second["id"]]
    assert [(r["execution"], r["status"]) for r in evidence["results"]] == [
        (first["name"], "failed"),
        (second["name"], "passed"),
    ]
    testcases = cases(cli, first["name"])
    assert test["testId"] == testcases[("test_flaky", 1)]["testId"]  # the id get testcases shows

    later = [
        run(cli, plain, "sha=c2", expect=1),
        run(cli, plain, "sha=c3", expect=0),
        run(cli, plain, "sha=c4", expect=1),
    ]
    test = flaky_json(cli, "checkout")
    assert test["reasons"] == ["same-commit", "flip-rate", "failure-rate"]
    assert (test["results"], test["flipRate"], test["failureRate"]) == (5, 0.8, 0.6)
    flips = next(e for e in test["evidence"] if e["reason"] == "flip-rate")
    assert flips["executionIds"] == [second["id"], *(r["id"] for r in later)]
    assert "test_solid" not in {t["name"] for t in cli.json("flaky")}

    table = cli("flaky", check=0).stdout
    assert test["testId"][:8] in table and "commit,flip,fail" in table


def test_retry_makes_it_flaky_not_failed(cli: Cli, retried: Project) -> None:
    execution = run(cli, retried, "sha=c1", expect=0)
    assert execution["status"] == "passed"
    assert execution["summary"]["flaky"] == 1 and execution["summary"]["failed"] == 0
    testcases = cases(cli, execution["name"])
    assert testcases[("test_flaky", 1)]["status"] == "failed"
    assert testcases[("test_flaky", 2)]["status"] == "passed"

    test = flaky_json(cli, "checkout-retry")
    assert (test["verdict"], test["reasons"]) == ("flaky", ["retry"])
    assert test["evidence"] == [
        {
            "reason": "retry",
            "executionIds": [execution["id"]],
            "results": [
                {
                    "executionId": execution["id"],
                    "execution": execution["name"],
                    "attempt": 1,
                    "status": "failed",
                },
                {
                    "executionId": execution["id"],
                    "execution": execution["name"],
                    "attempt": 2,
                    "status": "passed",
                },
            ],
        }
    ]


def test_requirement_trace_of_real_markers(cli: Cli, plain: Project) -> None:
    run(cli, plain, expect=1)  # test_flaky fails, test_solid passes
    matrix = cli.json("trace", "--workflow", "checkout")
    assert matrix["unsatisfied"] == []
    assert [(r["requirement"], r["status"]) for r in matrix["requirements"]] == [
        ("BR-E2E-001", "failing"),
        ("BR-E2E-002", "passed"),
    ]
    assert [t["name"] for t in matrix["requirements"][0]["tests"]] == ["test_flaky"]
    cli("trace", check=0)  # nothing asked for: a report
    strict = cli("trace", "--require-all", check=1)
    assert "BR-E2E-001 has no passing test" in strict.stderr
    cli("trace", "-r", "BR-E2E-002", check=0)
    missing = cli("trace", "-r", "BR-E2E-002,BR-E2E-404", "-o", "json", check=1)
    assert '"unsatisfied": [\n    "BR-E2E-404"\n  ]' in missing.stdout


def test_quarantine_changes_the_exit_code_for_that_test_only_until_expiry(
    cli: Cli, plain: Project
) -> None:
    baseline = run(cli, plain, expect=1)
    test_id = cases(cli, baseline["name"])[("test_flaky", 1)]["testId"]
    cli("quarantine", "add", "0000000000000000", check=2)  # unknown test: bad input
    added = cli("quarantine", "add", test_id, "--until", "2099-12-31", "--reason", "races", check=0)
    assert f"quarantined {test_id} (checkout: test_app::test_flaky)" in added.stdout
    listed = cli.json("quarantine", "list")
    assert [(e["testId"], e["active"], e["reason"]) for e in listed] == [(test_id, True, "races")]

    # active: the flaky failure is recorded as quarantined and does not fail the execution
    plain.next_run_fails(True)
    quarantined = run(cli, plain, expect=0)
    assert cases(cli, quarantined["name"])[("test_flaky", 1)]["status"] == "quarantined"
    assert quarantined["summary"]["quarantined"] == 1

    # ... for that test only: another test failing still fails the execution
    plain.next_run_fails(True)
    plain.breaker.touch()
    both = run(cli, plain, expect=1)
    rows = cases(cli, both["name"])
    assert rows[("test_solid", 1)]["status"] == "failed"
    assert rows[("test_flaky", 1)]["status"] == "quarantined"
    plain.breaker.unlink()

    # expired: the failure counts again
    cli("quarantine", "add", test_id, "--until", "2000-01-01", check=0)
    assert cli.json("quarantine", "list") == []
    assert [e["active"] for e in cli.json("quarantine", "list", "--all")] == [False]
    plain.next_run_fails(True)
    expired = run(cli, plain, expect=1)
    assert cases(cli, expired["name"])[("test_flaky", 1)]["status"] == "failed"

    cli("quarantine", "remove", test_id, check=0)
    cli("quarantine", "remove", test_id, check=2)
