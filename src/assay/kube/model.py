"""What an execution needs in the cluster, before it is made into objects: Pods of containers.

Each step that runs something is one container (:class:`PodStep`) of the execution's Pod,
in order; a group of steps has no container of its own, its condition and timeout travel
with its steps as :class:`Gate` s. ``parallel`` workers are Pods of their own
(:class:`PodPlan`), ``services`` are Pods reached by a DNS name (:class:`ServicePlan`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from assay.errors import DefinitionError
from assay.kube.names import ExecutionIdentity, dns_label
from assay.spec.workflow import Container, EnvVar, Execute

__all__ = [
    "ARTIFACTS_LIMIT",
    "DATA",
    "ENTRY",
    "HELPER_SECURITY",
    "PARALLELISM_ANNOTATION",
    "FilePlan",
    "Gate",
    "Plan",
    "PlanOptions",
    "PodPlan",
    "PodStep",
    "ServicePlan",
    "Settings",
    "under_data",
]

DATA = "/data"
"""The Pod's shared emptyDir."""
ENTRY = "/.assay/entry.sh"
"""The entry script, from the execution's ConfigMap."""
PARALLELISM_ANNOTATION = "assay.io/parallelism"
"""On a ``parallel`` worker's Job: how many of the group's workers run at once."""
ARTIFACTS_LIMIT = 5 * 1024 * 1024
"""Bytes of artifacts an execution keeps by default (``ASSAY_KUBERNETES_ARTIFACTS_LIMIT``):
they reach the runner as base64 in the ``result`` container's log, and a kubelet rotates a
container's log at 10 MiB by default (``containerLogMaxSize``); logs are not a bulk channel."""
HELPER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
"""The securityContext of assay's own containers (clone, copy files, wait, result) when no
step's applies: nothing they do needs a privilege."""
_ENTRY_DEFAULTS: dict[str, Any] = {
    "condition": "passed",
    "retries": 0,
    "until": "passed",
    "negative": 0,
    "optional": 0,
    "blocking": 1,
    "junit": 0,
    "failure": "failed",
    "grace": 10,
    "cap": ARTIFACTS_LIMIT,
}
"""Options `entry.sh step` assumes when they are not given."""


@dataclass(frozen=True)
class PlanOptions:
    """Choices of the person rendering: the namespace and the image that clones git (also
    the image of containers that only wait or copy files when no step image is set)."""

    namespace: str = "assay"
    git_image: str = "alpine/git"
    default_image: str | None = None
    """The image of steps that name none (``ASSAY_KUBERNETES_IMAGE``)."""
    cleanup_grace: int = 10
    """Seconds an ``always`` step gets once the execution deadline has passed."""
    artifacts_limit: int = ARTIFACTS_LIMIT
    """Bytes of artifacts the execution keeps at most (:data:`ARTIFACTS_LIMIT`)."""

    @classmethod
    def from_env(cls, namespace: str) -> PlanOptions:
        """The choices of this machine's environment (``ASSAY_KUBERNETES_GIT_IMAGE``,
        ``ASSAY_KUBERNETES_IMAGE``, ``ASSAY_KUBERNETES_ARTIFACTS_LIMIT``) for ``namespace``."""
        limit = os.environ.get("ASSAY_KUBERNETES_ARTIFACTS_LIMIT") or str(ARTIFACTS_LIMIT)
        if not limit.isdigit():
            raise DefinitionError(
                f"ASSAY_KUBERNETES_ARTIFACTS_LIMIT={limit!r}: not a number of bytes"
            )
        return cls(
            namespace=namespace,
            git_image=os.environ.get("ASSAY_KUBERNETES_GIT_IMAGE") or cls.git_image,
            default_image=os.environ.get("ASSAY_KUBERNETES_IMAGE") or None,
            artifacts_limit=int(limit),
        )


@dataclass(frozen=True)
class Gate:
    """An enclosing step group: its ref, decided condition and timeout (seconds)."""

    ref: str
    condition: str
    timeout: int | None = None

    def arg(self) -> str:
        return f"{self.ref}:{self.condition}:{self.timeout or ''}"


@dataclass(frozen=True)
class Settings:
    """Container settings inherited down the step tree (the engine's ``Frame``)."""

    image: str | None = None
    pull_policy: str | None = None
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[dict[str, Any], ...] = ()
    working_dir: str | None = None
    resources: dict[str, Any] | None = None
    security: dict[str, Any] | None = None
    mounts: tuple[dict[str, Any], ...] = ()

    def merge(self, container: Container | None, working_dir: str | None = None) -> Settings:
        merged = self
        if container is not None:
            merged = replace(
                merged,
                image=container.image or merged.image,
                pull_policy=container.image_pull_policy or merged.pull_policy,
                env=(*merged.env, *container.env),
                env_from=(*merged.env_from, *container.env_from),
                working_dir=container.working_dir or merged.working_dir,
                resources=container.resources or merged.resources,
                security=container.security_context or merged.security,
                mounts=(*merged.mounts, *container.volume_mounts),
            )
        return replace(merged, working_dir=working_dir) if working_dir else merged


@dataclass
class PodStep:
    """One container of a Pod: a step (or a content check-out) run by the entry script."""

    ref: str
    name: str
    argv: list[str]
    image: str
    env: list[dict[str, Any]]
    settings: Settings
    working_dir: str | None = None
    condition: str = "passed"
    retries: int = 0
    until: str = "passed"
    timeout: int | None = None
    delay: int | None = None
    negative: bool = False
    optional: bool = False
    blocking: bool = True
    gates: tuple[Gate, ...] = ()
    needs: str | None = None
    junit: bool = True
    failure: str = "failed"
    deadline: int | None = None
    grace: int = 10
    content: bool = False
    """A check-out or copy of ``content``, not a step of the workflow."""
    artifacts: list[str] = field(default_factory=list)
    """``artifacts.paths`` globs to copy after the last attempt, relative to ``artifacts_dir``."""
    artifacts_dir: str | None = None
    artifacts_limit: int = ARTIFACTS_LIMIT

    @property
    def container_name(self) -> str:
        return dns_label(f"step-{self.ref}")

    def secret_variables(self) -> list[str]:
        """The names of its variables from Secrets, whose values the entry script masks."""
        return [var["name"] for var in self.env if "secretKeyRef" in var.get("valueFrom", {})]

    def junit_target(self) -> str | None:
        """The JUnit report its command names (``--junit-xml``, which replaces the entry
        script's own), as a path in the container."""
        for index, arg in enumerate(self.argv):
            for option in ("--junit-xml", "--junitxml"):
                if arg.startswith(f"{option}="):
                    path = arg.split("=", 1)[1]
                elif arg == option and index + 1 < len(self.argv):
                    path = self.argv[index + 1]
                else:
                    continue
                return posixpath.join(self.working_dir or DATA, path)
        return None

    def entry_args(self) -> list[str]:
        """``entry.sh step`` options, then ``--`` and the command."""
        options: dict[str, Any] = {
            "ref": self.ref,
            "condition": self.condition,
            "retries": self.retries,
            "until": self.until,
            "timeout": self.timeout,
            "delay": self.delay,
            "negative": int(self.negative),
            "optional": int(self.optional),
            "blocking": int(self.blocking),
            "dir": self.working_dir,
            "groups": ",".join(gate.arg() for gate in self.gates) or None,
            "needs": self.needs,
            "junit": int(self.junit),
            "failure": self.failure,
            "deadline": self.deadline,
            "grace": self.grace,
            "mask": ",".join(self.secret_variables()) or None,
            "xml": self.junit_target() if self.junit else None,
            "artifacts": "\n".join(self.artifacts) or None,
            "artdir": self.artifacts_dir if self.artifacts else None,
            "cap": self.artifacts_limit if self.artifacts else None,
        }
        given = [
            f"{key}={value}"
            for key, value in options.items()
            if value is not None and _ENTRY_DEFAULTS.get(key) != value
        ]
        return ["step", *given, "--", *self.argv]


@dataclass(frozen=True)
class FilePlan:
    """A ``content.files`` entry: ``key`` in the ConfigMap (or a Secret/ConfigMap item)."""

    key: str
    path: str
    mode: int | None
    listing: str
    """The ConfigMap key of the list the entry script copies it by (one per content)."""
    text: str | None = None
    source: dict[str, Any] | None = None
    """``secret`` or ``configMap`` projection of a ``contentFrom`` reference."""


@dataclass
class PodPlan:
    """A Pod of the execution (the main one, or a ``parallel`` worker) and its Job."""

    name: str
    steps: list[PodStep] = field(default_factory=list)
    files: list[FilePlan] = field(default_factory=list)
    file_mounts: list[dict[str, Any]] = field(default_factory=list)
    pod: dict[str, Any] = field(default_factory=dict)
    job_labels: dict[str, str] = field(default_factory=dict)
    job_annotations: dict[str, str] = field(default_factory=dict)
    deadline: int | None = None
    step_ref: str | None = None
    """The ``parallel`` step a worker belongs to (None for the main Pod)."""
    worker: int | None = None

    @property
    def copied_files(self) -> list[FilePlan]:
        return [item for item in self.files if under_data(item.path)]


@dataclass(frozen=True)
class ServicePlan:
    """One instance of a ``services`` entry: a Pod behind a headless Service."""

    name: str
    index: int
    pod_name: str
    service_name: str
    step_ref: str | None
    container: dict[str, Any]
    settings: Settings
    pod: dict[str, Any]
    restart_policy: str
    readiness_probe: dict[str, Any] | None
    timeout: int | None = None
    """Seconds within which it must be ready (the service's ``timeout``); None: the runner's."""
    keep_logs: bool = True
    """False under ``logs: never``: no ``services/NAME-<index>.log`` artifact."""

    @property
    def hostname(self) -> str:
        return dns_label(f"{self.name}-{self.index}")


@dataclass
class Plan:
    """Everything an execution needs in the cluster."""

    identity: ExecutionIdentity
    options: PlanOptions
    main: PodPlan
    workers: list[PodPlan] = field(default_factory=list)
    services: list[ServicePlan] = field(default_factory=list)
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    """Secrets the runner creates (name -> data): literal git credentials."""
    sensitive: list[str] = field(default_factory=list)
    """Values never to print: sensitive config, literal credentials."""
    notes: list[str] = field(default_factory=list)
    """What the Kubernetes runner does not do with this workflow."""
    executes: dict[str, Execute] = field(default_factory=dict)
    """The main Pod's ``execute`` steps by the ref it waits on: the runner runs them."""

    def pods(self) -> Iterator[PodPlan]:
        yield from self.workers
        yield self.main


def under_data(path: str) -> bool:
    """Whether ``path`` is on the Pod's shared volume."""
    return path == DATA or path.startswith(DATA + "/")
