"""``assay report``: Markdown (PR comment), self-contained HTML, or merged JUnit; with
``--github``, the job summary, sticky PR comment, check run and step outputs; quality gates
and Slack notifications."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.ci_options import (
    FailOnFlaky,
    MaxDuration,
    MaxFailures,
    MinPassRate,
    MinTests,
    SlackWebhook,
    echo_verdict,
    notify_slack,
    parse_gates,
)
from assay.cli.common import app_instance, remote_client
from assay.errors import DefinitionError, InfrastructureError

if TYPE_CHECKING:
    from assay.ci.github_env import GitHubContext
    from assay.ci.reporting import GitHubResult
    from assay.reports.model import Report

__all__ = ["ReportFormat", "report"]

_GITHUB = "GitHub Actions"


class ReportFormat(StrEnum):
    """Formats of `assay report`."""

    MARKDOWN = "markdown"
    HTML = "html"
    JUNIT = "junit"


def report(
    executions: Annotated[
        list[str], typer.Argument(help="Execution ids, id prefixes or names.", show_default=False)
    ],
    format: Annotated[
        ReportFormat, typer.Option("--format", "-F", help="markdown, html or junit.")
    ] = ReportFormat.MARKDOWN,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")
    ] = None,
    base: Annotated[
        str, typer.Option(help="Compare with the latest execution tagged branch=BASE.")
    ] = "main",
    github: Annotated[
        bool,
        typer.Option(
            "--github",
            help="In GitHub Actions: job summary, one sticky PR comment, a check run with "
            "annotations, step outputs (token from GITHUB_TOKEN).",
            rich_help_panel=_GITHUB,
        ),
    ] = False,
    comment_key: Annotated[
        str | None,
        typer.Option(
            "--comment-key",
            metavar="KEY",
            help="Keep a separate sticky comment per KEY on the same pull request.",
            rich_help_panel=_GITHUB,
            show_default=False,
        ),
    ] = None,
    check_name: Annotated[
        str,
        typer.Option("--check-name", help="Name of the check run.", rich_help_panel=_GITHUB),
    ] = "assay",
    comment: Annotated[
        bool,
        typer.Option(
            "--comment/--no-comment", help="Write the PR comment.", rich_help_panel=_GITHUB
        ),
    ] = True,
    check_run: Annotated[
        bool,
        typer.Option(
            "--check-run/--no-check-run", help="Create the check run.", rich_help_panel=_GITHUB
        ),
    ] = True,
    min_tests: MinTests = None,
    max_failures: MaxFailures = None,
    min_pass_rate: MinPassRate = None,
    max_duration: MaxDuration = None,
    fail_on_flaky: FailOnFlaky = False,
    slack_webhook: SlackWebhook = None,
) -> None:
    """Report on executions: totals with changes against the base branch, failed, flaky and
    quarantined tests.  Several executions make one report with a row each.

    Exit 0 once written.  With --github or a gate, the verdict decides: exit 0 passed,
    exit 1 tests or a gate failed, exit 3 infrastructure (see docs/ci.md).  With --server,
    the server's executions: gates and --github are judged and published here."""
    from assay.app import REPORT_HISTORY
    from assay.ci.publish import marker
    from assay.ci.reporting import gated_markdown, judge_report

    gates = parse_gates(min_tests, max_failures, min_pass_rate, max_duration, fail_on_flaky)
    marker(comment_key)  # a bad key is bad input: exit 2 before anything is written
    client = remote_client()
    if client is not None and slack_webhook:
        raise DefinitionError(
            "--slack-webhook: with --server the Slack message would be sent through the "
            "store's outbox, which is the server's: run `assay report --slack-webhook` "
            "where the store is, or apply a Webhook on the server"
        )
    webhook = None
    if slack_webhook:
        from assay.ci.slack import check_webhook

        webhook = check_webhook(slack_webhook)
    context = None
    if github:
        from assay.ci.github_env import GitHubContext

        context = GitHubContext.from_env(os.environ)
    history = REPORT_HISTORY if format is ReportFormat.HTML else 0
    store = None
    if client is not None:
        if not (github or gates.any):  # rendered by the server
            _write(client.report(executions, format=format.value, base=base), output)
            raise typer.Exit(0)
        from assay.reports.model import report_from_json

        # judged and published here, where the checkout (annotations) and GITHUB_* are
        data = report_from_json(client.report_data(executions, base=base, history=history))
    else:
        from assay.reports.data import collect_report

        store = app_instance().executions
        data = collect_report(store, executions, base_branch=base, history=history)
    verdict = judge_report(data, gates)
    markdown = gated_markdown(data, verdict)
    if context is None or output is not None:
        _write_report(data, format, markdown, output)

    published = None
    if context is not None:
        from assay.ci.reporting import to_github

        published = to_github(
            context,
            data,
            verdict,
            markdown,
            key=comment_key,
            check_name=check_name,
            comment=comment,
            check_run=check_run,
        )
        _echo_github(context, published)
    if webhook is not None and store is not None:
        notify_slack(webhook, store, data, verdict, context, err=context is None)
    gated = context is not None or gates.any
    if gated:
        echo_verdict(verdict, err=context is None)
    if published is not None and published.publication.error is not None:
        raise published.publication.error
    raise typer.Exit(int(verdict.exit_code) if gated else 0)


def _write_report(data: Report, format: ReportFormat, markdown: str, output: Path | None) -> None:
    from assay.reports.render import render_report

    _write(render_report(data, format.value, markdown=markdown), output)


def _echo_github(context: GitHubContext, result: GitHubResult) -> None:
    """What was published, as plain lines; warnings as workflow commands."""
    from assay.ci.outputs import workflow_command

    for note in context.notes:
        typer.echo(workflow_command("notice", note, title="assay"))
    publication = result.publication
    if result.summary_written:
        typer.echo("job summary: written")
    if publication.comment_url or publication.comment_action:
        typer.echo(f"comment: {publication.comment_action} {publication.comment_url or ''}")
    if publication.check_run_url:
        count = len(result.annotations)
        typer.echo(f"check run: {publication.check_run_url} ({count} annotations)")
    elif result.annotations:
        # no check run (read-only token): annotate through the runner instead (10 at most)
        for item in result.annotations[:10]:
            command = "error" if item["annotation_level"] == "failure" else "warning"
            typer.echo(
                workflow_command(
                    command,
                    str(item["message"]),
                    file=str(item["path"]),
                    line=str(item["start_line"]),
                    title=str(item["title"]),
                )
            )
    for note in publication.notes:
        typer.echo(note)
    if result.outputs_written:
        typer.echo("outputs: written")
    for warning in publication.warnings:
        typer.echo(workflow_command("warning", warning, title="assay"))


def _write(content: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(content)
    except OSError as exc:
        raise InfrastructureError(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output}", err=True)
