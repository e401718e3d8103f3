"""@pytest.mark.requirement: JUnit properties, and enforcement under configured paths."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TRACED = """
import pytest

pytestmark = pytest.mark.requirement("BR-MOD-001")


@pytest.mark.requirement("BR-E2E-001", "BR-E2E-002")
def test_two():
    pass


@pytest.mark.requirement("BR-E2E-003")
class TestSuite:
    @pytest.mark.requirement("BR-E2E-001")
    def test_in_class(self):
        assert False, "a failing test keeps its requirements"
"""

UNTRACED = """
import pytest


@pytest.mark.requirement("BR-E2E-009")
def test_traced():
    pass


def test_untraced():
    pass
"""


def _properties(junit: Path) -> dict[str, list[str]]:
    root = ET.parse(junit).getroot()
    return {
        f"{case.get('classname')}.{case.get('name')}": [
            prop.get("value", "")
            for prop in case.iter("property")
            if prop.get("name") == "requirement"
        ]
        for case in root.iter("testcase")
    }


def test_ids_are_junit_properties(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_traced=TRACED)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(f"--junitxml={junit}", "--strict-markers")
    result.assert_outcomes(passed=1, failed=1)
    assert _properties(junit) == {
        "test_traced.test_two": ["BR-E2E-001", "BR-E2E-002", "BR-MOD-001"],
        "test_traced.TestSuite.test_in_class": ["BR-E2E-001", "BR-E2E-003", "BR-MOD-001"],
    }


def test_ids_are_user_properties_of_reports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_traced=TRACED)
    reports = pytester.inline_run().getreports("pytest_runtest_logreport")
    calls = {r.nodeid.split("::")[-1]: r.user_properties for r in reports if r.when == "call"}
    assert calls["test_two"] == [
        ("requirement", "BR-E2E-001"),
        ("requirement", "BR-E2E-002"),
        ("requirement", "BR-MOD-001"),
    ]


def _layout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        **{
            "tests/integration/test_api.py": UNTRACED,
            "tests/unit/test_core.py": "def test_free():\n    pass\n",
        }
    )


def test_option_fails_collection_of_unmarked_tests(pytester: pytest.Pytester) -> None:
    _layout(pytester)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        "--require-requirement-marker", "tests/integration", f"--junitxml={junit}"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting tests/integration/test_api.py*",
            "test_untraced lacks @pytest.mark.requirement(...): tests under tests/integration*",
            "ERROR tests/integration/test_api.py::test_untraced - *",
            "*Interrupted: 1 error during collection*",
        ]
    )
    assert "test_free" not in result.stdout.str().split("short test summary")[0]
    errors = [e.get("message") for e in ET.parse(junit).getroot().iter("error")]
    assert errors == ["collection failure"]


def test_ini_paths_are_relative_to_the_ini_file_options_to_the_cwd(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _layout(pytester)
    monkeypatch.chdir(pytester.path / "tests")
    pytester.makeini("[pytest]\nassay_require_requirement_paths = tests/integration\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*tests under tests/integration must name*"])
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest("--require-requirement-marker", "integration")
    result.assert_outcomes(errors=1)


def test_unmarked_tests_elsewhere_and_deselected_ones_pass(pytester: pytest.Pytester) -> None:
    _layout(pytester)
    result = pytester.runpytest("--require-requirement-marker", "tests/unit/../integration/x")
    result.assert_outcomes(passed=3)
    result = pytester.runpytest(
        "--require-requirement-marker", "tests/integration", "-k", "not untraced"
    )
    result.assert_outcomes(passed=2, deselected=1)
    assert result.ret == pytest.ExitCode.OK


def test_continue_on_collection_errors_runs_the_others(pytester: pytest.Pytester) -> None:
    _layout(pytester)
    result = pytester.runpytest(
        "--require-requirement-marker", "tests", "--continue-on-collection-errors"
    )
    result.assert_outcomes(passed=1, errors=2)


@pytest.mark.parametrize("args", ["", "''", "' '", "42", "'BR-1', id='x'"])
def test_malformed_markers_are_collection_errors(pytester: pytest.Pytester, args: str) -> None:
    pytester.makepyfile(
        f"import pytest\n\n@pytest.mark.requirement({args})\ndef test_bad():\n    pass\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*requirement*"])
