"""`assay report` and `assay shard plan` through the real console script."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from reports_support import F, P, case, open_store, record, run_assay

from assay.reports.markdown import MARKER
from assay.results.junit import parse_junit
from assay.settings import Settings

JUNIT_MAIN = """<testsuite name="pytest">
  <testcase classname="tests.test_api" name="test_create" time="1.5"/>
  <testcase classname="tests.test_api" name="test_delete" time="0.5"/>
</testsuite>
"""
JUNIT_PR = """<testsuite name="pytest">
  <testcase classname="tests.test_api" name="test_create" time="1.7">
    <failure message="AssertionError: expected 201">trace</failure>
  </testcase>
  <testcase classname="tests.test_api" name="test_delete" time="0.4">
    <flakyFailure message="ConnectionResetError" type="OSError"/>
  </testcase>
</testsuite>
"""


@pytest.fixture
def imported(assay_home: Settings, tmp_path: Path) -> Settings:
    """api-1 on main and api-2 on a feature branch, imported with `assay import`."""
    (tmp_path / "main.xml").write_text(JUNIT_MAIN)
    (tmp_path / "pr.xml").write_text(JUNIT_PR)
    args = ("import", "--workflow", "api", "--tag")
    assert run_assay(assay_home, *args, "branch=main", "main.xml", cwd=tmp_path).returncode == 0
    assert run_assay(assay_home, *args, "branch=fix", "pr.xml", cwd=tmp_path).returncode == 1
    return assay_home


def test_report_markdown_to_stdout(imported: Settings, tmp_path: Path) -> None:
    done = run_assay(imported, "report", "api-2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(MARKER)
    assert "| ❌ **api-2** | 2 | 1 (-1) | 1 (+1) | 0 | 1 (+1) | 0 |" in done.stdout
    assert "`tests.test_api::test_create` **new**" in done.stdout


def test_report_html_and_junit_to_files(imported: Settings, tmp_path: Path) -> None:
    page = tmp_path / "out" / "report.html"
    done = run_assay(
        imported, "report", "api-2", "api-1", "--format", "html", "-o", str(page), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") >= 2 and "http://" not in text.split("<svg")[0]
    junit = tmp_path / "merged.xml"
    done = run_assay(
        imported, "report", "api-2", "--format", "junit", "-o", str(junit), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    rows = parse_junit(junit)
    assert [(r.name, r.attempt, r.status.value) for r in rows] == [
        ("test_create", 1, "failed"),
        ("test_delete", 1, "failed"),
        ("test_delete", 2, "passed"),
    ]
    assert b"<flakyFailure" in junit.read_bytes()
    stdout = run_assay(imported, "report", "api-1", "--format", "junit", cwd=tmp_path).stdout
    assert len(parse_junit(io.BytesIO(stdout.encode()))) == 2


def test_report_bad_input_exits_2(imported: Settings, tmp_path: Path) -> None:
    unknown = run_assay(imported, "report", "api-2", "no-such-run", cwd=tmp_path)
    assert unknown.returncode == 2 and "no-such-run" in unknown.stderr and not unknown.stdout
    bad_format = run_assay(imported, "report", "api-2", "--format", "pdf", cwd=tmp_path)
    assert bad_format.returncode == 2
    assert run_assay(imported, "report", cwd=tmp_path).returncode == 2


def test_shard_plan_json_with_a_test_list(assay_home: Settings, tmp_path: Path) -> None:
    store = open_store(assay_home)
    durations = {"test_a": 400, "test_b": 300, "test_c": 200, "test_d": 100}
    for _ in range(2):
        record(store, "api", [case(n, P, ms) for n, ms in durations.items()])
    later = record(
        store, "api", [case(n, P, ms * 2) for n, ms in durations.items()], tags={"shard": "0"}
    )
    tests = tmp_path / "tests.txt"
    tests.write_text(
        "tests/test_api.py::test_a\ntests/test_api.py::test_b\n"
        "tests.test_api::test_c\ntests/test_api.py::test_new\n"
    )
    done = run_assay(
        assay_home,
        "shard",
        "plan",
        "--workflow",
        "api",
        "--shards",
        "2",
        "--tests",
        str(tests),
        "--actual",
        later.name,
        "-o",
        "json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["unknown"] == ["tests/test_api.py::test_new"]  # as written in the file
    assert plan["meanMs"] == 300.0  # of a, b, c: the later run is not history
    assert [s["tests"] for s in plan["shards"]] == [
        ["tests/test_api.py::test_a", "tests.test_api::test_c"],
        ["tests/test_api.py::test_b", "tests/test_api.py::test_new"],
    ]
    assert plan["plannedMakespanMs"] == 600 and plan["idealMs"] == 600
    assert plan["actual"]["shardMs"] == [1200, 600] and plan["actual"]["missing"] == [0, 1]
    assert plan["actual"]["makespanMs"] == 1200 and "0" in plan["actual"]["wallMs"]
    table = run_assay(
        assay_home, "shard", "plan", "--workflow", "api", "--shards", "3", cwd=tmp_path
    )
    assert table.returncode == 0, table.stderr
    assert "planned makespan 0.40s, ideal 0.40s (x1.000)" in table.stdout


def test_shard_plan_bad_input_exits_2(assay_home: Settings, tmp_path: Path) -> None:
    record(open_store(assay_home), "api", [case("t", F, 5, message="x")])
    nothing = run_assay(
        assay_home, "shard", "plan", "--workflow", "nope", "--shards", "2", cwd=tmp_path
    )
    assert nothing.returncode == 2 and "no recorded tests" in nothing.stderr
    zero = run_assay(
        assay_home, "shard", "plan", "--workflow", "api", "--shards", "0", cwd=tmp_path
    )
    assert zero.returncode == 2
    missing = run_assay(
        assay_home,
        "shard",
        "plan",
        "--workflow",
        "api",
        "--shards",
        "2",
        "--tests",
        str(tmp_path / "missing.txt"),
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and "missing.txt" in missing.stderr
