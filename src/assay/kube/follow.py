"""Following an execution's Pod: its state from a watch, its containers' logs in order, and
the infrastructure faults that are not test failures.

A thread keeps the latest Pod from a list + watch (resumed from the last resourceVersion
when the watch ends or drops; listed again on 410 Gone). :meth:`PodFollower.follow` then
streams each container's log with ``follow=true`` as the container starts, in the Pod's
order (init containers, then ``result``); a log stream that drops while its container still
runs is opened again and the bytes already read are skipped. Faults end the following:
an image that cannot be pulled, a container that cannot be created or was OOM-killed; a Pod
evicted, ``Failed`` with a reason, marked for disruption (``DisruptionTarget``: the taint
manager after its node was lost, the Pod garbage collector, a preemption, the eviction API),
in phase ``Unknown`` (``NodeLost`` on older clusters), deleted by someone else or vanished; a
Pod unschedulable, or never created (the Job's ``FailedCreate`` events: a ResourceQuota
exceeded, a policy), past :attr:`PodFollower.unschedulable_timeout`. A fault of the Pod names
the step that was running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InfrastructureError
from assay.kube.cluster import Cluster, Gone

__all__ = ["ContainerEnd", "PodFollower"]

FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Waiting reasons of a container that will not start by waiting longer."""
FATAL_TERMINATED = frozenset({"OOMKilled", "ContainerCannotRun", "StartError"})
_DONE = ("Succeeded", "Failed")


@dataclass(frozen=True)
class ContainerEnd:
    """A container's ``terminated`` state."""

    exit_code: int
    reason: str


@dataclass
class _State:
    pod: dict[str, Any] | None = None
    fault: str | None = None
    vanished: bool = False
    """Deleted, or being deleted (``deletionTimestamp``), or no longer listed."""
    unschedulable_since: float | None = None
    seen: dict[str, Any] = field(default_factory=dict)


class PodFollower:
    """The Pod of one Job: state by watch, logs by container, faults as messages."""

    unschedulable_timeout: float = 300.0
    pod_timeout: float = 120.0
    """Seconds to wait for the Job's Pod to appear at all."""
    watch_seconds: int = 15
    """Each watch request's ``timeoutSeconds``: the watch is renewed from its last version."""

    def __init__(
        self,
        cluster: Cluster,
        selector: str,
        names: dict[str, str],
        stopped: threading.Event,
        job: tuple[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.selector = selector
        self.job = job
        """The Job's name and uid, whose ``FailedCreate`` events say why no Pod appears."""
        self.names = names
        """Container name -> what to call it in a fault (``step 'NAME'``)."""
        self.stopped = stopped
        self._state = _State()
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pod-watch", daemon=True)

    # -- the watch -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        with self._changed:
            self._changed.notify_all()

    def _watch(self) -> None:
        failures = 0
        version: str | None = None
        while not self._closing.is_set():
            try:
                if version is None:
                    items, version = self.cluster.list_pods(self.selector)
                    for item in items:
                        self._update("ADDED", item)
                    if not items:  # listed again after 410: its DELETED event was missed
                        self._update("DELETED", None)
                for event in self.cluster.watch_pods(self.selector, version, self.watch_seconds):
                    if self._closing.is_set():
                        return
                    version = event["object"]["metadata"]["resourceVersion"]
                    self._update(event["type"], event["object"])
                failures = 0
            except Gone:
                version = None
            except InfrastructureError as exc:
                failures += 1
                if failures > 5:
                    self._set_fault(f"watching the Pod: {exc}")
                    return
                self._closing.wait(min(2.0**failures, 10.0) / 4)

    def _set_fault(self, message: str) -> None:
        with self._changed:
            self._state.fault = self._state.fault or message
            self._changed.notify_all()

    def _update(self, kind: str, pod: dict[str, Any] | None) -> None:
        with self._changed:
            state = self._state
            if pod is None:  # listed again without it
                state.vanished = state.pod is not None
            else:  # a DELETED event carries the Pod's last state
                state.fault = state.fault or self._fault_of(pod, state.pod)
                state.pod = pod
                deleting = bool(pod["metadata"].get("deletionTimestamp"))
                state.vanished = state.vanished or kind == "DELETED" or deleting
            self._changed.notify_all()

    def _fault_of(self, pod: dict[str, Any], before: dict[str, Any] | None = None) -> str | None:
        """What ends the following in ``pod`` (``before``: its previous state seen)."""
        status = pod.get("status") or {}
        name = pod["metadata"]["name"]
        ended = self._pod_fault(pod)
        if ended:
            where = self._where(pod) or (self._where(before) if before else "")
            return f"{where}Pod {name}: {ended}"
        for entry in _statuses(pod):
            where = self.names.get(entry["name"], f"container {entry['name']!r}")
            waiting = entry.get("state", {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_WAITING:
                return f"{where}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
            terminated = entry.get("state", {}).get("terminated") or {}
            if terminated.get("reason") in FATAL_TERMINATED:
                code = terminated.get("exitCode")
                return f"{where}: {terminated['reason']} (exit code {code})"
        scheduled = next(
            (c for c in status.get("conditions", []) if c.get("type") == "PodScheduled"), None
        )
        if scheduled and scheduled.get("status") == "False":
            since = self._state.unschedulable_since or time.monotonic()
            self._state.unschedulable_since = since
            if time.monotonic() - since > self.unschedulable_timeout:
                reason = scheduled.get("reason", "Unschedulable")
                return f"Pod {name}: {reason} for {self.unschedulable_timeout:.0f}s: " + str(
                    scheduled.get("message", "")
                )
        else:
            self._state.unschedulable_since = None
        return None

    def _pod_fault(self, pod: dict[str, Any]) -> str | None:
        """Why the Pod as a whole will not finish: its reason and message."""
        status = pod.get("status") or {}
        phase, reason = status.get("phase"), status.get("reason")
        lost = phase == "Unknown" or reason in ("Evicted", "NodeLost")
        if lost or (phase == "Failed" and reason):
            return f"{reason or phase}: {status.get('message', '')}".rstrip(": ")
        disruption = next(
            (c for c in status.get("conditions", []) if c.get("type") == "DisruptionTarget"), None
        )
        if disruption and disruption.get("status") == "True":
            return f"DisruptionTarget {disruption.get('reason')}: {disruption.get('message', '')}"
        return None

    def _where(self, pod: dict[str, Any]) -> str:
        """``step 'NAME': `` of the container the Pod was running (or ended with non-zero);
        empty if none ran."""
        for entry in _statuses(pod):
            state = entry.get("state") or {}
            if "running" in state or (state.get("terminated") or {}).get("exitCode", 0) != 0:
                return self.names.get(entry["name"], f"container {entry['name']!r}") + ": "
        return ""

    def last_step(self) -> str:
        """:meth:`_where` of the last state of the Pod seen."""
        with self._changed:
            pod = self._state.pod
        return self._where(pod) if pod is not None else ""

    # -- reading the state ----------------------------------------------------------------

    def _wait_for(self, ready: Callable[[_State], bool], timeout: float | None = None) -> _State:
        """Block until ``ready(state)``, a fault, the Pod's disappearance or a stop."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                state = self._state
                if ready(state) or state.fault or state.vanished or self.stopped.is_set():
                    return state
                if end is not None and time.monotonic() >= end:
                    return state
                if state.unschedulable_since is not None and state.pod is not None:
                    state.fault = state.fault or self._fault_of(state.pod)
                self._changed.wait(0.5)

    @property
    def fault(self) -> str | None:
        with self._changed:
            return self._state.fault

    @property
    def vanished(self) -> bool:
        with self._changed:
            return self._state.vanished

    def pod_name(self) -> str | None:
        """The Pod's name once it exists (None: a fault or stop came first). No Pod after
        :attr:`pod_timeout` is a fault; so is the Job controller failing to create it
        (``FailedCreate``) for :attr:`unschedulable_timeout`, with the event's message."""
        begun = time.monotonic()
        refused_since: float | None = None
        while True:
            state = self._wait_for(lambda s: s.pod is not None, 1.0)
            if state.pod is not None:
                return str(state.pod["metadata"]["name"])
            if state.fault or state.vanished or self.stopped.is_set():
                return None
            now = time.monotonic()
            refused = self._refusal()
            if refused is not None:
                refused_since = refused_since or now
                if now - refused_since > self.unschedulable_timeout:
                    wait = f"{self.unschedulable_timeout:.0f}s"
                    self._set_fault(f"Job {self._job_name()}: FailedCreate for {wait}: {refused}")
                    return None
            elif now - begun > self.pod_timeout:
                self._set_fault(f"no Pod for {self.selector} after {self.pod_timeout:.0f}s")
                return None

    def _job_name(self) -> str:
        return self.job[0] if self.job else "?"

    def _refusal(self) -> str | None:
        """The message of the Job's latest ``FailedCreate`` event (None: none, or the
        events cannot be read)."""
        if self.job is None:
            return None
        try:
            events = self.cluster.events(self.job[1], "FailedCreate")
        except InfrastructureError:
            return None
        return str(events[-1].get("message") or "FailedCreate") if events else None

    def _container(self, state: _State, name: str) -> dict[str, Any]:
        entry = next((e for e in _statuses(state.pod or {}) if e["name"] == name), None)
        found: dict[str, Any] = (entry or {}).get("state", {})
        return found

    def started(self, name: str) -> bool:
        """Wait until container ``name`` runs or ran; False if it never will (the Pod ended
        first, a fault, a stop)."""

        def begun(state: _State) -> bool:
            container = self._container(state, name)
            phase = ((state.pod or {}).get("status") or {}).get("phase")
            return "running" in container or "terminated" in container or phase in _DONE

        state = self._wait_for(begun)
        container = self._container(state, name)
        return "running" in container or "terminated" in container

    def ended(self, name: str, timeout: float) -> ContainerEnd | None:
        """Container ``name``'s end, waiting up to ``timeout`` seconds for it."""

        def done(state: _State) -> bool:
            return "terminated" in self._container(state, name)

        terminated = self._container(self._wait_for(done, timeout), name).get("terminated")
        if terminated is None:
            return None
        return ContainerEnd(int(terminated.get("exitCode", -1)), str(terminated.get("reason", "")))

    def follow_log(self, pod: str, container: str, line: Callable[[str], None]) -> None:
        """Stream ``container``'s output to ``line`` until it ends, reopening a dropped stream
        (the bytes already read are skipped: a container's log only grows). A stream that
        began before the container ended is not known to be whole (a cut connection can end
        cleanly), so one last pass after the end reads the rest, if any."""
        read = 0
        pending = b""
        while True:
            whole = self.ended(container, 0) is not None  # this pass reads to the end
            skip = read
            try:
                for chunk in self.cluster.follow_log(pod, container):
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                    read += len(chunk)
                    *complete, pending = (pending + chunk).split(b"\n")
                    for text in complete:
                        line(text.decode("utf-8", "replace"))
            except InfrastructureError:
                if self.fault or self.vanished or self.stopped.is_set():
                    break
            if whole or self.fault or self.vanished or self.stopped.is_set():
                break
            # the stream ended: the container did, or the connection was cut; once it has
            # ended, one more pass reads whatever a cut connection left unread
            self.ended(container, 2.0)
        if pending:
            line(pending.decode("utf-8", "replace"))


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
