"""``assay shard plan``: duration-balanced shards from a workflow's recorded durations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from assay.cli.common import app_instance
from assay.cli.output import Format, emit
from assay.errors import DefinitionError, NotFoundError

__all__ = ["app"]

app = typer.Typer(
    help="Plan test shards from recorded durations.", no_args_is_help=True, rich_markup_mode=None
)


@app.command("plan")
def plan(
    workflow: Annotated[str, typer.Option(help="Workflow whose history gives the durations.")],
    shards: Annotated[int, typer.Option(min=1, help="Number of shards.")],
    tests: Annotated[
        Path | None,
        typer.Option(
            help="File listing the tests to plan, one a line (pytest node ids or "
            "classname::name); default: every test in the history."
        ),
    ] = None,
    actual: Annotated[
        list[str] | None,
        typer.Option(
            help="Execution(s) whose recorded durations measure the plan (a later run, or "
            "the executions that ran the shards); repeatable."
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option(min=1, help="Median of each test's last N timed attempts.")
    ] = 5,
    history: Annotated[int, typer.Option(min=1, help="Latest finished executions searched.")] = 30,
    output: Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")] = (
        Format.TABLE
    ),
) -> None:
    """Split tests into SHARDS that end together: longest first onto the least-loaded shard,
    each test's duration the median of its recent attempts, unknown tests the mean.

    With --tests the plan lists the tests as written in the file (pytest node ids stay node
    ids); otherwise as ``classname::name``.  Shards are numbered from 0."""
    from assay.analytics.sharding import (
        historical_durations,
        measure_plan,
        plan_shards,
        read_test_list,
        recorded_durations,
    )

    store = app_instance().executions
    measured_rows = [store.get(ref) for ref in actual or []]
    known = historical_durations(
        store,
        workflow,
        samples=samples,
        executions=history,
        exclude=[row.id for row in measured_rows],
    )
    as_written: dict[str, str] = {}
    if tests is not None:
        try:
            as_written = read_test_list(tests.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DefinitionError(f"--tests {tests}: {exc.strerror or exc}") from exc
        if not as_written:
            raise DefinitionError(f"--tests {tests}: no test names in the file")
        names = list(as_written)
    else:
        if not known.tests:
            raise NotFoundError(
                f"no recorded tests for workflow {workflow!r}; run or import it first, "
                "or give --tests"
            )
        names = sorted(known.tests)
    result = plan_shards(names, known.durations, shards)
    data: dict[str, Any] = {"workflow": workflow, "history": list(known.executions)}
    data.update(result.as_dict())
    if as_written:  # print the plan in the names the caller gave (e.g. pytest node ids)
        for shard in data["shards"]:
            shard["tests"] = [as_written[t] for t in shard["tests"]]
        data["unknown"] = [as_written[t] for t in data["unknown"]]
    if measured_rows:
        measured = measure_plan(result, recorded_durations(store, [r.id for r in measured_rows]))
        data["actual"] = {
            "executions": [row.name for row in measured_rows],
            "makespanMs": round(measured.makespan_ms),
            "shardMs": [round(ms) for ms in measured.shard_ms],
            "missing": list(measured.missing),
            "wallMs": _wall_by_shard(measured_rows),
        }
    if output is not Format.TABLE:
        emit(data, output, [])
        return
    _print_table(data)


def _wall_by_shard(rows: list[Any]) -> dict[str, int]:
    """Wall time of executions tagged ``shard=i``, by i (imported ones have none to tell)."""
    wall: dict[str, int] = {}
    for row in rows:
        index = (row.tags or {}).get("shard")
        if index is not None and row.duration_ms is not None and row.runner != "import":
            wall[str(index)] = wall.get(str(index), 0) + int(row.duration_ms)
    return wall


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f}s"


def _print_table(data: dict[str, Any]) -> None:
    actual = data.get("actual")
    rows = []
    for shard in data["shards"]:
        row = {
            "index": shard["index"],
            "tests": len(shard["tests"]),
            "planned": _seconds(shard["plannedMs"]),
        }
        if actual:
            row["actual"] = _seconds(actual["shardMs"][shard["index"]])
            row["missing"] = actual["missing"][shard["index"]]
            wall = actual["wallMs"].get(str(shard["index"]))
            row["wall"] = _seconds(wall) if wall is not None else None
        rows.append(row)
    columns = [("index", "SHARD"), ("tests", "TESTS"), ("planned", "PLANNED")]
    if actual:
        columns += [("actual", "ACTUAL"), ("missing", "NOT RECORDED"), ("wall", "WALL")]
    emit(rows, Format.TABLE, columns)
    unknown = len(data["unknown"])
    typer.echo(
        f"planned makespan {_seconds(data['plannedMakespanMs'])}, ideal "
        f"{_seconds(data['idealMs'])} (x{data['quality']:.3f}); "
        f"{unknown} test(s) without history given the mean {_seconds(data['meanMs'])}; "
        f"durations from {len(data['history'])} execution(s)"
    )
    if actual:
        ratio = actual["makespanMs"] / data["plannedMakespanMs"] if data["plannedMakespanMs"] else 0
        typer.echo(
            f"actual makespan {_seconds(actual['makespanMs'])} (x{ratio:.3f} of planned) "
            f"in {', '.join(actual['executions'])}"
        )
