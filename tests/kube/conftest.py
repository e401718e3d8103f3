from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from standin import StandIn

from assay.settings import Settings
from support import Cli

NAMESPACE = "tests"


@pytest.fixture
def standin(tmp_path: Path, docker_image: str) -> Iterator[StandIn]:
    """The Kubernetes API stand-in (tests/kube/standin), its Pods run on Docker."""
    with StandIn(tmp_path / "standin", NAMESPACE) as server:
        yield server


@pytest.fixture
def cli(assay_home: Settings, tmp_path: Path, standin: StandIn) -> Cli:
    """The real `assay` console script, its kubeconfig the stand-in's."""
    env = {**os.environ, "ASSAY_HOME": str(assay_home.home), "KUBECONFIG": str(standin.kubeconfig)}
    env.pop("PYTEST_ADDOPTS", None)
    return Cli(env, tmp_path)
