"""`{{ }}` expressions are checked when a definition is loaded: syntax and config names."""

from __future__ import annotations

import pytest

from assay.errors import DefinitionError
from assay.spec import KINDS, load_text
from assay.spec.legacy import LEGACY_API_VERSION

HEAD = """\
apiVersion: testworkflows.testkube.io/v1
kind: {kind}
metadata:
  name: checked
  description: "{{{{ not checked: metadata is never evaluated"
spec:
  config:
    version: {{type: string, default: "1"}}
    count: {{type: integer, default: 2}}
  steps:
"""


def _load(steps: str, kind: str = "TestWorkflow") -> str:
    try:
        load_text(HEAD.format(kind=kind) + steps, "wf.yaml")
    except DefinitionError as exc:
        return str(exc)
    return ""


def test_declared_config_and_valid_expressions_pass() -> None:
    steps = """\
    - name: ok
      condition: config.count > 1 && always
      shell: echo {{ config.version + "-" + string(config.count * 2) }} {{ env.HOME }}
      retry: {count: 2, until: 'passed || config.count == 3'}
    - name: word
      condition: always
      shell: echo "{{ "}}" }}"
"""
    assert _load(steps) == ""


def test_syntax_error_names_file_line_and_field() -> None:
    message = _load("    - name: one\n      shell: echo {{ 1 + }}\n")
    assert message.startswith("wf.yaml:12: spec.steps[0].shell: ")
    assert "'1 +'" in message


def test_unterminated_expression_is_reported() -> None:
    message = _load("    - name: one\n      run: {args: ['{{ config.version']}\n")
    assert "wf.yaml:12: spec.steps[0].run.args[0]: unterminated expression" in message


def test_unknown_config_names_the_closest_declared_one() -> None:
    steps = """\
    - name: one
      condition: config.verison == "2"
      shell: echo {{ config.nope }}
"""
    lines = _load(steps).splitlines()
    assert lines == [
        "wf.yaml:12: spec.steps[0].condition: expression 'config.verison == \"2\"': "
        "unknown config 'verison' (did you mean 'version'?)",
        "wf.yaml:13: spec.steps[0].shell: expression 'config.nope': "
        "unknown config 'nope'; declared: count, version",
    ]


def test_templates_are_checked_for_syntax_only() -> None:
    # a template may read its caller's config, so an undeclared name is not an error
    assert (
        _load("    - name: t\n      shell: echo {{ config.callers }}\n", "TestWorkflowTemplate")
        == ""
    )
    message = _load("    - name: t\n      shell: echo {{ (1 }}\n", "TestWorkflowTemplate")
    assert message.startswith("wf.yaml:12: spec.steps[0].shell: ")


def test_every_problem_of_a_file_is_reported_once() -> None:
    steps = "    - name: a\n      shell: echo {{ 1 + }}\n    - name: b\n      shell: echo {{ * }}\n"
    lines = _load(steps).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        ["wf.yaml:12", "spec.steps[0].shell"],
        ["wf.yaml:14", "spec.steps[1].shell"],
    ]


def test_schema_and_expression_problems_are_reported_together_in_line_order() -> None:
    steps = """\
    - name: one
      shell: echo {{ 1 + }}
    - name: two
      timeout: 5q
      shell: echo {{ config.nope }}
"""
    lines = _load(steps).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        ["wf.yaml:12", "spec.steps[0].shell"],
        ["wf.yaml:14", "spec.steps[1].timeout"],
        ["wf.yaml:15", "spec.steps[1].shell"],
    ]
    assert "unknown config 'nope'" in lines[2]


@pytest.mark.parametrize("kind", ["Test", "TestSuite"])
def test_legacy_kinds_are_loaded_on_demand_with_their_api_version(kind: str) -> None:
    assert KINDS.versions(kind) == (LEGACY_API_VERSION,)
    assert KINDS[kind][0] == (LEGACY_API_VERSION,)
    assert set(KINDS) == {"TestWorkflow", "TestWorkflowTemplate", "Test", "TestSuite", "Webhook"}
