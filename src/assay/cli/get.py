"""``assay get``: workflows, executions, one execution, test cases (local or remote)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assay.cli.common import app_instance, remote_client
from assay.cli.output import Format, emit

__all__ = ["app"]

app = typer.Typer(
    help="Show stored definitions, executions and test cases.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

OutputOption = Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")]

WORKFLOW_COLUMNS = [("kind", "KIND"), ("name", "NAME"), ("labels", "LABELS")]
EXECUTION_COLUMNS = [
    ("id", "ID"),
    ("name", "NAME"),
    ("workflow", "WORKFLOW"),
    ("status", "STATUS"),
    ("startedAt", "STARTED"),
    ("summary.tests", "TESTS"),
    ("summary.failed", "FAILED"),
    ("durationMs", "MS"),
    ("tags", "TAGS"),
]
TESTCASE_COLUMNS = [
    ("testId", "TEST ID"),
    ("classname", "CLASS"),
    ("name", "NAME"),
    ("status", "STATUS"),
    ("attempt", "TRY"),
    ("durationMs", "MS"),
]


@app.command("workflows")
def workflows(output: OutputOption = Format.TABLE) -> None:
    """Applied definitions."""
    client = remote_client()
    if client is not None:
        emit(client.workflows(), output, WORKFLOW_COLUMNS)
        return
    rows = [
        {
            "kind": row.kind,
            "name": row.name,
            "labels": row.labels,
            "source": row.source,
            "updatedAt": row.updated_at.isoformat(),
        }
        for row in app_instance().definitions.all()
    ]
    emit(rows, output, WORKFLOW_COLUMNS)


@app.command("executions")
def executions(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N, newest first.")] = 20,
    output: OutputOption = Format.TABLE,
) -> None:
    """Executions, newest first (one SQL query)."""
    client = remote_client()
    if client is not None:
        rows = client.executions(workflow=workflow, limit=limit)
    else:
        rows = app_instance().recent_executions_json(workflow=workflow, limit=limit)
    emit(rows, output, EXECUTION_COLUMNS)


@app.command("execution")
def execution(
    ref: Annotated[str, typer.Argument(help="Execution id, id prefix or name.")],
    output: OutputOption = Format.TABLE,
) -> None:
    """One execution with its steps."""
    client = remote_client()
    data: dict[str, Any]
    if client is not None:
        data = client.execution(ref)
    else:
        assay = app_instance()
        data = assay.execution_json(assay.executions.get(ref))
    if output is Format.TABLE:
        emit(
            data,
            output,
            [("id", "ID"), ("name", "NAME"), ("status", "STATUS"), ("summary", "SUMMARY")],
        )
        emit(
            data["steps"],
            output,
            [
                ("ref", "REF"),
                ("name", "STEP"),
                ("status", "STATUS"),
                ("exitCode", "EXIT"),
                ("durationMs", "MS"),
            ],
        )
    else:
        emit(data, output, [])


@app.command("testcases")
def testcases(
    ref: Annotated[str, typer.Argument(help="Execution id, id prefix or name.")],
    output: OutputOption = Format.TABLE,
) -> None:
    """Test cases of an execution (every attempt)."""
    client = remote_client()
    if client is not None:
        rows = client.testcases(ref)
    else:
        from assay.app import testcase_json

        assay = app_instance()
        row = assay.executions.get(ref)
        rows = [testcase_json(case) for case in assay.executions.test_cases(row.id)]
    emit(rows, output, TESTCASE_COLUMNS)


@app.command("schedules")
def schedules(
    count: Annotated[int, typer.Option(min=1, max=100, help="Next N fire times each.")] = 1,
    output: OutputOption = Format.TABLE,
) -> None:
    """Cron schedules (`spec.events[].cronjob`) of applied workflows, with their next fire
    times (UTC) and last tick. `assay server` fires them."""
    from datetime import UTC, datetime

    rows = app_instance().schedules_json(datetime.now(UTC), count=count)
    if output is Format.TABLE:
        for row in rows:
            row["nextFire"] = ", ".join(row["next"])
            last = row["lastTick"]
            row["last"] = "" if last is None else f"{last['scheduledAt']} {last['state']}"
    emit(
        rows,
        output,
        [
            ("workflow", "WORKFLOW"),
            ("cron", "CRON"),
            ("timezone", "TZ"),
            ("nextFire", "NEXT"),
            ("last", "LAST TICK"),
            ("tags", "TAGS"),
        ],
    )
