"""``execute`` steps on ``--runner kubernetes``: the executions a step runs, each a Job of its
own, started when the main Pod waits for them.

The main Pod's container for the step runs ``entry.sh wait REF`` (its log says ``step REF:
waiting for the runner``); :func:`run_children` then runs the step's tests and workflows
(resolved as on the other runners, :func:`assay.engine.execution.execute_targets`) through the
same engine, ``parallelism`` at a time, as child executions of this one (their own Jobs, logs,
test cases and records; ``assay get executions`` lists them with their parent), writes
``child NAME: STATUS`` into the parent's log, and signals the worst of their statuses to the
main Pod through the annotation ``assay.io/signal.REF`` (:mod:`assay.kube.signals`). An abort
of the execution aborts the children (the engine's :meth:`cancel` reaches every Job it runs);
the waiting step is then aborted like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from assay.engine.execution import RunOptions, execute_targets
from assay.engine.resolve import Catalog
from assay.engine.steps import worst
from assay.errors import AssayError
from assay.kube.cluster import Cluster
from assay.kube.signals import signal_patch
from assay.spec.workflow import Execute, TestWorkflow
from assay.status import StepStatus
from assay.store.tables import ExecutionRow

__all__ = ["run_children", "signaller"]


class _Engine(Protocol):
    """What :func:`run_children` needs of the :class:`~assay.kube.live.KubernetesEngine`."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def cancelled(self) -> bool: ...

    def run(self, workflow: TestWorkflow, options: RunOptions | None = None) -> ExecutionRow: ...


def run_children(
    engine: _Engine,
    parent_id: str,
    execute: Execute,
    ref: str,
    say: Callable[[str, str], None],
    signal: Callable[[str, str], None],
) -> None:
    """Run the executions of the ``execute`` step ``ref`` as children of ``parent_id``, then
    ``signal(ref, status)`` the worst of their statuses (not when the execution is aborted).
    A child that cannot be run (not found, refused) is said and signalled as ``error``."""
    try:
        workflows = execute_targets(engine.catalog, execute, ref)
    except AssayError as exc:
        say(ref, f"execute: error: {exc}")
        signal(ref, str(StepStatus.ERROR))
        return
    at_once = max(1, min(execute.parallelism or len(workflows), len(workflows)))
    say(ref, f"execute: {len(workflows)} execution(s) as Jobs, {at_once} at a time")

    def one(child: TestWorkflow) -> StepStatus:
        try:
            row = engine.run(child, RunOptions(parent_id=parent_id))
        except AssayError as exc:
            say(ref, f"child {child.metadata.name}: error: {exc}")
            return StepStatus.ERROR
        say(ref, f"child {row.name}: {row.status}")
        try:
            return StepStatus(row.status)
        except ValueError:
            return StepStatus.ERROR

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix=f"execute-{ref}") as pool:
        statuses = list(pool.map(one, workflows))
    if engine.cancelled:
        return
    signal(ref, str(worst(statuses)))


def signaller(cluster: Cluster, pod: str) -> Callable[[str, str], None]:
    """``signal(ref, status)`` for the main Pod ``pod``."""

    def signal(ref: str, status: str) -> None:
        cluster.patch_pod(pod, signal_patch(ref, status))

    return signal
