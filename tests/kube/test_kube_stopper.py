"""The abort of a Kubernetes execution (assay.kube.signals.Stopper) against a recording
cluster: graceful when `always` steps are left, at once otherwise, bounded by its grace."""

from __future__ import annotations

import threading
from typing import Any, cast

from assay.errors import InfrastructureError
from assay.kube.cluster import Cluster
from assay.kube.signals import ABORT_ANNOTATION, Stopper, always_left


def pod(*containers: tuple[str, str, bool]) -> dict[str, Any]:
    """A Pod of step containers (name, condition, ended)."""
    return {
        "metadata": {"name": "job-abcde"},
        "spec": {
            "initContainers": [
                {"name": name, "args": ["step", "ref=1", f"condition={condition}", "--", "x"]}
                for name, condition, _ in containers
            ]
        },
        "status": {
            "initContainerStatuses": [
                {"name": name, "state": {"terminated": {"exitCode": 0}} if ended else {}}
                for name, _, ended in containers
            ]
        },
    }


class Recorder:
    """The calls a Stopper makes (list, patch, delete); ``fail`` makes the patch refused."""

    def __init__(self, found: dict[str, Any], fail: bool = False) -> None:
        self.found, self.fail = found, fail
        self.calls: list[tuple[str, Any]] = []
        self.deleted = threading.Event()

    def list_pods(self, selector: str) -> tuple[list[dict[str, Any]], str]:
        self.calls.append(("list", selector))
        return [self.found], "1"

    def patch_pod(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", (name, patch)))
        if self.fail:
            raise InfrastructureError("Kubernetes: patch Pod: 403 forbidden")
        return self.found

    def delete(self, kind: str, name: str) -> bool:
        self.calls.append(("delete", (kind, name)))
        self.deleted.set()
        return True


def stopper(recorder: Recorder, told: list[str], **options: Any) -> Stopper:
    cluster = cast(Cluster, recorder)
    return Stopper(cluster, "job", "job-name=job", 10.0, say=told.append, **options)


def test_always_steps_left_get_the_signal_and_a_second_abort_deletes_the_job() -> None:
    recorder = Recorder(pod(("a", "passed", True), ("b", "passed", False), ("c", "always", False)))
    told: list[str] = []
    stop = stopper(recorder, told, delay=60.0)
    stop.abort("interrupted by SIGINT")
    patch = {"metadata": {"annotations": {ABORT_ANNOTATION: "interrupted by SIGINT"}}}
    assert recorder.calls[1:] == [("patch", ("job-abcde", patch))]
    assert not stop.hard.is_set() and stop.grace == 60 + 10 + 30
    assert "1 step(s) with condition `always` may run for 100s" in told[0]
    stop.abort("again")
    assert stop.hard.is_set() and recorder.calls[-1] == ("delete", ("Job", "job"))
    stop.close()


def test_without_always_steps_left_the_job_is_deleted_at_once() -> None:
    recorder = Recorder(pod(("a", "always", True), ("b", "passed", False)))
    stop = stopper(recorder, [])
    stop.abort("aborted")
    assert [call for call, _ in recorder.calls] == ["list", "delete"]
    assert stop.hard.is_set() and stop.grace is None


def test_a_pod_that_cannot_be_signalled_is_deleted_at_once_and_the_log_says_why() -> None:
    recorder = Recorder(pod(("a", "always", False)), fail=True)
    told: list[str] = []
    stopper(recorder, told).abort("aborted")
    assert [call for call, _ in recorder.calls] == ["list", "patch", "delete"]
    assert "cannot be signalled" in told[0] and "403 forbidden" in told[0]


def test_the_grace_is_bounded() -> None:
    recorder = Recorder(pod(("a", "always", False)))
    told: list[str] = []
    stop = stopper(recorder, told, delay=0.1, slack=0.0)
    stop.per_step = 0.0
    stop.abort("aborted")
    assert recorder.deleted.wait(10), recorder.calls
    assert stop.hard.is_set() and "grace of 0s is over" in told[-1]


def test_always_left_counts_the_always_containers_not_ended() -> None:
    found = pod(("a", "always", True), ("b", "always", False), ("c", "passed", False))
    assert always_left(found) == 1
    found["status"] = {}
    assert always_left(found) == 2
