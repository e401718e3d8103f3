"""Runners: where a task's processes run (local, docker, fake); ``--runner kubernetes`` is
:mod:`assay.kube.live`, which runs a whole execution as one Job."""

from __future__ import annotations

from assay.runners.base import Runner, TaskHandle, TaskResult, TaskSpec
from assay.runners.fake import FakeOutcome, FakeRunner
from assay.runners.local import LocalRunner

__all__ = [
    "RUNNER_NAMES",
    "FakeOutcome",
    "FakeRunner",
    "LocalRunner",
    "Runner",
    "TaskHandle",
    "TaskResult",
    "TaskSpec",
    "get_runner",
]

RUNNER_NAMES = ("local", "docker")
"""The runners :func:`get_runner` knows."""


def get_runner(name: str) -> Runner:
    """A runner by name."""
    from assay.errors import DefinitionError

    if name == "local":
        return LocalRunner()
    if name == "docker":
        from assay.runners.docker import DockerRunner  # the docker SDK only when used

        return DockerRunner()
    raise DefinitionError(f"unknown runner {name!r}; available: {', '.join(RUNNER_NAMES)}")
