"""Secrets that are hard to mask never leave an execution in clear text.

Two kinds of secret break naive masking: a multi-line one (a private key), whose lines reach
the log one at a time and pytest's traces prefixed by ``E   ``; and a short secret inside a
longer one (its start), which leaks the rest of the longer one when the short one is
replaced first.
Both go through a real run (a step printing them, a real pytest failing with them in its
message and trace) and are looked for in every place a user sees: the log, the console, the
``-o json`` outputs (the API of today) and the database file.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import Cli

from assay.settings import Settings
from assay.store import SecretStore

KEY_LINES = ("-----BEGIN TEST KEY-----", "keyline-alpha-7f3e", "keyline-bravo-91c2")
PRIVATE_KEY = "\n".join([*KEY_LINES, "-----END TEST KEY-----"])
INNER = "inner-token-5150"
OUTER = f"{INNER}-tail-8086"  # where both match at one place, the longer must win
# What a wrong masking order or a missed line would leave visible.
LEAKS = ("keyline-alpha", "keyline-bravo", "BEGIN TEST KEY", INNER, "-tail-8086")

TESTS = """\
import os


def test_key_matches():
    key = os.environ["PRIVATE_KEY"]
    assert key == "expected", key


def test_token_matches():
    token = os.environ["OUTER"]
    assert token.startswith("nothing"), f"token was {token} (inner {os.environ['INNER']})"
"""

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: masked}}
spec:
  container:
    workingDir: {project}
    env:
      - {{name: PRIVATE_KEY, valueFrom: {{secretKeyRef: {{name: vault, key: key}}}}}}
      - {{name: OUTER, valueFrom: {{secretKeyRef: {{name: vault, key: outer}}}}}}
      - {{name: INNER, valueFrom: {{secretKeyRef: {{name: vault, key: inner}}}}}}
  steps:
    - name: print
      optional: true
      shell: |
        printf '%s\\n' "$PRIVATE_KEY"
        echo "outer=$OUTER inner=$INNER"
    - name: tests
      # -rN: pytest's short summary cuts messages to the terminal width, and a cut secret
      # (its first half) is no longer the registered value: no masker can find it
      shell: python -m pytest -q -rN -p no:cacheprovider
"""


def _assert_masked(where: str, text: str) -> None:
    found = [leak for leak in LEAKS if leak in text]
    assert not found, f"{where} shows {found}"


def test_multi_line_and_nested_secrets_are_masked_everywhere(
    cli: Cli, assay_home: Settings, tmp_path: Path
) -> None:
    # registered inner first: masking must not depend on the order secrets are added in
    SecretStore(assay_home.secrets_dir).set(
        "vault", {"inner": INNER, "outer": OUTER, "key": PRIVATE_KEY}
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_secrets.py").write_text(TESTS, encoding="utf-8")
    definition = tmp_path / "masked.yaml"
    definition.write_text(WORKFLOW.format(project=project), encoding="utf-8")

    ran = cli("run", "-f", str(definition), "-o", "json", check=1)
    _assert_masked("assay run -o json", ran.stdout + ran.stderr)
    execution = cli.json("get", "execution", json.loads(ran.stdout)["id"])
    _assert_masked("assay get execution -o json", str(execution))
    assert execution["status"] == "failed"
    log = (assay_home.executions_dir / execution["id"] / "log.txt").read_text(encoding="utf-8")
    _assert_masked("log.txt", log)
    # each line of the key was printed on its own and masked on its own
    assert log.count("***") >= len(KEY_LINES) + 2, log
    assert "outer=*** inner=***" in log

    cases = {case["name"]: case for case in cli.json("get", "testcases", execution["id"])}
    assert {name: case["status"] for name, case in cases.items()} == {
        "test_key_matches": "failed",
        "test_token_matches": "failed",
    }
    for name, case in cases.items():
        _assert_masked(f"{name} message", case["message"])
        _assert_masked(f"{name} trace", case["trace"])
        assert "***" in case["message"] and "***" in case["trace"]
    assert "token was *** (inner ***)" in cases["test_token_matches"]["message"]

    dump = b"".join(path.read_bytes() for path in assay_home.home.glob("assay.db*"))
    _assert_masked("the database file", dump.decode("latin-1"))
