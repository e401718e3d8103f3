from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_support import GitHubStandIn, InProcess, serve

from assay.settings import Settings
from support import Cli


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """The GitHub (and Slack) stand-in; every body it received must match GitHub's schema."""
    stand_in = GitHubStandIn()
    server = serve(stand_in)
    yield stand_in
    server.shutdown()
    server.server_close()
    assert stand_in.schema_errors == []


@pytest.fixture
def cli(assay_home: Settings, tmp_path: Path) -> Cli:
    """The `assay` command with a private home, outside any real CI environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ASSAY_", "PYTEST_")) and k not in ("CI", "GH_TOKEN")
    }
    env["ASSAY_HOME"] = str(assay_home.home)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return Cli(env, tmp_path)


@pytest.fixture
def assay(assay_home: Settings) -> InProcess:
    """`assay` in this process with a private home and no CI environment (unset here)."""
    env: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("GITHUB_", "ASSAY_")) or k == "GH_TOKEN"
    }
    env["ASSAY_HOME"] = str(assay_home.home)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return InProcess(env)
