"""The plugin is an installed pytest11 entry point: it loads by itself, and can be disabled."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import assay.testing


def test_entry_point_is_registered() -> None:
    (entry,) = [ep for ep in entry_points(group="pytest11") if ep.name == "assay"]
    assert entry.value == "assay.testing.plugin"


def test_plugin_autoloads_in_a_fresh_pytest_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_loaded(pytestconfig, unique_name):
            plugin = pytestconfig.pluginmanager.get_plugin("assay")
            assert plugin.__name__ == "assay.testing.plugin"
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(passed=1)


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_uses(unique_name):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:assay")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'unique_name' not found*"])


def test_options_are_documented_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--require-requirement-marker=PATH*",
            "*--no-skip=PATH*",
            "*--postgres-dsn=DSN*",
            "*assay_require_requirement_paths (paths)*",
            "*assay_no_skip_paths (paths)*",
            "*assay_name_prefix (string)*",
        ]
    )


def test_public_api() -> None:
    for name in assay.testing.__all__:
        assert getattr(assay.testing, name) is not None
    assert {"wait_for_condition", "wait_for_service", "IntegrationTestBase"} <= set(
        assay.testing.__all__
    )
