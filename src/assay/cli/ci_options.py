"""Options shared by `assay run` and `assay report`: quality gates and Slack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from assay.ci.gates import Gates, Verdict
    from assay.ci.github_env import GitHubContext
    from assay.reports.model import Report
    from assay.store.executions import ExecutionStore

__all__ = [
    "FailOnFlaky",
    "MaxDuration",
    "MaxFailures",
    "MinPassRate",
    "MinTests",
    "SlackWebhook",
    "echo_verdict",
    "notify_slack",
    "parse_gates",
]

_GATES = "Quality gates"

MinTests = Annotated[
    int | None,
    typer.Option(
        "--min-tests",
        min=0,
        help="Fail unless at least N tests ran (skipped ones do not count).",
        rich_help_panel=_GATES,
        show_default=False,
    ),
]
MaxFailures = Annotated[
    int | None,
    typer.Option(
        "--max-failures",
        min=0,
        help="Tolerate up to N failed tests (failures and errors; quarantined do not count).",
        rich_help_panel=_GATES,
        show_default=False,
    ),
]
MinPassRate = Annotated[
    str | None,
    typer.Option(
        "--min-pass-rate",
        metavar="PERCENT",
        help="Judge failed tests by passed / (passed + failed), e.g. 95 or 99.5%.",
        rich_help_panel=_GATES,
        show_default=False,
    ),
]
MaxDuration = Annotated[
    str | None,
    typer.Option(
        "--max-duration",
        metavar="DURATION",
        help="Fail when the executions took longer: seconds, or 90s, 10m, 1h30m.",
        rich_help_panel=_GATES,
        show_default=False,
    ),
]
FailOnFlaky = Annotated[
    bool,
    typer.Option(
        "--fail-on-flaky",
        help="Fail when a test passed only on retry.",
        rich_help_panel=_GATES,
    ),
]
SlackWebhook = Annotated[
    str | None,
    typer.Option(
        "--slack-webhook",
        envvar="ASSAY_SLACK_WEBHOOK",
        metavar="URL",
        help="Slack incoming webhook: notify on failure and on recovery (never printed).",
        show_default=False,
        show_envvar=True,
    ),
]


def parse_gates(
    min_tests: int | None,
    max_failures: int | None,
    min_pass_rate: str | None,
    max_duration: str | None,
    fail_on_flaky: bool,
) -> Gates:
    """Gates from the options (bad values exit 2 before anything runs)."""
    from assay.ci.gates import Gates

    return Gates.parse(
        min_tests=min_tests,
        max_failures=max_failures,
        min_pass_rate=min_pass_rate,
        max_duration=max_duration,
        fail_on_flaky=fail_on_flaky,
    )


def echo_verdict(verdict: Verdict, *, err: bool = True) -> None:
    """One line per gate, then the verdict with its reasons."""
    for gate in verdict.gates:
        typer.echo(str(gate), err=err)
    if verdict.passed:
        tolerated = f" (failed tests of {', '.join(verdict.tolerated)} within the gates)"
        typer.echo("verdict: passed" + (tolerated if verdict.tolerated else ""), err=err)
    else:
        typer.echo(f"verdict: {verdict.status} — {'; '.join(verdict.reasons)}", err=err)


def notify_slack(
    webhook: str,
    store: ExecutionStore,
    report: Report,
    verdict: Verdict,
    github: GitHubContext | None = None,
    *,
    err: bool = True,
) -> None:
    """Send the failure or recovery message, if there is one; a refused message warns."""
    from assay.ci.slack import SlackError, build_message, notice_for, send

    notice, recovered = notice_for(store, report, verdict)
    if notice is None:
        typer.echo("slack: nothing to notify (passed, and no failure before it)", err=err)
        return
    try:
        message = build_message(notice, report, verdict, recovered=recovered, github=github)
        first = store.get(report.executions[0].execution.id) if report.executions else None
        send(webhook, message, db=store.db, execution=first)
    except SlackError as exc:
        typer.echo(f"warning: {exc}", err=True)
        return
    typer.echo(f"slack: {notice.value} notification sent", err=err)
