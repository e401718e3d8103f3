from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_support import Cli

from assay.settings import Settings


@pytest.fixture
def cli(assay_home: Settings, tmp_path: Path) -> Cli:
    """The `assay` command with a private home and a private global git config."""
    env = {**os.environ, "ASSAY_HOME": str(assay_home.home)}
    gitconfig = tmp_path / "gitconfig"
    gitconfig.touch()
    env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    env.pop("PYTEST_ADDOPTS", None)
    return Cli(env, tmp_path)
