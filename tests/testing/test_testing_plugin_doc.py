"""docs/testing-plugin.md: every Python example runs, as written, in a fresh project."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-plugin.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
HEADER = re.compile(r"# content of (\S+)\n")


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(DOC.read_text())


def _files() -> dict[str, str]:
    """Files named by the `# content of PATH` first line of the doc's code blocks."""
    files = {}
    for language, body in _blocks():
        header = HEADER.match(body)
        if language == "python":
            assert header, f"a python example lacks its '# content of' line:\n{body}"
        if header:
            files[header.group(1)] = body
    return files


FILES = _files()
TEST_FILES = sorted(name for name in FILES if Path(name).name.startswith("test_"))
NEEDS_A_CLUSTER = {"tests/e2e/test_namespace.py"}


def test_the_doc_has_examples() -> None:
    assert "pytest.ini" in FILES
    assert len(TEST_FILES) >= 6
    assert set(TEST_FILES) > NEEDS_A_CLUSTER


def _write_project(pytester: pytest.Pytester) -> None:
    for path, body in FILES.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)


@pytest.mark.usefixtures("require_pg_binaries")
@pytest.mark.parametrize("name", TEST_FILES)
def test_example_runs_as_written(
    pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch, name: str
) -> None:
    isolated_env.setenv("HOME", str(pytester.path))
    _write_project(pytester)
    result = pytester.runpytest_subprocess(name, "-rA")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    outcomes = result.parseoutcomes()
    if name in NEEDS_A_CLUSTER:  # isolated_env and HOME hide any cluster: it skips, saying so
        assert set(outcomes) == {"skipped"}, result.stdout.str()
        result.stdout.fnmatch_lines(["SKIPPED *Kubernetes*"])
    else:  # every other example runs and passes: a skip here would hide a broken example
        assert outcomes.get("passed", 0) >= 1 and "skipped" not in outcomes, outcomes


def _requirements(case: ET.Element) -> list[str | None]:
    return [p.get("value") for p in case.iter("property") if p.get("name") == "requirement"]


def test_junit_snippet_matches_real_output(pytester: pytest.Pytester) -> None:
    (snippet,) = [body for language, body in _blocks() if language == "xml"]
    expected = ET.fromstring(snippet)
    _write_project(pytester)
    junit = pytester.path / "junit.xml"
    pytester.runpytest_subprocess("tests/integration/test_orders.py", f"--junitxml={junit}")
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert (case.get("classname"), case.get("name")) == (
        expected.get("classname"),
        expected.get("name"),
    )
    assert _requirements(case) == _requirements(expected)
