"""dns1123_label and the unique_name fixture."""

from __future__ import annotations

import re

import pytest

from assay.testing import dns1123_label
from assay.testing.naming import resource_name

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("assay", "ab12cd", "test_Create_User[pg-15]"), "assay-ab12cd-test-create-user-pg-15"),
        (("--Weird__", "Name.."), "weird-name"),
        (("x",), "x"),
    ],
)
def test_labels(parts: tuple[str, ...], expected: str) -> None:
    assert dns1123_label(*parts) == expected


def test_long_names_are_shortened_and_stay_distinct() -> None:
    first = dns1123_label("assay", "x" * 80, "one")
    second = dns1123_label("assay", "x" * 80, "two")
    assert first != second
    for name in (first, second):
        assert len(name) == 63
        assert LABEL.fullmatch(name)


def test_a_shortened_name_never_ends_in_a_dash() -> None:
    name = dns1123_label("a" * 53, "b" * 20)
    assert LABEL.fullmatch(name)
    assert len(name) <= 63


def test_nothing_to_name() -> None:
    with pytest.raises(ValueError):
        dns1123_label("__", "..")


def test_resource_name_separates_same_test_name_in_different_files() -> None:
    one = resource_name("assay", "run1", "test_x", "tests/a/test_m.py::test_x")
    two = resource_name("assay", "run1", "test_x", "tests/b/test_m.py::test_x")
    assert one != two
    assert one.startswith("assay-run1-test-x-")


def test_unique_name_fixture(pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch) -> None:
    isolated_env.setenv("ASSAY_RUN_ID", "Run_42")
    pytester.makeini("[pytest]\nassay_name_prefix = e2e\n")
    body = """
        import re
        NAMES = []

        def test_same(unique_name):
            assert re.fullmatch(r"e2e-run-42-test-same-[0-9a-f]{6}", unique_name), unique_name
            print("NAME", unique_name)

        def test_{long}(unique_name):
            assert len(unique_name) <= 63
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", unique_name)
    """.replace("{long}", "very_long_name_" * 6)
    pytester.makepyfile(**{"a/test_one.py": body, "b/test_one.py": body})
    result = pytester.runpytest("-s", "--import-mode=importlib")
    result.assert_outcomes(passed=4)
    names = re.findall(r"NAME (\S+)", result.stdout.str())
    assert len(names) == 2
    assert len(set(names)) == 2


def test_run_id_is_random_per_run_without_env(
    pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_n(unique_name):\n    print('NAME', unique_name)\n")
    names = set()
    for _ in range(2):
        result = pytester.runpytest("-s")
        result.assert_outcomes(passed=1)
        names.update(re.findall(r"NAME (\S+)", result.stdout.str()))
    assert len(names) == 2
