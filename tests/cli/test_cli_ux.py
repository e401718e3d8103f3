"""The CLI a person expects: --version, checked options, repeated -f, clean JSON with
--watch, no raw markup on a terminal, failing tests named, logs --follow, 80-column
tables, and `get executions` in one query."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import ASSAY, Cli
from typer.testing import CliRunner

from assay import __version__

HEAD = "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\nmetadata: {{name: {name}}}\n"


def workflow(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(name=name) + body)
    return path


ECHO = "spec:\n  steps:\n  - name: talk\n    shell: echo 'line [dim]one[/]'; echo two\n"

JUNIT = """<testsuite name="s" tests="3">
<testcase classname="calc.tests" name="test_add" time="0.1"/>
<testcase classname="calc.tests" name="test_div[2-0]" time="0.1">
<failure message="ZeroDivisionError: division by zero">trace</failure></testcase>
<testcase classname="calc.tests" name="test_mul" time="0.1"><error message="boom"/></testcase>
</testsuite>"""


def test_version(cli: Cli) -> None:
    done = cli("--version", check=0)
    assert done.stdout == f"assay {__version__}\n"


def test_unknown_output_format_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = workflow(tmp_path, "echo", ECHO)
    done = cli("run", "-f", str(path), "-o", "yaml", check=2)
    assert "yaml" in done.stderr and "--output" in done.stderr
    assert cli.json("get", "executions") == []  # refused before anything ran


def test_repeated_files_are_all_validated(cli: Cli, tmp_path: Path) -> None:
    good = workflow(tmp_path, "good", ECHO)
    broken = workflow(
        tmp_path, "broken", "spec:\n  steps:\n  - name: s\n    shell: echo {{ 1 + }}\n"
    )
    other = workflow(tmp_path, "other", ECHO)
    done = cli("validate", "-f", str(good), "-f", str(broken), "-f", str(other), check=2)
    assert "broken.yaml:7: spec.steps[0].shell: invalid expression '1 +'" in done.stderr
    assert "good.yaml" not in done.stderr
    listed = cli("validate", "-f", str(good), "-f", str(other), check=0).stdout
    assert "TestWorkflow/good" in listed and "TestWorkflow/other" in listed
    assert "2 definition(s) valid" in listed


def test_unknown_config_fails_validate_not_the_run(cli: Cli, tmp_path: Path) -> None:
    body = (
        "spec:\n  config:\n    tag: {type: string}\n"
        "  steps:\n  - name: s\n    shell: echo {{ config.tga }}\n"
    )
    path = workflow(tmp_path, "typo", body)
    done = cli("validate", "-f", str(path), check=2)
    assert "typo.yaml:9: spec.steps[0].shell: expression 'config.tga': unknown config 'tga'" in (
        done.stderr
    )
    cli("run", "-f", str(path), check=2)
    assert cli.json("get", "executions") == []


def test_watch_with_json_output_prints_one_json_document(cli: Cli, tmp_path: Path) -> None:
    path = workflow(tmp_path, "echo", ECHO)
    done = cli("run", "-f", str(path), "--watch", "-o", "json", check=0)
    result = json.loads(done.stdout)  # the whole of stdout is one document
    assert result["status"] == "passed" and result["name"] == "echo-1"
    assert "1 | two" in done.stderr  # the streamed log went to stderr


def test_watch_on_a_terminal_prints_no_raw_markup(cli: Cli, tmp_path: Path) -> None:
    path = workflow(tmp_path, "echo", ECHO)
    leader, follower = os.openpty()
    env = {**cli.env, "COLUMNS": "100", "TERM": "xterm"}
    process = subprocess.Popen(
        [ASSAY, "run", "-f", str(path), "--watch"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
    process.communicate(timeout=60)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert "line [dim]one[/]" in text  # the log line verbatim
    assert "[dim]1" not in text and "1 │[/]" not in text  # no markup of our own
    assert "1 │" in text and "two" in text


def test_end_of_a_run_names_the_failing_tests(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "report.xml").write_text(JUNIT)
    body = (
        "spec:\n  steps:\n  - name: tests\n"
        f"    shell: cp {tmp_path / 'report.xml'} junit.xml; exit 1\n"
        "    artifacts: {paths: [junit.xml]}\n"
    )
    path = workflow(tmp_path, "calc", body)
    done = cli("run", "-f", str(path), check=1)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("calc-1 failed — 3 tests: 1 passed, 1 failed, 1 errored")
    assert lines[1:] == [
        "FAILED calc.tests::test_div[2-0]: ZeroDivisionError: division by zero",
        "ERRORED calc.tests::test_mul: boom",
    ]


def test_logs_follow_ends_when_the_execution_ends(cli: Cli, tmp_path: Path) -> None:
    body = "spec:\n  steps:\n  - name: slow\n    shell: echo first; sleep 2; echo last\n"
    path = workflow(tmp_path, "slow", body)
    run = subprocess.Popen(
        [ASSAY, "run", "-f", str(path)],
        env=cli.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    started = run.stderr.readline()  # "execution slow-1 (ID) started"
    assert "slow-1" in started, started
    follow = cli("logs", "--follow", "slow-1", check=0)
    assert run.poll() is not None or run.wait(timeout=30) == 0
    assert "first" in follow.stdout and "last" in follow.stdout
    assert cli.json("get", "execution", "slow-1")["status"] == "passed"
    run.communicate(timeout=30)


def test_tables_fit_80_columns_by_shortening_ids_and_tags(cli: Cli, tmp_path: Path) -> None:
    path = workflow(tmp_path, "echo", ECHO)
    for _ in range(2):
        cli("run", "-f", str(path), "--tag", f"branch=feature/{'x' * 60}", check=0)
    executions = cli.json("get", "executions")
    table = cli("get", "executions", check=0).stdout
    lines = table.splitlines()
    assert all(len(line) <= 80 for line in lines), table
    assert lines[0].split() == [
        *("ID", "NAME", "WORKFLOW", "STATUS", "STARTED", "TESTS", "FAILED", "MS", "TAGS")
    ]
    for execution, line in zip(executions, lines[1:], strict=True):
        assert line.startswith(execution["id"][:8] + " ")
        assert f" {execution['name']} " in line and " echo " in line  # names never cut
        assert execution["startedAt"][:16].replace("T", " ") in line
    wide = subprocess.run(
        [ASSAY, "get", "executions"],
        env={**cli.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert executions[0]["id"] in wide  # room enough: ids whole


@pytest.mark.usefixtures("assay_home")
def test_get_executions_queries_do_not_grow_with_rows(tmp_path: Path) -> None:
    """The page, then the steps of all its executions: two queries, not one per row."""
    from sqlalchemy import event

    from assay.cli import common
    from assay.cli.main import app

    path = workflow(tmp_path, "echo", ECHO)
    runner = CliRunner()
    common._APP = None
    try:
        counts: list[int] = []
        statements: list[str] = []

        def listener(*args: object) -> None:
            statements.append(str(args[2]))

        for _batch in range(2):
            for _ in range(3):
                assert runner.invoke(app, ["run", "-f", str(path)]).exit_code == 0
            engine = common.app_instance().db.engine
            event.listen(engine, "before_cursor_execute", listener)
            for output in ("table", "json"):
                statements.clear()
                done = runner.invoke(app, ["get", "executions", "-o", output])
                assert done.exit_code == 0, done.output
                assert len(statements) <= 2, statements
            event.remove(engine, "before_cursor_execute", listener)
            counts.append(len(statements))
        assert counts[0] == counts[1], counts  # 3 rows, then 6: as many queries
        listed = json.loads(done.stdout)
        assert [e["name"] for e in listed] == [f"echo-{n}" for n in range(6, 0, -1)]
        assert all([s["name"] for s in e["steps"]] == ["talk"] for e in listed)
    finally:
        common._APP = None


def test_get_executions_lists_newest_first_with_a_limit(cli: Cli, tmp_path: Path) -> None:
    path = workflow(tmp_path, "echo", ECHO)
    for _ in range(3):
        cli("run", "-f", str(path), check=0)
        time.sleep(0.01)
    names = [e["name"] for e in cli.json("get", "executions", "--limit", "2")]
    assert names == ["echo-3", "echo-2"]


def test_fit_widths_cuts_ids_then_free_text_then_drops_it_never_names() -> None:
    from assay.cli.output import ID_MIN_WIDTH, TEXT_MIN_WIDTH, fit_widths

    keys = ["id", "name", "workflow", "status", "startedAt", "tests", "failed", "ms", "tags"]
    widths = [32, 6, 8, 6, 16, 5, 6, 3, 70]  # tags long, a 3-digit duration
    fitted = fit_widths(keys, widths, 80)
    assert fitted[0] == ID_MIN_WIDTH and fitted[8] >= TEXT_MIN_WIDTH
    assert sum(fitted) + 2 * 8 <= 80 and fitted[1:8] == widths[1:8]
    long_run = [32, 6, 8, 6, 16, 5, 6, 7, 70]  # hours: 7-digit milliseconds
    fitted = fit_widths(keys, long_run, 80)
    assert fitted[8] == 0, "tags dropped when cutting them is not enough"
    assert sum(fitted) + 2 * 7 <= 80 and fitted[1:8] == long_run[1:8]
    names = [32, 60, 30, 6, 16, 5, 6, 4, 10]  # names never cut, even past the width
    assert fit_widths(keys, names, 80)[1:3] == [60, 30]
