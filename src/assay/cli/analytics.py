"""``assay flaky``, ``assay trends``, ``assay trace``: decisions from the stored history."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from assay.cli.common import app_instance, remote_client
from assay.cli.output import Format, emit, print_table

__all__ = ["app"]

app = typer.Typer(rich_markup_mode=None)

OutputOption = Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")]
WorkflowOption = Annotated[str | None, typer.Option(help="Only this workflow.")]
WindowOption = Annotated[
    int, typer.Option(min=1, help="Look at the last N executions of each workflow.")
]


class Bucket(StrEnum):
    """Trend periods."""

    DAY = "day"
    WEEK = "week"


def _test_label(data: dict[str, Any]) -> str:
    return f"{data['classname']}::{data['name']}" if data.get("classname") else data["name"]


@app.command()
def flaky(
    workflow: WorkflowOption = None,
    window: WindowOption = 20,
    flip_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Flaky when status changes / results >= this.")
    ] = 0.3,
    failure_threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Flaky when failures / results >= this (and passes)."),
    ] = 0.2,
    min_results: Annotated[
        int, typer.Option(min=1, help="Rates need at least this many results.")
    ] = 5,
    all_tests: Annotated[
        bool, typer.Option("--all", help="List every test with its verdict, not only flaky.")
    ] = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """Flaky tests, each with the rules that fired and the executions that show it."""
    client = remote_client()
    rows: list[dict[str, Any]]
    if client is not None:
        query = {
            "workflow": workflow,
            "window": window,
            "flipThreshold": flip_threshold,
            "failureThreshold": failure_threshold,
            "minResults": min_results,
            "all": all_tests,
        }
        rows = client.analytics("flaky", query)
    else:
        from assay.analytics.flaky import Thresholds

        thresholds = Thresholds(window, flip_threshold, failure_threshold, min_results)
        rows = app_instance().flaky(workflow=workflow, thresholds=thresholds, include_all=all_tests)
    if output is not Format.TABLE:
        emit(rows, output, [])
        return
    if not rows:
        typer.echo(f"no flaky tests in the last {window} executions of each workflow")
        return
    for row in rows:
        row["test"] = _test_label(row)
        row["why"] = ",".join(_SHORT[reason] for reason in row["reasons"]) or None
        cited = {r["executionId"] for item in row["evidence"] for r in item["results"]}
        row["cited"] = len(cited) or None
    columns = [("testId", "TEST ID"), ("workflow", "WORKFLOW"), ("test", "TEST")]
    if workflow:
        columns.remove(("workflow", "WORKFLOW"))
    if all_tests:
        columns.append(("verdict", "VERDICT"))
    columns += [
        ("why", "REASONS"),
        ("flipRate", "FLIP"),
        ("failureRate", "FAIL"),
        ("results", "RESULTS"),
        ("cited", "EXECS"),
    ]
    print_table(rows, columns)
    typer.echo("reasons: commit=same-commit flip=flip-rate fail=failure-rate; evidence: -o json")


_SHORT = {"same-commit": "commit", "retry": "retry", "flip-rate": "flip", "failure-rate": "fail"}


@app.command()
def trends(
    workflow: WorkflowOption = None,
    days: Annotated[int, typer.Option(min=1, help="Trend over the last N days.")] = 30,
    bucket: Annotated[Bucket, typer.Option(help="Period of each point: day or week (UTC).")] = (
        Bucket.DAY
    ),
    window: WindowOption = 20,
    top: Annotated[int, typer.Option(min=1, help="How many slowest tests.")] = 10,
    base: Annotated[
        str, typer.Option(help="Base branch (tag `branch`) to find newly failing tests against.")
    ] = "main",
    execution: Annotated[
        str | None,
        typer.Option(help="Compare this execution (id or name) instead of each latest one."),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Pass rate, duration p50/p95 and test count over time; slowest tests; newly failing."""
    query: dict[str, Any] = {
        "workflow": workflow,
        "days": days,
        "bucket": bucket.value,
        "window": window,
        "top": top,
        "base": base,
        "execution": execution,
    }
    client = remote_client()
    data = client.analytics("trends", query) if client else app_instance().trends(**query)
    if output is not Format.TABLE:
        emit(data, output, [])
        return
    _trends_tables(data, days=days, bucket=bucket.value, window=window)


def _trends_tables(data: dict[str, Any], *, days: int, bucket: str, window: int) -> None:
    if data["points"]:
        print_table(
            data["points"],
            [
                ("workflow", "WORKFLOW"),
                ("period", bucket.upper()),
                ("executions", "RUNS"),
                ("passRate", "PASS RATE"),
                ("testPassRate", "TEST PASS RATE"),
                ("durationP50Ms", "P50 MS"),
                ("durationP95Ms", "P95 MS"),
                ("tests", "TESTS"),
            ],
            title=f"Trends, last {days} days",
        )
    else:
        typer.echo(f"no finished executions in the last {days} days")
    if data["slowest"]:
        rows = [{**row, "test": _test_label(row)} for row in data["slowest"]]
        print_table(
            rows,
            [
                ("testId", "TEST ID"),
                ("workflow", "WORKFLOW"),
                ("test", "TEST"),
                ("meanMs", "MEAN MS"),
                ("maxMs", "MAX MS"),
                ("results", "RESULTS"),
            ],
            title=f"Slowest tests, last {window} executions",
        )
    failures = []
    for comparison in data["newlyFailing"]:
        if comparison["baseExecution"] is None:
            typer.echo(
                f"{comparison['workflow']}: no earlier execution on branch {data['base']} "
                f"to compare {comparison['execution']} with"
            )
        for test in comparison["tests"]:
            failures.append({**comparison, **test, "test": _test_label(test)})
    if failures:
        print_table(
            failures,
            [
                ("testId", "TEST ID"),
                ("test", "TEST"),
                ("execution", "EXECUTION"),
                ("status", "STATUS"),
                ("baseExecution", "BASE"),
                ("baseStatus", "BASE STATUS"),
            ],
            title=f"Newly failing against {data['base']}",
        )
    elif data["newlyFailing"]:
        typer.echo(f"no test newly failing against {data['base']}")


@app.command()
def trace(
    workflow: WorkflowOption = None,
    window: WindowOption = 20,
    requirement: Annotated[
        list[str] | None,
        typer.Option(
            "--requirement",
            "-r",
            help="A requirement that must have a passing test (repeatable, or comma-separated).",
        ),
    ] = None,
    require_all: Annotated[
        bool,
        typer.Option(help="Exit 1 when any requirement in the matrix has no passing test."),
    ] = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """Requirement -> tests -> latest status; exit 1 when a checked requirement has no
    passing test (those given with --requirement, or every one with --require-all)."""
    listed = [
        part.strip() for value in requirement or [] for part in value.split(",") if part.strip()
    ]
    client = remote_client()
    if client is not None:
        query = {"workflow": workflow, "window": window, "requirement": listed}
        data = client.analytics("trace", {**query, "requireAll": require_all})
    else:
        data = app_instance().trace(
            workflow=workflow, window=window, requirements=listed, require_all=require_all
        )
    unsatisfied = data["unsatisfied"]
    if output is not Format.TABLE:
        emit(data, output, [])
    elif not data["requirements"]:
        typer.echo("no test names a requirement in the recent executions")
    else:
        rows = []
        for item in data["requirements"]:
            for test in item["tests"] or [None]:
                rows.append(
                    {
                        "requirement": item["requirement"],
                        "status": item["status"],
                        "test": _test_label(test) if test else None,
                        "workflow": test["workflow"] if test else None,
                        "testStatus": test["status"] if test else None,
                        "execution": test["execution"] if test else None,
                    }
                )
        print_table(
            rows,
            [
                ("requirement", "REQUIREMENT"),
                ("status", "STATUS"),
                ("workflow", "WORKFLOW"),
                ("test", "TEST"),
                ("testStatus", "TEST STATUS"),
                ("execution", "EXECUTION"),
            ],
        )
    for rid in unsatisfied:
        typer.echo(f"requirement {rid} has no passing test", err=True)
    if unsatisfied:
        raise typer.Exit(1)
