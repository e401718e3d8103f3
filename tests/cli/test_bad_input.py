"""Malformed definitions exit 2 naming file and line/field path; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Cli

GOOD_HEAD = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata:
  name: broken
spec:
"""

CASES = {
    "bad-yaml": ("apiVersion: x\nkind: [unclosed\n", ["bad-yaml.yaml", "line"]),
    "unknown-kind": (
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestFlow\nmetadata: {name: x}\n",
        ["unknown-kind.yaml", "TestFlow"],
    ),
    "wrong-type": (
        GOOD_HEAD + "  steps:\n    - name: s\n      retry:\n        count: many\n",
        ["wrong-type.yaml:9", "spec.steps[0].retry.count"],
    ),
    "unknown-field": (
        GOOD_HEAD + "  steps:\n    - name: s\n      shel: echo typo\n",
        ["unknown-field.yaml:8", "spec.steps[0].shel"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_definition(cli: Cli, tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    for command in (
        ["validate", "-f", str(path)],
        ["apply", "-f", str(path)],
        ["run", "-f", str(path), "broken"],
    ):
        done = cli(*command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        for fragment in expected:
            assert fragment in done.stderr, (command, fragment, done.stderr)
    assert cli.json("get", "workflows", "-o", "json") == []
    assert cli.json("get", "executions", "-o", "json") == []


def test_bad_arguments_exit_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        GOOD_HEAD + "  config:\n    n: {type: integer, default: 1}\n  steps: [{shell: 'true'}]\n"
    )
    assert cli("run", "-f", str(path), "broken", "--config", "n=lots").returncode == 2
    assert cli("run", "-f", str(path), "broken", "--tag", "novalue").returncode == 2
    assert cli("run", "nothing-applied").returncode == 2
    assert cli("get", "execution", "deadbeef").returncode == 2
    assert cli.json("get", "executions", "-o", "json") == []
