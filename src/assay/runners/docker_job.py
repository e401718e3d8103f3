"""What one Docker container of a task is: image, command, mounts, user, limits, labels.

:class:`DockerJob` is built from a :class:`~assay.runners.base.TaskSpec` (this machine's
paths mapped to the container's: the workspace's data directory at ``/data``, its reports
at ``/assay/reports``) and turned into the Engine API's create arguments. assay's
pytest plugin for any Python (:mod:`assay.pytest_attempts`, found without importing it)
is mounted read-only in ``/opt/assay/pytest`` and named in ``PYTHONPATH`` and
``PYTEST_ADDOPTS``, so
pytest in the image writes per-attempt reports and re-runs only failed tests. Nothing here
talks to Docker, so the mapping is checked without a daemon.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import DefinitionError, InfrastructureError
from assay.runners.base import TaskSpec

__all__ = [
    "DATA_MOUNT",
    "LABEL_EXECUTION",
    "LABEL_TASK",
    "LABEL_WORKSPACE",
    "PLUGIN_MODULE",
    "PLUGIN_MOUNT",
    "REPORTS_MOUNT",
    "DockerJob",
    "container_mapper",
    "container_paths",
    "network_name",
    "parse_cpu",
    "parse_memory",
    "pull_policy",
]

DATA_MOUNT = "/data"
REPORTS_MOUNT = "/assay/reports"
PLUGIN_MOUNT = "/opt/assay/pytest"
"""Where containers see assay's pytest plugin: one module, loaded by ``-p``."""
PLUGIN_MODULE = "assay_pytest_attempts"
"""Its name in containers (``assay.pytest_attempts`` here)."""
LABEL_EXECUTION = "assay.execution"
LABEL_STEP = "assay.step"
LABEL_TASK = "assay.task"
LABEL_WORKSPACE = "assay.workspace"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

_MEMORY_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_cpu(value: Any) -> int:
    """A Kubernetes CPU quantity (``500m``, ``1.5``, ``2``) as Docker nano-CPUs."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) not in ("", "m"):
        raise DefinitionError(f"resources: {value!r} is not a CPU quantity (e.g. 500m, 2)")
    number = float(match.group(1))
    return int(number * (10**6 if match.group(2) == "m" else 10**9))


def parse_memory(value: Any) -> int:
    """A Kubernetes memory quantity (``256Mi``, ``1G``, ``1048576``) in bytes."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) not in _MEMORY_UNITS:
        raise DefinitionError(f"resources: {value!r} is not a memory quantity (e.g. 256Mi)")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


def pull_policy(spec: TaskSpec) -> str:
    """The task's ``imagePullPolicy``, checked (``IfNotPresent`` by default, ``:latest``
    too: local images need no registry)."""
    policy = spec.image_pull_policy or "IfNotPresent"
    if policy not in PULL_POLICIES:
        raise DefinitionError(f"imagePullPolicy {policy!r} is not one of {PULL_POLICIES}")
    return policy


def container_paths(workspace: Path, data: Path | None = None) -> dict[str, str]:
    """This machine's workspace directories -> where containers see them (``data``: the
    directory mounted at ``/data``, the workspace's own by default)."""
    data = data or workspace / "data"
    return {str(data): DATA_MOUNT, str(workspace / "reports"): REPORTS_MOUNT}


def network_name(workspace: Path) -> str:
    """The Docker network of the execution whose workspace is ``workspace``."""
    return f"assay-{workspace.name}"


def container_mapper(workspace: Path, data: Path | None = None) -> Callable[[str], str]:
    """Text with this machine's workspace paths -> the same text with the container's."""
    table = container_paths(workspace, data)
    pattern = re.compile("|".join(re.escape(host) for host in sorted(table, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda m: table[m.group(0)], text)


@dataclass(frozen=True, slots=True)
class DockerJob:
    """The container of one task, in the Engine API's terms."""

    image: str
    entrypoint: list[str] | None
    command: list[str] | None
    working_dir: str
    environment: dict[str, str]
    binds: dict[str, dict[str, str]]
    labels: dict[str, str]
    user: str | None = None
    nano_cpus: int | None = None
    mem_limit: int | None = None
    pull_policy: str = "IfNotPresent"
    network: str = "bridge"
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_spec(
        cls,
        spec: TaskSpec,
        image: str,
        labels: Mapping[str, str],
        network: str | None = None,
        image_env: Mapping[str, str] | None = None,
    ) -> DockerJob:
        """The container for ``spec``: paths mapped, limits and user from its settings;
        on ``network`` (the execution's) with the spec's aliases, else on the default
        bridge; ``image_env`` (the image's own variables) keeps its ``PYTHONPATH``."""
        to_container = container_mapper(spec.workspace, spec.data)
        argv = [to_container(part) for part in spec.command]
        binds = {
            host: {"bind": inside, "mode": "rw"}
            for host, inside in container_paths(spec.workspace, spec.data).items()
        }
        # `--source` checkouts are symlinks out of the data directory: mount their targets
        # at the same path, so that the links resolve inside the container too.
        data = spec.data
        for entry in sorted(data.iterdir()) if data.is_dir() else ():
            if entry.is_symlink() and entry.resolve().is_dir():
                target = str(entry.resolve())
                binds.setdefault(target, {"bind": target, "mode": "rw"})
        policy = pull_policy(spec)
        limits = dict((spec.resources or {}).get("limits") or {})
        return cls(
            image=image,
            entrypoint=argv[:1] or None,
            command=argv[1:] if argv else None,
            working_dir=to_container(str(spec.working_dir)),
            environment=_with_plugin(
                {k: to_container(v) for k, v in spec.declared_env.items()}, image_env or {}
            ),
            binds={**binds, **_plugin_binds()},
            labels={
                LABEL_EXECUTION: spec.workspace.name,
                LABEL_STEP: spec.name,
                LABEL_WORKSPACE: str(spec.workspace),
                **labels,
            },
            user=_user(spec.security_context or {}),
            nano_cpus=parse_cpu(limits["cpu"]) if "cpu" in limits else None,
            mem_limit=parse_memory(limits["memory"]) if "memory" in limits else None,
            pull_policy=policy,
            network=network or "bridge",
            aliases=tuple(spec.aliases) if network else (),
        )

    def create_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``client.containers.create``: never privileged, never the
        host's network, no Docker socket (only the workspace directories are mounted).
        Aliases need an endpoint configuration, which only a client can build: see
        :meth:`assay.runners.docker.DockerRunner.start`."""
        arguments: dict[str, Any] = {
            "image": self.image,
            "working_dir": self.working_dir,
            "environment": self.environment,
            "volumes": self.binds,
            "labels": self.labels,
            "detach": True,
            "privileged": False,
            "init": True,  # signals reach the command (a server as PID 1 ignores SIGTERM)
            "network": self.network,
            "stdin_open": False,
            "tty": False,
        }
        if self.entrypoint is not None:
            arguments["entrypoint"] = self.entrypoint
            arguments["command"] = self.command or []
        optional = {"user": self.user, "nano_cpus": self.nano_cpus, "mem_limit": self.mem_limit}
        arguments.update({k: v for k, v in optional.items() if v is not None})
        return arguments


def _plugin_binds() -> dict[str, dict[str, str]]:
    """The plugin's file, read-only in :data:`PLUGIN_MOUNT` (located, not imported: it
    imports pytest)."""
    found = importlib.util.find_spec("assay.pytest_attempts")
    if found is None or found.origin is None:  # pragma: no cover - part of this package
        raise InfrastructureError("assay.pytest_attempts is missing from this installation")
    bind = f"{PLUGIN_MOUNT}/{PLUGIN_MODULE}.py"
    return {found.origin: {"bind": bind, "mode": "ro"}}


def _with_plugin(environment: dict[str, str], image_env: Mapping[str, str]) -> dict[str, str]:
    """``environment`` with the plugin importable (after the step's, else the image's,
    ``PYTHONPATH``) and loaded by any pytest (before the step's ``PYTEST_ADDOPTS``)."""
    path = environment.get("PYTHONPATH", image_env.get("PYTHONPATH", ""))
    addopts = environment.get("PYTEST_ADDOPTS", image_env.get("PYTEST_ADDOPTS", ""))
    return {
        **environment,
        "PYTHONPATH": ":".join(part for part in (path, PLUGIN_MOUNT) if part),
        "PYTEST_ADDOPTS": f"-p {PLUGIN_MODULE} {addopts}".strip(),
    }


def _user(security: Mapping[str, Any]) -> str | None:
    """``runAsUser[:runAsGroup]`` of a securityContext, as Docker's ``user``."""
    uid, gid = security.get("runAsUser"), security.get("runAsGroup")
    if uid is None:
        return None if gid is None else f"0:{int(gid)}"
    return f"{int(uid)}" if gid is None else f"{int(uid)}:{int(gid)}"
