"""History commands: get, logs, artifacts, import; the demo examples end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_support import Cli

from support import CONFORMANCE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_pass_and_fail_with_history(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "calculator"
    shutil.copytree(EXAMPLES / "calculator", project)
    wf = str(EXAMPLES / "workflows" / "calculator.yaml")
    cli("validate", "-f", str(EXAMPLES / "workflows"), check=0)
    cli("run", "-f", wf, "calculator-tests", "--source", str(project), "--tag", "sha=abc", check=0)
    cli("run", "-f", wf, "calculator-with-known-bug", "--source", str(project), check=1)

    executions = cli.json("get", "executions", "-o", "json")
    assert [e["workflow"] for e in executions] == ["calculator-with-known-bug", "calculator-tests"]
    passing = cli.json("get", "execution", "calculator-tests-1", "-o", "json")
    for key in (
        "id",
        "name",
        "number",
        "workflow",
        "status",
        "tags",
        "config",
        "queuedAt",
        "startedAt",
        "finishedAt",
        "durationMs",
        "steps",
        "summary",
    ):
        assert key in passing
    assert passing["tags"] == {"sha": "abc"}
    assert passing["config"] == {"verbosity": "-q"}
    assert passing["summary"] == {
        "tests": 4,
        "passed": 4,
        "failed": 0,
        "skipped": 0,
        "errored": 0,
        "flaky": 0,
        "quarantined": 0,
    }
    assert passing["steps"][0]["exitCode"] == 0

    failing = executions[0]
    assert failing["status"] == "failed"
    steps = {s["name"]: s["status"] for s in failing["steps"]}
    assert steps == {
        "Unit tests": "passed",
        "Tests that expose a known bug": "failed",
        "Always report": "passed",
    }
    cases = cli.json("get", "testcases", failing["id"], "-o", "json")
    bad = [c for c in cases if c["status"] == "failed"]
    assert [c["name"] for c in bad] == ["test_percent_rounds_to_nearest"]
    assert "67" in bad[0]["message"]
    assert len({c["testId"] for c in cases}) == len(cases) == 6
    assert (
        "finished execution calculator-with-known-bug-1"
        in cli("logs", failing["id"], check=0).stdout
    )

    out = tmp_path / "downloaded"
    listed = cli("artifacts", passing["id"], "--download", str(out), check=0).stdout
    assert "junit.xml" in listed and (out / "junit.xml").is_file()
    table = cli("get", "executions", check=0).stdout
    assert "calculator-tests-1" in table and "passed" in table


def test_import_records_an_execution(cli: Cli) -> None:
    junit = CONFORMANCE / "junit" / "enricomi" / "pytest" / "junit.fail.xml"
    done = cli("import", str(junit), "--workflow", "ci-nightly", "--tag", "branch=main")
    assert done.returncode == 1  # the file holds a failing test
    execution = cli.json("get", "executions", "--workflow", "ci-nightly", "-o", "json")[0]
    assert execution["runner"] == "import" and execution["tags"] == {"branch": "main"}
    assert execution["summary"]["failed"] >= 1


def test_import_rejects_hostile_xml_and_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    hostile = tmp_path / "evil.xml"
    hostile.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<testsuite name="s"><testcase name="&x;"/></testsuite>\n'
    )
    done = cli("import", str(hostile), "--workflow", "evil")
    assert done.returncode == 2 and "evil.xml" in done.stderr
    assert "root:" not in done.stdout + done.stderr
    assert cli.json("get", "executions", "-o", "json") == []
