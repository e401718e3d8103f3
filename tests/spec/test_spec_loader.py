"""The YAML loader: conformance files, error messages with file/line/path, limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from spec_helpers import CONFORMANCE, DATA, conformance_files

from assay.errors import DefinitionError
from assay.spec import (
    Definition,
    LegacyTest,
    TestWorkflow,
    TestWorkflowTemplate,
    load_definitions,
    load_text,
)
from assay.spec.loader import MAX_FILE_BYTES

WORKFLOW_FILES = conformance_files("workflows")
TEMPLATE_FILES = conformance_files("templates")


def _documents(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _error(text: str, source: str = "defs/e2e.yaml") -> str:
    with pytest.raises(DefinitionError) as info:
        load_text(text, source)
    return str(info.value)


# --------------------------------------------------------------------------- conformance


def test_conformance_material_is_present() -> None:
    assert WORKFLOW_FILES, f"no workflow files under {CONFORMANCE}"
    assert TEMPLATE_FILES, f"no template files under {CONFORMANCE}"


@pytest.mark.parametrize("path", WORKFLOW_FILES + TEMPLATE_FILES, ids=lambda p: p.name)
def test_conformance_file_loads(path: Path) -> None:
    definitions = load_definitions(path)
    documents = _documents(path)
    assert len(definitions) == len(documents)
    for item, raw in zip(definitions, documents, strict=True):
        assert item.raw == raw
        assert item.source == path
        assert item.kind == raw["kind"]
        assert item.name == raw["metadata"]["name"]  # type: ignore[index]
        expected = TestWorkflow if item.kind == "TestWorkflow" else TestWorkflowTemplate
        assert isinstance(item.model, expected)


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_conformance_templates_are_templates(path: Path) -> None:
    (item,) = load_definitions(path)
    assert item.kind == "TestWorkflowTemplate"
    assert item.name == path.stem  # file names are the template names (official--k6--v1)


def test_conformance_directory_loads_without_duplicates(
    conformance_definitions: list[Definition],
) -> None:
    files = {item.source for item in conformance_definitions}
    assert files == set(WORKFLOW_FILES + TEMPLATE_FILES)
    keys = [(item.kind, item.name) for item in conformance_definitions]
    assert len(keys) == len(set(keys))
    assert {item.kind for item in conformance_definitions} == {
        "TestWorkflow",
        "TestWorkflowTemplate",
    }


def test_document_lines_point_at_each_document() -> None:
    path = CONFORMANCE / "workflows" / "k6--smoke.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    for item in load_definitions(path):
        # the document starts at its first key, a few lines above `name: <name>`
        window = lines[item.line - 1 : item.line + 4]
        assert any(f"name: {item.name}" in line for line in window), (item.line, window)


# --------------------------------------------------------------------------- files and dirs


def test_directory_is_read_recursively_sorted_and_skips_hidden(tmp_path: Path) -> None:
    doc = "kind: TestWorkflow\napiVersion: testworkflows.testkube.io/v1\nmetadata: {{name: {}}}\n"
    (tmp_path / "b.yaml").write_text(doc.format("b"))
    (tmp_path / "a.yml").write_text(doc.format("a"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(doc.format("c"))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.yaml").write_text(doc.format("d"))
    (tmp_path / "notes.txt").write_text("kind: nonsense")
    names = [item.name for item in load_definitions(tmp_path)]
    assert names == ["a", "b", "c"]


def test_empty_documents_are_skipped() -> None:
    text = "---\n---\n# only a comment\n---\nkind: TestWorkflow\napiVersion: assay.dev/v1\n"
    text += "metadata:\n  name: only\n---\n"
    (item,) = load_text(text, "x.yaml")
    assert item.name == "only"
    assert item.line == 5
    assert item.source == Path("x.yaml")


def test_missing_path_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="no such file or directory"):
        load_definitions(tmp_path / "nope")


def test_seed_tests_load_as_legacy_tests() -> None:
    items = load_definitions(DATA / "seed000-tests.yaml")
    assert [(i.kind, i.name) for i in items] == [
        ("Test", "backend-auth-e2e"),
        ("Test", "backend-api-e2e"),
    ]
    assert all(isinstance(i.model, LegacyTest) for i in items)


# --------------------------------------------------------------------------- error messages

STEP_ERRORS = """\
kind: TestWorkflow
apiVersion: testworkflows.testkube.io/v1
metadata:
  name: e2e
spec:
  steps:
  - name: first
    shell: echo hi
  - name: second
    timeout: abc
  - name: third
    foo: 1
  - name: fourth
    run:
      args: 5
"""


def test_all_errors_of_a_file_are_reported_with_line_and_path() -> None:
    message = _error(STEP_ERRORS, "tests/e2e.yaml")
    lines = message.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("tests/e2e.yaml:10: spec.steps[1].timeout: invalid duration 'abc'")
    assert "expected" in lines[0]
    assert lines[1].startswith("tests/e2e.yaml:12: spec.steps[2].foo: unknown field 'foo'")
    assert lines[2].startswith("tests/e2e.yaml:15: spec.steps[3].run.args: ")
    assert "valid list" in lines[2]


def test_unknown_field_suggests_a_close_name() -> None:
    text = STEP_ERRORS.replace("    shell: echo hi", "    shel: echo hi")
    text = text.split("  - name: second")[0]
    expected = "spec.steps[0].shel: unknown field 'shel' (did you mean 'shell'?)"
    assert _error(text) == f"defs/e2e.yaml:8: {expected}"


def test_unknown_field_in_legacy_test_names_path_and_line() -> None:
    text = (DATA / "seed000-tests.yaml").read_text(encoding="utf-8")
    text = text.replace("    workingDir: backend\n", "    workingDir: backend\n    retries: 3\n", 1)
    message = _error(text, "k8s/tests.yaml")
    lines = text.splitlines()
    line = next(i for i, row in enumerate(lines, 1) if "retries: 3" in row)
    assert message == (
        f"k8s/tests.yaml:{line}: spec.executionRequest.retries: unknown field 'retries'"
        + message.split("unknown field 'retries'")[1]
    )


def test_wrong_type_reports_pydantic_message() -> None:
    text = (
        "kind: TestWorkflow\napiVersion: testworkflows.testkube.io/v1\nmetadata:\n  name: x\n"
        "spec:\n  job:\n    activeDeadlineSeconds: soon\n"
    )
    message = _error(text)
    assert message.startswith("defs/e2e.yaml:7: spec.job.activeDeadlineSeconds: Input should be")
    assert "integer" in message
    assert "(got a string)" in message


def test_union_alternatives_are_joined_on_one_line() -> None:
    text = (
        "kind: TestWorkflow\napiVersion: testworkflows.testkube.io/v1\nmetadata:\n  name: x\n"
        "spec:\n  services:\n    db:\n      count: [1]\n"
    )
    message = _error(text)
    assert "\n" not in message
    assert message.startswith("defs/e2e.yaml:8: spec.services.db.count: Input should be")
    assert "integer" in message and "string" in message


def test_missing_required_field() -> None:
    message = _error("kind: TestWorkflow\napiVersion: assay.dev/v1\nmetadata:\n  labels: {}\n")
    assert message == "defs/e2e.yaml:3: metadata.name: missing required field 'name'"


def test_invalid_name() -> None:
    message = _error("kind: TestWorkflow\napiVersion: assay.dev/v1\nmetadata:\n  name: Bad_Name\n")
    assert message.startswith("defs/e2e.yaml:4: metadata.name: invalid name 'Bad_Name'")


def test_bad_yaml_reports_line_and_column() -> None:
    text = "kind: TestWorkflow\nmetadata:\n  name: x\n  labels: [a, b\nspec: {}\n"
    message = _error(text, "bad.yaml")
    match = re.match(r"bad\.yaml:(\d+):(\d+): invalid YAML: ", message)
    assert match, message
    assert int(match.group(1)) == 5


def test_tab_indentation_is_a_yaml_error() -> None:
    message = _error("kind: TestWorkflow\nmetadata:\n\tname: x\n", "tab.yaml")
    assert message.startswith("tab.yaml:3:1: invalid YAML: ")


def test_unknown_kind_lists_accepted_kinds_and_api_versions() -> None:
    message = _error("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n")
    assert message.startswith("defs/e2e.yaml:2: kind: unknown kind 'Secret'")
    for expected in (
        "TestWorkflow (testworkflows.testkube.io/v1, assay.dev/v1)",
        "TestWorkflowTemplate (testworkflows.testkube.io/v1, assay.dev/v1)",
        "Test (tests.testkube.io/v3)",
        "TestSuite (tests.testkube.io/v3)",
    ):
        assert expected in message


def test_wrong_api_version_for_kind() -> None:
    message = _error("kind: Test\napiVersion: tests.testkube.io/v1\nmetadata: {name: t}\n")
    assert message == (
        "defs/e2e.yaml:2: apiVersion: apiVersion 'tests.testkube.io/v1' is not accepted "
        "for kind Test; expected tests.testkube.io/v3"
    )


def test_missing_kind_and_non_mapping_documents() -> None:
    message = _error("metadata: {name: x}\n---\n- just\n- a list\n")
    lines = message.splitlines()
    assert lines[0].startswith("defs/e2e.yaml:1: kind: missing field 'kind'")
    assert lines[1] == "defs/e2e.yaml:3: a definition must be a mapping, not a list"


def test_errors_of_several_documents_and_files_are_collected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: Nope\n---\nkind: TestWorkflow\n")
    (tmp_path / "b.yaml").write_text("a: [\n")
    with pytest.raises(DefinitionError) as info:
        load_definitions(tmp_path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{tmp_path / 'a.yaml'}:1: kind: unknown kind 'Nope'")
    assert lines[1].startswith(f"{tmp_path / 'a.yaml'}:3: apiVersion: missing field")
    assert lines[2].startswith(f"{tmp_path / 'b.yaml'}:2:1: invalid YAML")


def test_duplicate_names_name_both_files(tmp_path: Path) -> None:
    doc = "kind: TestWorkflow\napiVersion: assay.dev/v1\nmetadata:\n  name: smoke\n"
    (tmp_path / "one.yaml").write_text(doc)
    (tmp_path / "two.yaml").write_text("# padding\n" + doc)
    with pytest.raises(DefinitionError) as info:
        load_definitions(tmp_path)
    message = str(info.value)
    assert f"{tmp_path / 'two.yaml'}:2: metadata.name: duplicate TestWorkflow 'smoke'" in message
    assert f"also defined at {tmp_path / 'one.yaml'}:1" in message


def test_same_name_different_kinds_is_fine() -> None:
    text = (
        "kind: TestWorkflow\napiVersion: assay.dev/v1\nmetadata: {name: same}\n---\n"
        "kind: TestWorkflowTemplate\napiVersion: assay.dev/v1\nmetadata: {name: same}\n"
    )
    assert [i.kind for i in load_text(text)] == ["TestWorkflow", "TestWorkflowTemplate"]


# --------------------------------------------------------------------------- hostile input


def test_alias_bomb_is_rejected() -> None:
    rows = ["a: &a ['x','x','x','x','x','x','x','x','x']"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        rows.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    message = _error("\n".join(rows) + "\n")
    assert "expands to more than" in message


def test_recursive_alias_is_rejected() -> None:
    assert "recursive YAML alias" in _error("kind: TestWorkflow\nx: &a [*a]\n")


def test_python_tags_are_not_constructed() -> None:
    message = _error("!!python/object/apply:os.system ['echo pwned']\n")
    assert "invalid YAML" in message and "python/object" in message


def test_file_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(DefinitionError, match="file too large"):
        load_definitions(big)


def test_invalid_utf8_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"kind: Test\nmetadata: {name: caf\xe9}\n")
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_definitions(bad)


def test_anchors_within_limits_are_fine() -> None:
    text = (
        "kind: TestWorkflow\napiVersion: assay.dev/v1\nmetadata: {name: anchors}\n"
        "spec:\n  steps:\n  - &step {name: one, shell: echo 1}\n  - *step\n"
    )
    (item,) = load_text(text)
    assert isinstance(item.model, TestWorkflow)
    assert [s.shell for s in item.model.spec.steps] == ["echo 1", "echo 1"]
