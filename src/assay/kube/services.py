"""The ``services`` of a Kubernetes execution, run live: their Pods awaited until Ready
before the Job is created, their logs kept as artifacts.

A service's Pod is ready when its ``Ready`` condition is true: the kubelet runs its
``readinessProbe`` (without one, Ready once its container runs). It is not ready, and the
execution ends in ``error`` naming the service and the instance, when its Pod ends first, when
its container cannot start (an image that cannot be pulled, a missing Secret key), when the Pod
is deleted, or once its ``timeout`` (else ``ASSAY_KUBERNETES_SERVICE_TIMEOUT`` seconds) has
passed. Each instance's output is kept, masked, as the artifact ``services/NAME-<index>.log``
(mode 0600) unless ``logs: never``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import InfrastructureError
from assay.kube.cluster import Cluster
from assay.kube.follow import FATAL_WAITING
from assay.kube.render import (
    LOGS_ANNOTATION,
    READY_TIMEOUT_ANNOTATION,
    SERVICE_ANNOTATION,
    SERVICE_INDEX_LABEL,
)

__all__ = ["ServicePod", "await_ready", "keep_log", "log_tail"]

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class ServicePod:
    """One instance of a ``services`` entry, as its rendered Pod says."""

    name: str
    index: int
    pod: str
    container: str
    timeout: float | None
    keep_logs: bool

    @property
    def label(self) -> str:
        return f"service {self.name!r} (instance {self.index})"

    @property
    def artifact(self) -> str:
        return f"services/{self.name}-{self.index}.log"

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> ServicePod | None:
        """The service instance a rendered object is the Pod of; None for other objects."""
        meta = item["metadata"]
        annotations = meta.get("annotations") or {}
        if item["kind"] != "Pod" or SERVICE_ANNOTATION not in annotations:
            return None
        timeout = annotations.get(READY_TIMEOUT_ANNOTATION)
        return cls(
            name=annotations[SERVICE_ANNOTATION],
            index=int(meta["labels"][SERVICE_INDEX_LABEL]),
            pod=meta["name"],
            container=item["spec"]["containers"][0]["name"],
            timeout=None if timeout is None else float(timeout),
            keep_logs=annotations.get(LOGS_ANNOTATION) != "never",
        )


def await_ready(
    cluster: Cluster, service: ServicePod, deadline: float, limit: float, cancel: threading.Event
) -> str | None:
    """Wait until the Pod of ``service`` is Ready (or ``cancel`` is set): None, else why it
    was not by ``deadline`` (monotonic; ``limit`` seconds after the services were created)."""
    what = f"{service.label}: Pod {service.pod}"
    while True:
        try:
            pod = cluster.read_pod(service.pod)
        except InfrastructureError as exc:
            if ": 404 " in str(exc):
                return f"{what} was deleted before it was ready"
            raise
        status = pod.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if (conditions.get("Ready") or {}).get("status") == "True":
            return None
        fault = _fault(status)
        if fault is not None:
            return f"{what}: {fault}"
        if time.monotonic() >= deadline:
            return f"{what} was not ready within {limit:g}s ({_state(status, conditions)})"
        if cancel.wait(POLL_SECONDS):
            return None


def _fault(status: Mapping[str, Any]) -> str | None:
    """Why the Pod will never be ready by itself: ended, or a container that cannot start."""
    for entry in status.get("containerStatuses") or []:
        state = entry.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING:  # will not start by itself: not ready, at once
            return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
        ended = state.get("terminated")
        if ended is not None and status.get("phase") in ("Succeeded", "Failed"):
            reason = ended.get("reason") or "Error"
            return f"ended before it was ready (exit code {ended.get('exitCode')}, {reason})"
    if status.get("phase") in ("Succeeded", "Failed"):
        reason = status.get("reason") or status.get("phase")
        return f"ended before it was ready ({reason}: {status.get('message', '')})".replace(
            ": )", ")"
        )
    return None


def _state(status: Mapping[str, Any], conditions: Mapping[str, Any]) -> str:
    """The Pod's phase and its last word on readiness or scheduling."""
    phase = status.get("phase") or "Pending"
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return f"{phase}, unschedulable: {scheduled.get('message', '')}".rstrip(": ")
    for entry in status.get("containerStatuses") or []:
        waiting = (entry.get("state") or {}).get("waiting")
        if waiting:
            return f"{phase}, {waiting.get('reason', 'waiting')}"
    ready = conditions.get("Ready") or {}
    detail = ready.get("message") or ready.get("reason")
    return f"{phase}, Ready {ready.get('status', 'False')}" + (f": {detail}" if detail else "")


def log_tail(cluster: Cluster, service: ServicePod, lines: int = 10) -> list[str]:
    """The last lines the service's container wrote (none if it has no log yet)."""
    try:
        text = cluster.read_log(service.pod, service.container).decode("utf-8", "replace")
    except InfrastructureError:
        return []
    return text.splitlines()[-lines:]


def keep_log(
    cluster: Cluster, service: ServicePod, artifacts: Path, mask: Callable[[str], str]
) -> str | None:
    """Write the service's output, masked, as its artifact; why not, if it was not."""
    try:
        data = cluster.read_log(service.pod, service.container)
    except InfrastructureError as exc:
        if "waiting to start" in str(exc):  # its container never ran: there is no output
            return None
        return f"{service.label}: log not kept: {exc}"
    target = artifacts / service.artifact
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
            out.write(mask(data.decode("utf-8", "replace")).encode("utf-8"))
    except OSError as exc:
        return f"{service.label}: log not kept: {exc}"
    return None
