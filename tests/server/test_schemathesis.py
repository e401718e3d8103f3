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


@pytest.mark.slow
def test_no_request_gets_a_server_error(fuzzed: ApiServer, tmp_path: Path) -> None:
    done = subprocess.run(
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
            # revoking tokens it lists would leave the rest of the run at 401
            "--exclude-path-regex",
            "^/v1/tokens/",
            "--request-timeout",
            "10",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 generated" not in done.stdout
    assert " passed" in done.stdout
