"""``assay run``: pick the definition, build the engine, handle SIGINT/SIGTERM; then the gates.

A first SIGINT (Ctrl-C) or SIGTERM aborts the execution: its tasks are stopped, its `after`
steps with ``condition: always`` run (for :attr:`Engine.cleanup_grace` seconds at most), it is
recorded ``aborted``, and the command exits 130 (SIGINT) or 143 (SIGTERM). A second signal
stops the clean-up steps as well.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.cli.common import app_instance
from assay.errors import DefinitionError, Interrupted

if TYPE_CHECKING:
    from assay.ci.gates import Gates, Verdict
    from assay.engine.resolve import Catalog
    from assay.kube.live import KubernetesEngine
    from assay.spec.workflow import TestWorkflow

__all__ = ["judge_run", "notify_run", "print_dry_run", "render_definition", "run_definition"]


def run_definition(
    *,
    name: str | None,
    file: list[Path] | None,
    config: dict[str, str],
    tags: dict[str, str],
    source: Path | None,
    watch: bool,
    json_output: bool = False,
    runner_name: str,
    keep_workspace: bool,
    namespace: str = "assay",
) -> dict[str, Any]:
    """Run one definition (from ``file`` or applied before); return its execution JSON.

    With ``json_output`` streamed logs go to stderr, so stdout holds only the JSON.
    ``--runner kubernetes`` runs it as a Job in ``namespace`` (:mod:`assay.kube.live`).
    """
    from assay.cli.watch import make_sink
    from assay.engine.execution import Engine, RunOptions

    assay = app_instance()
    catalog, workflow = _resolve(name, file)
    sink = make_sink(stream_logs=watch, logs_to_stderr=json_output)
    engine: Engine | KubernetesEngine
    if runner_name == "kubernetes":
        from assay.kube.live import KubernetesEngine

        engine = KubernetesEngine(assay.settings, assay.db, namespace, sink, catalog)
    else:
        from assay.runners import get_runner

        engine = Engine(assay.settings, assay.db, get_runner(runner_name), catalog, sink)

    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        if len(received) == 1 and runner_name == "kubernetes":
            sink.warning(
                f"{signum.name}: aborting the execution (`after` steps with condition `always` "
                "still run in its Pod, then its Job is deleted; again to delete it at once)"
            )
        elif len(received) == 1:
            sink.warning(
                f"{signum.name}: aborting the execution (`after` steps with condition "
                f"`always` still run, for {engine.cleanup_grace:.0f}s at most; again to stop them)"
            )
        engine.cancel(f"interrupted by {signum.name}")

    def interrupt(signum: int, _frame: object) -> None:
        # a handler must not take locks the main thread may hold (the sink's): a thread does
        received.append(signal.Signals(signum))
        threading.Thread(target=stop, args=(received[-1],), name="abort", daemon=True).start()

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        row = engine.run(
            workflow,
            RunOptions(config=config, tags=tags, source=source, keep_workspace=keep_workspace),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise Interrupted(
            f"interrupted by {received[0].name}: execution {row.name} {row.status}", received[0]
        )
    return assay.execution_json(row)


def print_dry_run(
    name: str | None,
    file: list[Path] | None,
    config: dict[str, str],
    runner: str,
    dry_run: bool,
    namespace: str,
    json_output: bool,
) -> None:
    """`assay run --runner kubernetes --dry-run`: the objects as YAML documents (or a JSON
    List) on stdout, notes on what is left out as warnings on stderr."""
    import sys

    import typer

    if runner != "kubernetes":
        raise DefinitionError("--dry-run shows what --runner kubernetes would create")
    objects, notes = render_definition(name=name, file=file, config=config, namespace=namespace)
    for note in notes:
        typer.echo(f"warning: {note}", err=True)
    if json_output:
        import json

        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        from assay.spec.yaml_text import dump_documents

        sys.stdout.write(dump_documents(objects))


def render_definition(
    *, name: str | None, file: list[Path] | None, config: dict[str, str], namespace: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The Kubernetes objects an execution of the definition would create (secret values
    masked), and notes on what the Kubernetes runner leaves out; nothing is recorded."""
    from assay.kube.model import PlanOptions
    from assay.kube.names import ExecutionIdentity
    from assay.kube.render import render_workflow

    workflow = _resolve(name, file)[1]
    workflow_name = workflow.metadata.name
    identity = ExecutionIdentity("dry-run", f"{workflow_name}-dry-run", 0, workflow_name)
    options = PlanOptions.from_env(namespace)
    rendered = render_workflow(workflow, identity, config, options)
    return rendered.masked(), rendered.notes


def _resolve(name: str | None, file: list[Path] | None) -> tuple[Catalog, TestWorkflow]:
    """The catalog (files given, then applied definitions) and the runnable workflow."""
    from assay.engine.resolve import RUNNABLE_KINDS, Catalog
    from assay.spec.loader import load_paths

    loaded = load_paths(file) if file else []
    catalog = Catalog(loaded=loaded, store=app_instance().definitions)
    if name is None:
        runnable = [d for d in loaded if d.kind in RUNNABLE_KINDS]
        if len(runnable) != 1:
            names = ", ".join(d.name for d in runnable) or "none"
            raise DefinitionError(
                f"name the definition to run: {_names(file) or 'no -f given'} holds {names}"
            )
        name = runnable[0].name
    return catalog, catalog.workflow(name)


def _names(files: list[Path] | None) -> str:
    return ", ".join(str(file) for file in files or [])


def judge_run(result: dict[str, Any], gates: Gates) -> Verdict:
    """The verdict on one finished execution (its JSON) under ``gates``."""
    from assay.ci.gates import ExecutionState, Totals, judge

    summary = result.get("summary") or {}
    failing = int(summary.get("failed", 0)) + int(summary.get("errored", 0))
    state = ExecutionState(result["name"], result["status"], failing)
    return judge([state], Totals.from_summary(summary, result.get("durationMs")), gates)


def notify_run(webhook: str, result: dict[str, Any], verdict: Verdict) -> None:
    """Slack on failure or recovery of the execution just run."""
    from assay.cli.ci_options import notify_slack
    from assay.reports.data import collect_report

    store = app_instance().executions
    report = collect_report(store, [result["id"]], with_base=False)
    notify_slack(webhook, store, report, verdict)
