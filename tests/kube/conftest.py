from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from standin import StandIn

NAMESPACE = "tests"


@pytest.fixture
def standin(tmp_path: Path, docker_image: str) -> Iterator[StandIn]:
    """The Kubernetes API stand-in (tests/kube/standin), its Pods run on Docker."""
    with StandIn(tmp_path / "standin", NAMESPACE) as server:
        yield server
