"""``assay run``: pick the definition, build the engine, handle Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from assay.cli.common import app_instance
from assay.errors import DefinitionError

__all__ = ["run_definition"]


def run_definition(
    *,
    name: str | None,
    file: Path | None,
    config: dict[str, str],
    tags: dict[str, str],
    source: Path | None,
    watch: bool,
    runner_name: str,
    keep_workspace: bool,
) -> dict[str, Any]:
    """Run one definition (from ``file`` or applied before); return its execution JSON."""
    from assay.cli.watch import make_sink
    from assay.engine.execution import Engine, RunOptions
    from assay.engine.resolve import RUNNABLE_KINDS, Catalog
    from assay.runners import get_runner
    from assay.spec.loader import load_definitions

    assay = app_instance()
    loaded = load_definitions(file) if file is not None else []
    catalog = Catalog(loaded=loaded, store=assay.definitions)
    if name is None:
        runnable = [d for d in loaded if d.kind in RUNNABLE_KINDS]
        if len(runnable) != 1:
            names = ", ".join(d.name for d in runnable) or "none"
            raise DefinitionError(
                f"name the definition to run: {file or 'no -f given'} holds {names}"
            )
        name = runnable[0].name
    workflow = catalog.workflow(name)
    runner = get_runner(runner_name)
    sink = make_sink(stream_logs=watch)
    engine = Engine(assay.settings, assay.db, runner, catalog, sink)

    def interrupt(_signum: int, _frame: object) -> None:
        sink.warning("interrupted: aborting the execution")
        engine.cancel()

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        row = engine.run(
            workflow,
            RunOptions(config=config, tags=tags, source=source, keep_workspace=keep_workspace),
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    return assay.execution_json(row)
