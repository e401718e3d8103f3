"""Every pytest attempt is recorded, whatever `--junit-xml` the command passes (issue 10.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli

from support import write_files

COUNTED = """\
from pathlib import Path

def _count(name):
    counter = Path(__file__).with_name(name + ".runs")
    runs = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(runs))
    return runs

def test_stable():
    _count("stable")

def test_flaky():
    runs = _count("flaky")
    assert runs % 2 == 0, f"odd run {runs}"
"""


def _workflow(path: Path, body: str, name: str = "own-junit") -> Path:
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\n"
        "kind: TestWorkflow\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  steps:\n" + body
    )
    return path


def _attempts(cli: Cli, execution: str) -> list[tuple[str, int, str]]:
    cases = cli.json("get", "testcases", execution, "-o", "json")
    return sorted((c["name"], c["attempt"], c["status"]) for c in cases)


@pytest.mark.parametrize("scope", ["failed-tests", "step"])
def test_own_junit_xml_in_args_keeps_every_attempt(cli: Cli, tmp_path: Path, scope: str) -> None:
    """Seed 000's args end with --junit-xml=results.xml, which overrides assay's own."""
    source = tmp_path / "src"
    write_files(source, {"tests/test_counted.py": COUNTED})
    flow = _workflow(
        tmp_path / "wf.yaml",
        f"""\
    - name: tests
      retry: {{count: 2, scope: {scope}}}
      run:
        command: [python, -m, pytest]
        args: [tests, -v, --tb=short, -p, no:cacheprovider, --junit-xml=results.xml]
      artifacts: {{paths: [results.xml]}}
""",
    )
    result: dict[str, Any] = cli.json("run", "-f", str(flow), "--source", str(source))
    assert result["status"] == "passed"
    assert result["steps"][0]["attempts"] == 2
    assert result["summary"]["flaky"] == 1
    assert result["summary"]["tests"] == 2 and result["summary"]["passed"] == 2
    stable_again = [("test_stable", 2, "passed")] if scope == "step" else []
    assert _attempts(cli, result["id"]) == sorted(
        [
            ("test_flaky", 1, "failed"),
            ("test_flaky", 2, "passed"),
            ("test_stable", 1, "passed"),
            *stable_again,
        ]
    )
    # failed-tests re-ran only the failed test; step re-ran both
    assert (source / "tests" / "flaky.runs").read_text() == "2"
    assert (source / "tests" / "stable.runs").read_text() == ("2" if scope == "step" else "1")
    # the user's own report is still written and stored, without being counted again
    assert (source / "results.xml").is_file()
    listed = cli("artifacts", result["id"], check=0).stdout
    assert listed.startswith("results.xml\t")


def test_docs_parallel_example_with_xdist_and_junit_in_data(cli: Cli, tmp_path: Path) -> None:
    """yaml-reference's `args: [-n, N, --junit-xml=/data/artifacts/junit.xml]`: each test once."""
    source = tmp_path / "src"
    write_files(
        source,
        {
            f"tests/test_{i}.py": f"def test_{i}_a():\n    pass\n\ndef test_{i}_b():\n    pass\n"
            for i in range(4)
        },
    )
    flow = _workflow(
        tmp_path / "wf.yaml",
        """\
    - name: tests
      run:
        command: [python, -m, pytest]
        args: [tests, -n, "2", -p, no:cacheprovider, --junit-xml=/data/artifacts/junit.xml]
      artifacts: {paths: ["/data/artifacts/**"]}
""",
        name="xdist-junit",
    )
    result = cli.json("run", "-f", str(flow), "--source", str(source))
    assert result["status"] == "passed", result
    cases = cli.json("get", "testcases", result["id"], "-o", "json")
    names = sorted(c["name"] for c in cases)
    assert names == sorted(f"test_{i}_{x}" for i in range(4) for x in "ab")
    assert all(c["attempt"] == 1 for c in cases)
    assert "junit.xml" in cli("artifacts", result["id"], check=0).stdout


def test_several_pytest_runs_in_one_step_are_all_recorded(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_files(
        source,
        {
            "unit/test_unit.py": "def test_unit():\n    pass\n",
            "api/test_api.py": "def test_api():\n    assert False, 'api down'\n",
        },
    )
    flow = _workflow(
        tmp_path / "wf.yaml",
        """\
    - name: tests
      shell: |
        python -m pytest unit -q -p no:cacheprovider --junit-xml=unit.xml
        python -m pytest api -q -p no:cacheprovider --junit-xml=api.xml
""",
        name="two-runs",
    )
    result = cli.json("run", "-f", str(flow), "--source", str(source), check=1)
    assert _attempts(cli, result["id"]) == [
        ("test_api", 1, "failed"),
        ("test_unit", 1, "passed"),
    ]


def test_pytest_without_a_readable_report_is_reported(cli: Cli, tmp_path: Path) -> None:
    """The plugin disabled and --junit-xml to a path no artifact collects: said, not silent."""
    source = tmp_path / "src"
    write_files(source, {"tests/test_one.py": "def test_one():\n    pass\n"})
    flow = _workflow(
        tmp_path / "wf.yaml",
        """\
    - name: tests
      run:
        command: [python, -m, pytest]
        args: [tests, -p, no:assay, -p, no:cacheprovider, --junit-xml=results.xml]
""",
        name="lost-junit",
    )
    done = cli("run", "-f", str(flow), "--source", str(source), "-o", "json", check=0)
    lost = str((source / "results.xml").resolve())
    assert "read no JUnit report" in done.stderr and lost in done.stderr
    execution = cli.json("get", "execution", "lost-junit-1", "-o", "json")
    message = execution["steps"][0]["message"]
    assert "read no JUnit report" in message and lost in message
    assert "not collected by `artifacts.paths`" in message
    assert execution["summary"]["tests"] == 0
    log = cli("logs", "lost-junit-1", check=0).stdout
    assert "warning: pytest ran (attempt 1) but assay read no JUnit report" in log


def test_plugin_disabled_still_reads_assays_own_report(cli: Cli, tmp_path: Path) -> None:
    """Without the plugin, PYTEST_ADDOPTS' --junit-xml still records a plain pytest run."""
    source = tmp_path / "src"
    write_files(source, {"tests/test_one.py": "def test_one():\n    pass\n"})
    flow = _workflow(
        tmp_path / "wf.yaml",
        "    - shell: python -m pytest tests -q -p no:assay -p no:cacheprovider\n",
        name="no-plugin",
    )
    result = cli.json("run", "-f", str(flow), "--source", str(source))
    assert result["summary"]["tests"] == 1 and result["summary"]["passed"] == 1
    assert "message" not in result["steps"][0]
