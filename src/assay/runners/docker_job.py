"""What one Docker container of a task is: image, command, mounts, user, limits, labels.

:class:`DockerJob` is built from a :class:`~assay.runners.base.TaskSpec` (this machine's
paths mapped to the container's: the workspace's data directory at ``/data``, its reports
at ``/assay/reports``) and turned into the Engine API's create arguments. Nothing here
talks to Docker, so the mapping is checked without a daemon.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import DefinitionError
from assay.runners.base import TaskSpec

__all__ = [
    "DATA_MOUNT",
    "LABEL_EXECUTION",
    "LABEL_TASK",
    "LABEL_WORKSPACE",
    "REPORTS_MOUNT",
    "DockerJob",
    "container_mapper",
    "container_paths",
    "network_name",
    "parse_cpu",
    "parse_memory",
]

DATA_MOUNT = "/data"
REPORTS_MOUNT = "/assay/reports"
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
    ) -> DockerJob:
        """The container for ``spec``: paths mapped, limits and user from its settings;
        on ``network`` (the execution's) with the spec's aliases, else on the default
        bridge."""
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
        policy = spec.image_pull_policy or "IfNotPresent"  # `:latest` too: no registry needed
        if policy not in PULL_POLICIES:
            raise DefinitionError(f"imagePullPolicy {policy!r} is not one of {PULL_POLICIES}")
        limits = dict((spec.resources or {}).get("limits") or {})
        return cls(
            image=image,
            entrypoint=argv[:1] or None,
            command=argv[1:] if argv else None,
            working_dir=to_container(str(spec.working_dir)),
            environment={k: to_container(v) for k, v in spec.declared_env.items()},
            binds=binds,
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


def _user(security: Mapping[str, Any]) -> str | None:
    """``runAsUser[:runAsGroup]`` of a securityContext, as Docker's ``user``."""
    uid, gid = security.get("runAsUser"), security.get("runAsGroup")
    if uid is None:
        return None if gid is None else f"0:{int(gid)}"
    return f"{int(uid)}" if gid is None else f"{int(uid)}:{int(gid)}"
