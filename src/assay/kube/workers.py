"""``parallel`` steps on ``--runner kubernetes``: the workers' Jobs, run when the main Pod
waits for them.

The renderer makes one Job per worker (label ``assay.io/worker``, annotation
``assay.io/parallelism``); they are not created with the execution's other objects. When the
main Pod's container for the group runs ``entry.sh wait REF`` (its log says ``step REF:
waiting for the runner``), :func:`run_workers` creates the workers' Jobs,
``parallelism`` at a time, follows each one's Pod as the execution's own (its containers' logs
into the execution's log, prefixed ``[worker N]``; its ``result`` container's steps, JUnit
reports and artifacts, under ``workers/<worker ref>/``, recorded with the execution's), deletes
it once it has ended, and signals the group's status to the main Pod (the worst of the
workers', through the annotation ``assay.io/signal.REF``: :mod:`assay.kube.signals`). An
abort of the execution reaches each running worker as it reaches the main Pod (its
:class:`~assay.kube.signals.Stopper` is the engine's too): its ``always`` steps run within the
grace, then its Job is deleted (at once on a second abort); a worker not started yet never
starts. The main Pod's waiting step is then aborted like any other.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from assay.engine.events import EventSink
from assay.engine.masking import Masker
from assay.engine.steps import worst
from assay.errors import InfrastructureError
from assay.kube.artifacts import ArtifactReceiver
from assay.kube.cluster import Cluster
from assay.kube.model import ENTRY, PARALLELISM_ANNOTATION, PlanOptions
from assay.kube.render import WORKER_LABEL, Rendered
from assay.kube.result import PodResult
from assay.kube.signals import Stopper, signal_patch
from assay.status import StepStatus
from assay.store.tables import ExecutionRow

__all__ = ["is_worker", "main_job", "parallel_refs", "run_workers", "waiting_line", "waits"]


class _Engine(Protocol):
    """What the workers read of the :class:`~assay.kube.live.KubernetesEngine`."""

    @property
    def _cancel(self) -> threading.Event: ...

    @property
    def signal_delay(self) -> float: ...

    def _register(self, key: str, stopper: Stopper | None) -> None: ...

    def _options(self) -> PlanOptions: ...


class _Followed(Protocol):
    """A worker's Job followed as an execution (``live._WorkerExecution``)."""

    stopper: Stopper | None
    job_uid: str

    def _selector(self) -> str: ...

    def _follow(self, result: PodResult) -> str | None: ...


class _Parent(Protocol):
    """The execution whose ``parallel`` group the workers are (``live._Execution``)."""

    @property
    def engine(self) -> _Engine: ...

    rendered: Rendered
    row: ExecutionRow
    cluster: Cluster
    out_dir: Path
    masker: Masker
    sink: EventSink
    steps: list[dict[str, str]]

    def write_log(self, ref: str, line: str) -> None: ...

    def worker_execution(
        self, job: dict[str, Any], say: Callable[[str, str], None]
    ) -> _Followed: ...


def is_worker(item: dict[str, Any]) -> bool:
    return item["kind"] == "Job" and WORKER_LABEL in item["metadata"].get("labels", {})


def main_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The execution's own Job (the last: workers' Jobs are rendered before it)."""
    return [item for item in objects if item["kind"] == "Job"][-1]


def _steps(job: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = json.loads(
        job["spec"]["template"]["metadata"]["annotations"]["assay.io/steps"]
    )
    return found


def workers_of(objects: list[dict[str, Any]], ref: str) -> list[dict[str, Any]]:
    """The worker Jobs of the ``parallel`` group ``ref``, in worker order."""
    jobs = [
        item
        for item in objects
        if is_worker(item) and _steps(item) and _steps(item)[0]["ref"].startswith(f"{ref}.w")
    ]
    return sorted(jobs, key=lambda job: int(job["metadata"]["labels"][WORKER_LABEL]))


def waits(job: dict[str, Any]) -> list[str]:
    """The refs the Job's containers wait for (``entry.sh wait REF``)."""
    found = []
    for container in job["spec"]["template"]["spec"]["initContainers"]:
        args = container.get("args", [])
        command = args[args.index("--") + 1 :] if "--" in args else []
        if command[1:3] == [ENTRY, "wait"]:
            found.append(command[3])
    return found


def parallel_refs(objects: list[dict[str, Any]]) -> set[str]:
    """The refs of the main Job's waiting steps that are ``parallel`` groups (the others
    wait for ``execute``d executions)."""
    return {ref for ref in waits(main_job(objects)) if workers_of(objects, ref)}


def waiting_line(ref: str) -> str:
    """What ``entry.sh wait REF`` says when it begins to wait."""
    return f"assay: step {ref}: waiting for the runner"


def run_workers(parent: _Parent, ref: str, pod: str, result: PodResult) -> None:
    """Run the workers of group ``ref``, record them into ``result`` and ``parent``'s steps,
    then signal their status to the main Pod ``pod`` (not when the execution is aborted)."""
    jobs = workers_of(parent.rendered.objects, ref)
    annotations = jobs[0]["metadata"].get("annotations", {})
    at_once = max(1, min(int(annotations.get(PARALLELISM_ANNOTATION) or len(jobs)), len(jobs)))
    parent.write_log(ref, f"parallel: {len(jobs)} worker(s) as Jobs, {at_once} at a time")
    merge = threading.Lock()
    statuses: list[StepStatus] = []

    def one(job: dict[str, Any]) -> None:
        status = _Worker(parent, ref, job).run(result, merge)
        with merge:
            statuses.append(status)

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix=f"workers-{ref}") as pool:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()
    if parent.engine._cancel.is_set():
        return
    status = worst(statuses)
    parent.write_log(ref, f"parallel: {len(jobs)} worker(s) ended, {status}")
    parent.cluster.patch_pod(pod, signal_patch(ref, str(status)))


class _Worker:
    """One worker's Job, followed as an execution of its own into the parent's records."""

    def __init__(self, parent: _Parent, group: str, job: dict[str, Any]) -> None:
        self.parent = parent
        self.group = group
        self.job = job
        self.index = int(job["metadata"]["labels"][WORKER_LABEL])
        self.ref = f"{group}.w{self.index}"
        self.steps = _steps(job)

    def run(self, result: PodResult, merge: threading.Lock) -> StepStatus:
        parent, name = self.parent, self.job["metadata"]["name"]
        options = parent.engine._options()
        target = parent.out_dir / "artifacts" / "workers" / self.ref
        own = PodResult(artifacts=ArtifactReceiver(target, parent.masker, options.artifacts_limit))
        follower = parent.worker_execution(self.job, self.say)
        error: str | None = None
        try:
            if not parent.engine._cancel.is_set():  # else it never starts: aborted
                made = parent.cluster.create(self.job)
                follower.job_uid = str(made["metadata"]["uid"])
                # aborted as the main Pod is: its `always` steps run within the grace
                follower.stopper = Stopper(
                    parent.cluster,
                    name,
                    follower._selector(),
                    options.cleanup_grace,
                    parent.engine.signal_delay,
                    say=lambda line: self.say("-", line),
                )
                parent.engine._register(f"{parent.row.id}/{self.ref}", follower.stopper)
                error = follower._follow(own)
        except InfrastructureError as exc:
            error = parent.masker(str(exc))
        finally:
            if follower.stopper is not None:
                parent.engine._register(f"{parent.row.id}/{self.ref}", None)
                follower.stopper.close()
            with contextlib.suppress(InfrastructureError):
                parent.cluster.delete("Job", name)
        assert own.artifacts is not None
        for warning in own.artifacts.close():
            self.say("-", warning)
            parent.sink.warning(parent.masker(warning))
        status = self._status(own, error)
        with merge:
            self._record(own, error, result)
        return status

    def say(self, ref: str, line: str) -> None:
        self.parent.write_log(ref, f"[worker {self.index}] {line}")

    def _status(self, own: PodResult, error: str | None) -> StepStatus:
        if self.parent.engine._cancel.is_set():
            return StepStatus.ABORTED
        if error is not None:
            self.say("-", f"error: {error}")
            return StepStatus.ERROR
        return StepStatus(own.status or "error")

    def _record(self, own: PodResult, error: str | None, result: PodResult) -> None:
        """The worker's steps, reports and artifacts into the execution's."""
        aborted = self.parent.engine._cancel.is_set()
        for step in self.steps:
            if step["ref"] in own.steps:
                continue
            named = error is not None and f"step {step['name']!r}" in error
            missing = "aborted" if aborted else ("error" if named else "skipped")
            own.steps[step["ref"]] = {"status": missing, "exitCode": None, "attempts": 1}
        result.steps.update(own.steps)
        result.reports.update(own.reports)
        assert own.artifacts is not None
        if result.artifacts is not None:
            for name, step_ref in own.artifacts.refs.items():
                result.artifacts.refs[f"workers/{self.ref}/{name}"] = step_ref
        steps, group = self.parent.steps, self.group
        at = next((i + 1 for i, step in enumerate(steps) if step["ref"] == group), len(steps))
        while at < len(steps) and _worker_of(steps[at]["ref"], group) < self.index:
            at += 1  # in worker order, as on the other runners, whichever ended first
        steps[at:at] = self.steps


def _worker_of(ref: str, group: str) -> float:
    """N of a step ref ``GROUP.wN...`` of one of ``group``'s workers; infinity for any other."""
    prefix = f"{group}.w"
    if not ref.startswith(prefix):
        return float("inf")
    digits = "".join(itertools.takewhile(str.isdigit, ref[len(prefix) :]))
    return int(digits) if digits else float("inf")
