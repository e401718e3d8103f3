"""``assay run --runner kubernetes``: one execution as one Job in a cluster, recorded as every
other execution is.

The workflow is rendered (:mod:`assay.kube.render`: the objects ``--dry-run`` prints) with the
execution's id; the objects are created in order; ``services`` (spec and step level) come
first, a headless Service and a Pod per instance, each awaited until Ready before the Job is
created (:mod:`assay.kube.services`; their logs kept as artifacts at the end). The Pod is
followed (:class:`~assay.kube.follow.PodFollower`): each step container's log goes to the
execution's log as it is written, the ``result`` container's last line is the execution's
result (``entry.sh finish``: status and each step's status, exit code, attempts, seconds) and
the lines before it the steps' JUnit reports and artifacts (:mod:`assay.kube.artifacts`).
Infrastructure faults (an image that cannot be pulled, OOMKilled, eviction, a lost node, a Pod
deleted by someone, unschedulable, a ResourceQuota refusing the Job or its Pod, a step
container that did not exit 0, a service not ready) end the execution in ``error`` with the
Kubernetes reason and the step or service. An abort is signalled to the Pod through its
annotations (:mod:`assay.kube.signals`): its ``always`` steps run and are recorded within a
bounded grace, then the Job is deleted with its Pods (at once when none is left, or on a
second abort).
Everything created is deleted at the end, whatever way the execution ended.

A queued run whose worker was lost (killed, its lease expired) is resumed by another worker
(:meth:`KubernetesEngine.resume_queued`): the Pod walks the steps, so following it again from
its objects, with the lines already in the execution's log skipped, loses nothing. An ``assay
run`` whose process died is aborted and its objects deleted by the next reconciliation
(:mod:`assay.kube.orphans`): nothing would record its end.

``parallel`` workers are Jobs created when the main Pod waits for them
(:mod:`assay.kube.workers`), ``execute`` steps child executions run by this engine then
(:mod:`assay.kube.children`). Not yet: ``--source``.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from assay.engine.config import masked_config
from assay.engine.events import EventSink, NullSink
from assay.engine.execution import RunOptions, checked_config, execute_targets, with_children
from assay.engine.masking import Masker
from assay.engine.resolve import Catalog
from assay.engine.worker import QueuedEngine, local_engine
from assay.errors import AssayError, DefinitionError, InfrastructureError
from assay.faults import os_fault
from assay.kube.artifacts import ArtifactReceiver
from assay.kube.children import run_children, signaller
from assay.kube.cluster import Cluster
from assay.kube.follow import PodFollower
from assay.kube.model import PlanOptions
from assay.kube.names import EXECUTION_LABEL, ExecutionIdentity, label_value
from assay.kube.render import Rendered, render_workflow
from assay.kube.result import PodResult
from assay.kube.services import ServicePod, await_ready, keep_log, log_tail
from assay.kube.signals import SIGNAL_DELAY, Stopper
from assay.kube.workers import is_worker, main_job, parallel_refs, run_workers, waiting_line, waits
from assay.model import Summary, TestCaseResult
from assay.results.junit import iter_junit
from assay.settings import Settings
from assay.spec.workflow import TestWorkflow
from assay.status import ExecutionStatus, StepStatus
from assay.store.database import Database
from assay.store.definitions import DefinitionStore
from assay.store.executions import ExecutionStore, StepOutcome
from assay.store.quarantine import QuarantineStore
from assay.store.tables import ExecutionRow

__all__ = ["KubernetesEngine", "engine_for"]

OBJECTS_TASK = "kubernetes-objects"
"""The task id under which an execution's objects are recorded until they are deleted."""
SERVICE_TIMEOUT = 300.0
"""Seconds a service's Pod may take to be Ready when the service sets no ``timeout``."""
RESULT = "result"


class KubernetesEngine:
    """Runs workflows as Jobs in one namespace, recording them in the store (the engine's
    counterpart for ``--runner kubernetes``; same :meth:`run` and :meth:`cancel`)."""

    cleanup_grace: float = 0.0
    """Unused here: the grace of `always` steps once aborted is the Pod's
    (:class:`~assay.kube.signals.Stopper`)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        namespace: str,
        sink: EventSink | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or Catalog(store=DefinitionStore(db))
        """Where ``execute`` steps find the workflows they run."""
        self.executions = ExecutionStore(db)
        self.quarantine = QuarantineStore(db)
        self.namespace = namespace
        self.sink: EventSink = sink or NullSink()
        self.unschedulable_timeout = _seconds(
            "ASSAY_KUBERNETES_UNSCHEDULABLE_TIMEOUT", PodFollower.unschedulable_timeout
        )
        self.service_timeout = _seconds("ASSAY_KUBERNETES_SERVICE_TIMEOUT", SERVICE_TIMEOUT)
        self.signal_delay = _seconds("ASSAY_KUBERNETES_SIGNAL_DELAY", SIGNAL_DELAY)
        self._cancel = threading.Event()
        self._cancel_reason = "aborted"
        self._detached = False
        self._jobs: dict[str, Stopper] = {}
        self._lock = threading.Lock()

    def cancel(self, reason: str = "aborted") -> None:
        """Abort the running executions: their ``always`` steps run in their Pods within a
        bounded grace, then their Jobs are deleted with their Pods; calling it again deletes
        them at once (:class:`~assay.kube.signals.Stopper`)."""
        if not self._cancel.is_set():
            self._cancel_reason = reason
        self._cancel.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for stopper in jobs:
            stopper.abort(self._cancel_reason)

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    def detach(self) -> None:
        """Stop following without deleting or recording anything: another worker adopted
        the execution (its lease is no longer this worker's)."""
        self._detached = True
        self._cancel.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for stopper in jobs:
            stopper.release()

    def run(self, workflow: TestWorkflow, options: RunOptions | None = None) -> ExecutionRow:
        """Run ``workflow`` as a Job; bad input raises DefinitionError and an unreachable
        cluster InfrastructureError before anything is stored."""
        options = options or RunOptions()
        config = self._checked(workflow, options)
        cluster = Cluster(_job_namespace(workflow) or self.namespace)
        row = self.executions.create(
            workflow.metadata.name,
            runner="kubernetes",
            tags=options.tags,
            config=masked_config(workflow.spec.config, config),
            parent_id=options.parent_id,
        )
        return self._execute(row, workflow, config, cluster)

    def run_queued(
        self, row: ExecutionRow, workflow: TestWorkflow, options: RunOptions
    ) -> ExecutionRow:
        """Run an execution recorded already (a run request a worker claimed): as
        :meth:`run` from the moment the row exists; what :meth:`run` would refuse, or an
        unreachable cluster, ends it in ``error``."""
        try:
            config = self._checked(workflow, options)
            cluster = Cluster(_job_namespace(workflow) or self.namespace)
        except AssayError as exc:
            finished = self.executions.finish(row.id, ExecutionStatus.ERROR, error=str(exc))
            self.sink.execution_finished(row.id, ExecutionStatus(finished.status))
            return finished
        return self._execute(row, workflow, config, cluster)

    def resume_queued(
        self, row: ExecutionRow, workflow: TestWorkflow, options: RunOptions, why: str
    ) -> ExecutionRow:
        """Follow ``row``, whose objects a lost worker (``why``) created, to its end: the
        Pod is followed again, its step logs with the lines the execution's log has already
        skipped; a Job that is gone ends it in ``error``."""
        config = checked_config(workflow, options.config, None)
        cluster = Cluster(_job_namespace(workflow) or self.namespace)
        return self._execute(row, workflow, config, cluster, resumed=why)

    def _checked(self, workflow: TestWorkflow, options: RunOptions) -> dict[str, Any]:
        """The checked config; raises for what the live runner cannot run."""
        if options.source is not None:
            raise DefinitionError(
                "--source: not with --runner kubernetes (a Pod cannot see this machine's "
                "files; use content.git)"
            )
        config = checked_config(workflow, options.config, None)
        name = workflow.metadata.name
        draft = ExecutionIdentity("0" * 32, f"{name}-0", 0, name)
        rendered = render_workflow(workflow, draft, config, self._options())
        _refuse_unsupported(rendered)
        for ref, execute in rendered.executes.items():  # a child not found: refused now
            execute_targets(self.catalog, execute, ref)
        return config

    def _execute(
        self,
        row: ExecutionRow,
        workflow: TestWorkflow,
        config: dict[str, Any],
        cluster: Cluster,
        resumed: str | None = None,
    ) -> ExecutionRow:
        name = workflow.metadata.name
        identity = ExecutionIdentity(row.id, row.name, row.number, name)
        rendered = render_workflow(workflow, identity, config, self._options())
        masker = Masker()
        for param_name, param in workflow.spec.config.items():
            if param.sensitive and param_name in config:
                masker.add(str(config[param_name]))
        for value in rendered.sensitive:
            masker.add(value)
        execution = _Execution(self, cluster, row, identity, rendered, masker)
        return execution.run() if resumed is None else execution.resume(resumed)

    def _options(self) -> PlanOptions:
        return PlanOptions.from_env(self.namespace)

    def _register(self, key: str, stopper: Stopper | None) -> None:
        """Have :meth:`cancel` reach ``stopper`` (an execution's Job, or a worker's: ``key``
        is the execution's id, or ``ID/REF``), or no longer."""
        with self._lock:
            if stopper is None:
                self._jobs.pop(key, None)
            else:
                self._jobs[key] = stopper
        if stopper is not None and self._cancel.is_set():  # cancelled while it was created
            stopper.abort(self._cancel_reason)


def engine_for(settings: Settings, db: Database, row: ExecutionRow) -> QueuedEngine:
    """For workers (:class:`~assay.engine.worker.Worker`): a :class:`KubernetesEngine` in
    ``ASSAY_KUBERNETES_NAMESPACE`` for a run on the ``kubernetes`` runner, else the engine
    of the other runners."""
    if row.runner == "kubernetes":
        return KubernetesEngine(settings, db, settings.kubernetes_namespace)
    return local_engine(settings, db, row)


def _seconds(variable: str, default: float) -> float:
    """A number of seconds from the environment; bad input names the variable."""
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise DefinitionError(f"{variable}={text!r}: not a positive number of seconds")
    return value


def _job_namespace(workflow: TestWorkflow) -> str | None:
    job = workflow.spec.job
    return job.namespace if job is not None and job.namespace else None


def _refuse_unsupported(rendered: Rendered) -> None:
    """Waits inside a worker (``parallel`` or ``execute`` in a ``parallel`` worker)."""
    objects = rendered.objects
    if any(waits(item) for item in objects if is_worker(item)):
        raise DefinitionError(
            "parallel: a worker that waits (`parallel` or `execute` in a worker): rendered "
            "by --dry-run, not yet run by --runner kubernetes"
        )


class _Execution:
    """One execution in the cluster, from creating its objects to deleting them."""

    def __init__(
        self,
        engine: KubernetesEngine,
        cluster: Cluster,
        row: ExecutionRow,
        identity: ExecutionIdentity,
        rendered: Rendered,
        masker: Masker,
    ) -> None:
        self.engine = engine
        self.cluster = cluster
        self.row = row
        self.identity = identity
        self.rendered = rendered
        self.masker = masker
        self.store = engine.executions
        self.sink = engine.sink
        self.out_dir = engine.settings.executions_dir / row.id
        self.job = main_job(rendered.objects)
        self.parallel = parallel_refs(rendered.objects)
        template = self.job["spec"]["template"]
        self.steps: list[dict[str, str]] = json.loads(
            template["metadata"]["annotations"]["assay.io/steps"]
        )
        self.refs = {step["container"]: step["ref"] for step in self.steps}
        self.services = [
            found for item in rendered.objects if (found := ServicePod.of(item)) is not None
        ]
        self.job_uid = ""
        self.stopper: Stopper | None = None
        self.log: TextIO | None = None
        self.lock = threading.Lock()
        self._replay: list[str] = []
        """On a resume: the log's lines so far, which the Pod's logs repeat."""
        self._replayed = 0

    def run(self) -> ExecutionRow:
        self._open_log()
        self.store.start(self.row.id)
        self.sink.execution_started(self.row.id, self.row.name)
        for note in self.rendered.notes:
            self.sink.warning(note)
        return self._walk(self._created)

    def resume(self, why: str) -> ExecutionRow:
        """Follow the objects a lost worker created (see :meth:`KubernetesEngine.resume_queued`)."""
        self._replay = self._open_log()
        skip = {
            self.masker(f"{service.label}: ready (Pod {service.pod})") for service in self.services
        }
        while self._replayed < len(self._replay) and self._replay[self._replayed] in skip:
            self._replayed += 1  # written before the Job was created: not read again
        self.write_log_safely(f"resumed: {why}; following Job {self.job['metadata']['name']} again")
        return self._walk(self._adopted)

    def _open_log(self) -> list[str]:
        """Open the execution's log for appending; the lines it has already."""
        path = self.out_dir / "log.txt"
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.log = path.open("a+", encoding="utf-8", buffering=1)
            self.log.seek(0)
            text = self.log.read()
            if text and not text.endswith("\n"):  # a line cut short by a killed process
                self.log.write("\n")
        except OSError as exc:
            message = os_fault(exc)
            self.store.finish(self.row.id, ExecutionStatus.ERROR, error=message)
            raise InfrastructureError(message) from exc
        lines = text.split("\n")  # as written: a step's line may hold a "\r"
        return lines[:-1] if lines[-1] == "" else lines

    def _walk(
        self, objects: Callable[[list[tuple[str, str]]], contextlib.AbstractContextManager[None]]
    ) -> ExecutionRow:
        """Follow the execution inside ``objects`` (which creates or finds them), then
        delete them and record its end; a detached engine leaves both to the adopter."""
        result = PodResult(artifacts=self._receiver())
        error: str | None = None
        created: list[tuple[str, str]] = []
        faults: list[str] = []
        try:
            with objects(created):
                error = self._follow(result)
        except AssayError as exc:
            error = self.masker(str(exc))
        finally:
            if not self.engine._detached:
                self._keep_service_logs(created)
                faults = self._delete(created)
                if not faults:
                    with contextlib.suppress(AssayError):
                        self.store.remove_task(self.row.id, OBJECTS_TASK)
            with contextlib.suppress(OSError):
                assert self.log is not None
                self.log.close()
        if self.engine._detached:
            return self.store.get(self.row.id)
        error = error or (faults[0] if faults else None)
        self._artifacts_received(result)
        return self._record(result, error)

    def _receiver(self) -> ArtifactReceiver:
        """Where the ``result`` container's artifacts go (:mod:`assay.kube.artifacts`)."""
        limit = self.engine._options().artifacts_limit
        return ArtifactReceiver(self.out_dir / "artifacts", self.masker, limit)

    def _artifacts_received(self, result: PodResult) -> None:
        """Log and warn what the Pod's artifacts lacked, as the other runners do."""
        if result.artifacts is not None:
            for warning in result.artifacts.close():
                self.write_log_safely(warning)
                self.sink.warning(self.masker(warning))

    def _task(self) -> dict[str, Any]:
        """What a later process needs to delete this execution's objects should this one
        die first (:func:`assay.kube.orphans.delete_objects`): recorded before any exists."""
        return {
            "task_id": OBJECTS_TASK,
            "runner": "kubernetes",
            "namespace": self.cluster.namespace,
            "objects": [[item["kind"], item["metadata"]["name"]] for item in self.rendered.objects],
        }

    @contextlib.contextmanager
    def _created(self, created: list[tuple[str, str]]) -> Iterator[None]:
        """Create the objects in order, remembering each for :meth:`_delete` (and, before
        the first, in the store: :meth:`_task`)."""
        self.store.add_task(self.row.id, self._task())
        for item in self.rendered.objects:
            if is_worker(item):  # created when the main Pod waits for them
                continue
            if item is self.job and not self.engine._cancel.is_set():
                self._await_services()
            if self.engine._cancel.is_set():
                break
            made = self.cluster.create(item)
            created.append((item["kind"], item["metadata"]["name"]))
            if item is self.job:
                self.job_uid = str(made["metadata"]["uid"])
                self._stoppable()
        try:
            yield
        finally:
            self._unstoppable()

    def _stoppable(self) -> None:
        """The Job exists: an abort now goes through its :class:`Stopper`."""
        self.stopper = Stopper(
            self.cluster,
            self.job["metadata"]["name"],
            self._selector(),
            self.engine._options().cleanup_grace,
            self.engine.signal_delay,
            say=self.write_log_safely,
        )
        self.engine._register(self.row.id, self.stopper)

    def _unstoppable(self) -> None:
        self.engine._register(self.row.id, None)
        if self.stopper is not None:
            self.stopper.close()

    @contextlib.contextmanager
    def _adopted(self, created: list[tuple[str, str]]) -> Iterator[None]:
        """The objects a lost worker created (all of them, for :meth:`_delete`: one never
        created is gone already); raises InfrastructureError when its Job is gone."""
        created += [(item["kind"], item["metadata"]["name"]) for item in self.rendered.objects]
        name = self.job["metadata"]["name"]
        if any(is_worker(item) for item in self.rendered.objects):
            raise InfrastructureError(
                "not resumed: its `parallel` workers were run by the worker that was lost (its "
                "objects are deleted)"
            )
        try:
            self.job_uid = str(self.cluster.read_job(name)["metadata"]["uid"])
        except InfrastructureError as exc:
            if ": 404 " in str(exc):
                raise InfrastructureError(
                    f"Job {name} was gone when the execution was resumed (deleted, or its "
                    "TTL ran out)"
                ) from None
            raise
        self._stoppable()
        try:
            yield
        finally:
            self._unstoppable()

    def _await_services(self) -> None:
        """Wait until every service's Pod is Ready; raises InfrastructureError naming the
        first that is not (its last log lines go to the execution's log)."""
        started = time.monotonic()
        for service in self.services:
            limit = service.timeout or self.engine.service_timeout
            cancel = self.engine._cancel
            why = await_ready(self.cluster, service, started + limit, limit, cancel)
            if why is not None:
                for line in log_tail(self.cluster, service):
                    self.write_log("services", f"[{service.name}-{service.index}] {line}")
                raise InfrastructureError(why)
            if not cancel.is_set():
                self.write_log("services", f"{service.label}: ready (Pod {service.pod})")

    def _keep_service_logs(self, created: list[tuple[str, str]]) -> None:
        """Each created service Pod's output as its artifact (unless ``logs: never``)."""
        made = {name for kind, name in created if kind == "Pod"}
        for service in self.services:
            if service.keep_logs and service.pod in made:
                why = keep_log(self.cluster, service, self.out_dir / "artifacts", self.masker)
                if why is not None:
                    self.write_log_safely(why)
                    self.sink.warning(self.masker(why))

    def _delete(self, created: list[tuple[str, str]]) -> list[str]:
        """Delete what was created, the Job (with its Pods) first; faults as messages."""
        faults = []
        for kind, name in reversed(created):
            try:
                self.cluster.delete(kind, name)
            except InfrastructureError as exc:
                faults.append(f"cleaning up: {exc}")
        return faults

    def write_log(self, ref: str, line: str) -> None:
        masked = self.masker(line)
        with self.lock:
            assert self.log is not None
            if self._replayed < len(self._replay):
                if self._replay[self._replayed] == masked:  # in the log already
                    self._replayed += 1
                    return
                self._replay = []  # the logs differ from here: keep every line
            self.log.write(masked + "\n")
        self.sink.log(ref, masked)

    def _selector(self) -> str:
        """The Job's Pods."""
        return (
            f"{EXECUTION_LABEL}={label_value(self.identity.id)},"
            f"job-name={self.job['metadata']['name']}"
        )

    def _follow(self, result: PodResult) -> str | None:
        """Follow the Pod to its end (an abort's ``always`` steps included); the fault that
        ended it early, if any."""
        if self.stopper is None:
            return None
        stopped = self.stopper.hard
        names = {step["container"]: f"step {step['name']!r}" for step in self.steps}
        names[RESULT] = "the result container"
        job = (self.job["metadata"]["name"], self.job_uid)
        follower = PodFollower(self.cluster, self._selector(), names, stopped, job)
        follower.unschedulable_timeout = self.engine.unschedulable_timeout
        follower.start()
        try:
            pod = follower.pod_name()
            if pod is None:
                return follower.fault
            for container in [*self.refs, RESULT]:
                if not follower.started(container):
                    break
                ref = self.refs.get(container, "-")
                if container in self.refs:
                    step = next(s for s in self.steps if s["container"] == container)
                    self.sink.step_started(ref, step["name"])

                def line(text: str, ref: str = ref, container: str = container) -> None:
                    if container != RESULT or not result.take(text):
                        self.write_log(ref, text)
                    if ref in self.parallel and text == waiting_line(ref):
                        run_workers(self, ref, pod, result)
                    elif ref in self.rendered.executes and text == waiting_line(ref):
                        signal = signaller(self.cluster, pod)
                        execute = self.rendered.executes[ref]
                        run_children(self.engine, self.row.id, execute, ref, self.write_log, signal)

                follower.follow_log(pod, container, line)
                end = follower.ended(container, 10.0)
                if follower.fault or stopped.is_set():
                    break
                if end is None and follower.vanished:
                    break
                if end is None:
                    return f"{names[container]}: the Pod ended before its container did"
                if container != RESULT and end.exit_code != 0:
                    code = f"exited {end.exit_code} ({end.reason})"
                    return f"{names[container]}: container {container} {code}"
                if container == RESULT and result.status is None:
                    return f"the result container exited {end.exit_code} without a result"
            if follower.fault:
                return follower.fault
            if follower.vanished and result.status is None and not self.engine._cancel.is_set():
                return follower.last_step() + self._vanished(pod)
            return None
        finally:
            follower.close()

    def _vanished(self, pod: str) -> str:
        """Why the Pod went away before the result: the Job's deadline, else its loss."""
        with contextlib.suppress(InfrastructureError):
            job = self.cluster.read_job(self.job["metadata"]["name"])
            for condition in (job.get("status") or {}).get("conditions", []):
                if condition.get("type") in ("Failed", "FailureTarget") and (
                    condition.get("reason") == "DeadlineExceeded"
                ):
                    return f"Job: DeadlineExceeded: {condition.get('message', '')}".rstrip(": ")
        return (
            f"Pod {pod} was deleted before the execution ended (its node lost, or deleted "
            "by someone)"
        )

    def _record(self, result: PodResult, error: str | None) -> ExecutionRow:
        cancelled = self.engine._cancel.is_set()
        outcomes = []
        for step in self.steps:
            found = result.steps.get(step["ref"])
            if found is None:
                step_status = StepStatus.ABORTED if cancelled else StepStatus.SKIPPED
                message = None
                if error and f"step {step['name']!r}" in error:
                    step_status, message = StepStatus.ERROR, error
                outcomes.append(
                    StepOutcome(step["ref"], step["name"], step_status, message=message)
                )
                continue
            seconds = found.get("seconds")
            outcomes.append(
                StepOutcome(
                    step["ref"],
                    step["name"],
                    StepStatus(found["status"]),
                    exit_code=found.get("exitCode"),
                    attempts=int(found.get("attempts") or 1),
                    duration_ms=None if seconds is None else int(seconds) * 1000,
                )
            )
        for outcome in outcomes:
            self.sink.step_finished(
                outcome.ref, outcome.name, outcome.status, (outcome.duration_ms or 0) / 1000
            )
        summary = with_children(self.store, self.row.id, self._cases(result))
        if cancelled:
            status = ExecutionStatus.ABORTED
            error = error or self.engine._cancel_reason
        elif error is not None:
            status = ExecutionStatus.ERROR
        else:
            status = ExecutionStatus(result.status or "error")
        if error:
            self.write_log_safely(f"error: {error}")
        finished = self.store.finish(
            self.row.id, status, steps=outcomes, summary=summary, error=error
        )
        self.sink.execution_finished(self.row.id, status)
        return finished

    def worker_execution(self, job: dict[str, Any], say: Callable[[str, str], None]) -> _Execution:
        """A ``parallel`` worker's Job, followed as an execution that logs through ``say``
        (:mod:`assay.kube.workers`)."""
        return _WorkerExecution(self, job, say)

    def write_log_safely(self, line: str) -> None:
        with (
            contextlib.suppress(OSError),
            (self.out_dir / "log.txt").open("a", encoding="utf-8") as log,
        ):
            log.write(self.masker(line) + "\n")
        self.sink.log("-", self.masker(line))

    def _cases(self, result: PodResult) -> Summary:
        """The JUnit reports the result container printed, and JUnit among the artifacts
        (the step's last attempt), as masked test cases."""
        quarantined = frozenset(self.engine.quarantine.active())
        cases: list[TestCaseResult] = []
        with tempfile.TemporaryDirectory(prefix="assay-junit-") as scratch:
            for name, lines in sorted(result.reports.items()):
                path = Path(scratch) / Path(name).name
                path.write_text("\n".join(lines) + "\n", encoding="utf-8")
                cases.extend(self._junit(path, name, _attempt_of(name), quarantined))
        if result.artifacts is not None:
            recorded = self._own_reports()
            for name, ref in sorted(result.artifacts.refs.items()):
                if (ref, name) in recorded:  # read above, as the step's report
                    self.write_log_safely(f"artifacts: {name}: already recorded by assay")
                elif name.lower().endswith(".xml"):
                    attempts = int(result.steps.get(ref, {}).get("attempts") or 1)
                    path = self.out_dir / "artifacts" / name
                    cases.extend(self._junit(path, name, attempts, quarantined, artifact=True))
        return self.store.add_test_cases(self.row.id, self.identity.workflow, cases)

    def _own_reports(self) -> set[tuple[str, str]]:
        """(step ref, artifact name) of the JUnit files a step's command wrote itself
        (``--junit-xml``: its ``xml`` option), which its report was taken from already;
        named as ``entry.sh`` names an artifact (relative to its ``artdir`` when below it)."""
        spec = self.job["spec"]["template"]["spec"]
        own = set()
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            args = container.get("args", [])
            options = dict(
                arg.split("=", 1)
                for arg in args[1 : args.index("--") if "--" in args else len(args)]
                if "=" in arg
            )
            xml, ref = options.get("xml"), options.get("ref")
            if not xml or not ref:
                continue
            base = (options.get("artdir") or options.get("dir") or "/data").rstrip("/")
            own.add((ref, xml.removeprefix(f"{base}/") if xml.startswith(f"{base}/") else
                     posixpath.basename(xml)))  # fmt: skip
        return own

    def _junit(
        self,
        path: Path,
        name: str,
        attempt: int,
        quarantined: frozenset[str],
        artifact: bool = False,
    ) -> list[TestCaseResult]:
        """The cases of one JUnit file as attempt ``attempt``; an artifact that is not
        JUnit is no warning (as on the other runners)."""
        try:
            found = list(iter_junit(path))
        except AssayError as exc:
            if not artifact or not ("not JUnit" in str(exc) or "not a JUnit" in str(exc)):
                self.sink.warning(f"{name}: {exc}")
            return []
        for case in found:
            case.attempt += attempt - 1
            case.apply_quarantine(self.identity.workflow, quarantined)
            self.masker.mask_case(case)
        return found


class _WorkerExecution(_Execution):
    """A worker's Job as an execution of its own: only followed, its log its parent's."""

    def __init__(
        self, parent: _Execution, job: dict[str, Any], say: Callable[[str, str], None]
    ) -> None:
        objects = Rendered([job])
        super().__init__(
            parent.engine, parent.cluster, parent.row, parent.identity, objects, parent.masker
        )
        self.say = say

    def write_log(self, ref: str, line: str) -> None:
        self.say(ref, line)


def _attempt_of(report: str) -> int:
    """N of ``REF-N.xml``."""
    stem = report.rsplit(".", 1)[0]
    number = stem.rsplit("-", 1)[-1]
    return int(number) if number.isdigit() else 1
