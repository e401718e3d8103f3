"""Schemathesis over the whole OpenAPI document of a real server, with an admin token: no
request it generates (boundary and malformed values included) gets a 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_support import ApiServer, running_server

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[ApiServer]:
    url = f"sqlite:///{tmp_path / 'home' / 'assay.db'}"
    with running_server(tmp_path / "home", url) as server:
        with server.client("admin") as client:  # something to find besides 404s
            client.post(
                "/v1/test-workflows",
                json={
                    "apiVersion": "testworkflows.testkube.io/v1",
                    "kind": "TestWorkflow",
                    "metadata": {"name": "fuzzed"},
                    "spec": {"steps": [{"name": "s", "shell": "echo fuzz"}]},
                },
            ).raise_for_status()
        yield server


# Two processes with one worker each rather than one with two threads: CPython 3.11's ast.parse
# is not thread-safe ("AST constructor recursion depth mismatch"), and hypothesis parses lambdas.
HALVES = (
    ("--include-path-regex", "^/v1/test-workflow"),
    # revoking tokens it lists would leave the rest of the run at 401
    ("--exclude-path-regex", "^/v1/(tokens/|test-workflow)"),
)


@pytest.mark.slow
def test_no_request_gets_a_server_error(fuzzed: ApiServer, tmp_path: Path) -> None:
    runs = [
        subprocess.Popen(
            [
                SCHEMATHESIS,
                "run",
                f"{fuzzed.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {fuzzed.tokens['admin']}",
                "--checks",
                "not_a_server_error",
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                "3",
                *half,
                "--request-timeout",
                "10",
                "--seed",
                "1",
                "--generation-database",
                "none",
                "--workers",
                "1",
                "--no-color",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in HALVES
    ]
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stdout[-6000:] + stderr[-2000:]
        assert "0 generated" not in stdout
        assert " passed" in stdout
