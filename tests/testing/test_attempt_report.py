"""The plugin's own report under `assay run` (ASSAY_REPORT_DIR), beside the user's JUnit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assay.envvars import REPORT_DIR, REPORT_NOTE_SUFFIX
from assay.results.junit import iter_junit


def test_report_is_written_whatever_junitxml_says(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    monkeypatch.setenv(REPORT_DIR, str(reports))
    pytester.makepyfile(
        test_two="""
        import os

        def test_ok():
            assert "ASSAY_REPORT_DIR" not in os.environ  # not passed on to nested runs

        def test_bad():
            assert 1 == 2
        """
    )
    result = pytester.runpytest("--junitxml=mine.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert "generated xml file" in result.stdout.str()  # the user's line only
    assert result.stdout.str().count("generated xml file") == 1
    (report,) = reports.glob("*.xml")
    cases = sorted((c.name, str(c.status)) for c in iter_junit(report))
    assert cases == [("test_bad", "failed"), ("test_ok", "passed")]
    note = json.loads(report.with_name(report.stem + REPORT_NOTE_SUFFIX).read_text())
    assert note == {"junitxml": str(pytester.path / "mine.xml")}
    assert (pytester.path / "mine.xml").is_file()


def test_nothing_is_written_outside_assay(pytester: pytest.Pytester) -> None:
    assert REPORT_DIR not in os.environ
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert sorted(p.name for p in pytester.path.iterdir()) == ["test_one.py"]
