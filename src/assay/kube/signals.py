"""The runner's signals to an execution's Pod, without ``pods/exec``: annotations of the Pod.

The runner patches the Pod's ``metadata.annotations`` (``assay.io/signal.REF: STATUS`` for a
waiting ``parallel`` or ``execute`` step, ``assay.io/abort: REASON`` to abort); every
container of the Pod mounts a ``downwardAPI`` volume of those annotations (:data:`POD_INFO`),
which the kubelet rewrites when they change, and ``entry.sh`` reads it in ``wait`` and in its
watchdog. A kubelet refreshes the file on its sync period (typically under a minute), so the
runner allows :data:`SIGNAL_DELAY` (``ASSAY_KUBERNETES_SIGNAL_DELAY``) for it.

:class:`Stopper` is an execution's abort: the first one sets the annotation and lets the Pod
run its ``always`` steps (they record their logs and results as usual) within a bounded
grace, then the Job is deleted; with no ``always`` step still to run, a second abort, the
grace over or the Pod not reachable, the Job is deleted at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assay.errors import InfrastructureError

if TYPE_CHECKING:
    from assay.kube.cluster import Cluster

__all__ = [
    "ABORT_ANNOTATION",
    "POD_INFO",
    "POD_INFO_VOLUME",
    "SIGNAL_DELAY",
    "SIGNAL_PREFIX",
    "Stopper",
    "abort_patch",
    "always_left",
    "pod_info_volume",
    "signal_patch",
]

ABORT_ANNOTATION = "assay.io/abort"
SIGNAL_PREFIX = "assay.io/signal."
POD_INFO = "/.assay-pod"
"""Where every container of the Pod sees its annotations (file ``annotations``)."""
POD_INFO_VOLUME = "assay-pod"
SIGNAL_DELAY = 60.0
"""Seconds a kubelet may take to refresh a downwardAPI file (``ASSAY_KUBERNETES_SIGNAL_DELAY``):
its sync period, typically under a minute."""
SLACK = 30.0
"""Seconds for the running step to be stopped and the ``result`` container to report (the
rendered Job's ``activeDeadlineSeconds`` allows as much)."""


def pod_info_volume() -> dict[str, Any]:
    """The Pod's ``downwardAPI`` volume of its annotations."""
    items = [{"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]
    return {"name": POD_INFO_VOLUME, "downwardAPI": {"items": items}}


def signal_patch(ref: str, status: str) -> dict[str, Any]:
    """The merge patch that tells the Pod's waiting step ``ref`` its ``status``."""
    return {"metadata": {"annotations": {SIGNAL_PREFIX + ref: status}}}


def abort_patch(reason: str) -> dict[str, Any]:
    """The merge patch that aborts the Pod's execution (``always`` steps still run)."""
    return {"metadata": {"annotations": {ABORT_ANNOTATION: reason or "aborted"}}}


def always_left(pod: dict[str, Any]) -> int:
    """How many ``condition=always`` step containers of ``pod`` have not ended yet."""
    ended = {
        entry["name"]
        for entry in (pod.get("status") or {}).get("initContainerStatuses", [])
        if "terminated" in (entry.get("state") or {})
    }
    return sum(
        "condition=always" in container.get("args", [])
        for container in pod["spec"].get("initContainers", [])
        if container["name"] not in ended
    )


class Stopper:
    """The abort of one execution's Job (see the module's docstring)."""

    def __init__(
        self,
        cluster: Cluster,
        job: str,
        selector: str,
        per_step: float,
        delay: float = SIGNAL_DELAY,
        say: Callable[[str], None] | None = None,
        slack: float = SLACK,
    ) -> None:
        self.cluster = cluster
        self.job = job
        self.selector = selector
        """The Job's Pods (``job-name=...``)."""
        self.per_step = per_step
        """Seconds an ``always`` step gets once aborted (the steps' ``grace``)."""
        self.delay = delay
        self.slack = slack
        self.hard = threading.Event()
        """Set once the Job is being deleted: following the Pod is over."""
        self.say = say
        """Where what the abort does is told (the execution's log)."""
        self.grace: float | None = None
        """Seconds granted to the ``always`` steps (None: not aborted gracefully)."""
        self._lock = threading.Lock()
        self._asked = False
        self._timer: threading.Timer | None = None

    def abort(self, reason: str) -> None:
        """Abort: gracefully the first time when ``always`` steps are left, else at once."""
        with self._lock:
            again, self._asked = self._asked, True
        if again or self.hard.is_set():
            self.stop()
            return
        grace = self._signal(reason)
        if grace is None:
            self.stop()
            return
        self.grace = grace
        timer = threading.Timer(grace, self._expired)
        timer.daemon = True
        with self._lock:
            self._timer = timer
        timer.start()

    def _signal(self, reason: str) -> float | None:
        """Set the abort annotation on the Job's Pod; the grace it gets (None: none)."""
        try:
            pods, _ = self.cluster.list_pods(self.selector)
        except InfrastructureError as exc:
            self._tell(f"abort: the Pod cannot be read ({exc}): its Job is deleted")
            return None
        running = [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]
        if not running:
            return None
        pod = running[0]
        left = always_left(pod)
        if not left:
            return None
        try:
            self.cluster.patch_pod(pod["metadata"]["name"], abort_patch(reason))
        except InfrastructureError as exc:
            self._tell(f"abort: the Pod cannot be signalled ({exc}): its Job is deleted")
            return None
        grace = self.delay + self.per_step * left + self.slack
        self._tell(
            f"abort: signalled to Pod {pod['metadata']['name']}; {left} step(s) with condition "
            f"`always` may run for {grace:.0f}s at most before its Job is deleted"
        )
        return grace

    def _tell(self, text: str) -> None:
        if self.say is not None:
            self.say(text)

    def _expired(self) -> None:
        self._tell(f"abort: the grace of {self.grace or 0:.0f}s is over: the Job is deleted")
        self.stop()

    def stop(self) -> None:
        """Delete the Job (its Pods with it) now; following it ends."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.hard.set()
        with contextlib.suppress(InfrastructureError):
            self.cluster.delete("Job", self.job)

    def release(self) -> None:
        """Stop following without deleting anything (another worker adopted the
        execution)."""
        self.close()
        self.hard.set()

    def close(self) -> None:
        """The execution is over: no timer left behind."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
