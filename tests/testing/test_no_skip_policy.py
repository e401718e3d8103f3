"""--no-skip / assay_no_skip_paths: skips under the given paths fail and show their reason."""

from __future__ import annotations

import pytest

SKIPPING = """
import pytest


@pytest.fixture
def database():
    pytest.skip("database unreachable")


def test_body():
    pytest.skip("Redis is not running")


@pytest.mark.skip(reason="flaky upstream")
def test_marker():
    pass


@pytest.mark.skipif(True, reason="not on this OS")
def test_skipif():
    pass


def test_fixture(database):
    pass


@pytest.mark.xfail(reason="known bug", strict=True)
def test_xfail():
    assert False


def test_passes():
    pass
"""

REASONS = ["Redis is not running", "flaky upstream", "not on this OS", "database unreachable"]


@pytest.fixture
def layout(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(
        **{
            "tests/integration/test_backends.py": SKIPPING,
            "tests/unit/test_core.py": "import pytest\n\ndef test_s():\n    pytest.skip('ok')\n",
        }
    )
    return pytester


def test_without_policy_skips_stay_skips(layout: pytest.Pytester) -> None:
    result = layout.runpytest()
    result.assert_outcomes(passed=1, skipped=5, xfailed=1)


@pytest.mark.parametrize("configure", ["option", "ini"])
def test_skips_under_the_path_fail_with_their_reason(
    layout: pytest.Pytester, configure: str
) -> None:
    args = ["-rA"]
    if configure == "option":
        args += ["--no-skip", "tests/integration"]
    else:
        layout.makeini("[pytest]\nassay_no_skip_paths = tests/integration\n")
    result = layout.runpytest(*args)
    # A skip in the body fails the test; one during setup (markers, fixtures) is an error.
    result.assert_outcomes(passed=1, failed=1, errors=3, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    for reason in REASONS:
        assert f"skip not allowed under tests/integration (no-skip policy): {reason}" in output
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * tests/unit/test_core.py:4: ok",
            "FAILED tests/integration/test_backends.py::test_body - Failed: skip not all*",
        ]
    )


def test_module_level_skip_becomes_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        **{
            "it/test_optional.py": "import pytest\n\n"
            "pytest.importorskip('assay_no_such_module')\n\n"
            "def test_x():\n    pass\n",
        }
    )
    assert pytester.runpytest().parseoutcomes() == {"skipped": 1}
    result = pytester.runpytest("--no-skip", "it")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*skip not allowed under it (no-skip policy): *assay_no_such_module*"]
    )
