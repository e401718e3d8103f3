"""From a collected report to a verdict, and to GitHub: the use cases behind the CLI flags.

:func:`judge_report` applies the gates to a :class:`~assay.reports.model.Report`;
:func:`gated_markdown` is the Markdown report with the gates in it; :func:`to_github`
writes the job summary, publishes the comment and check run, and writes the step outputs,
in that order, so that a failed or forbidden API call still leaves the summary and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.ci.annotations import build_annotations
from assay.ci.gates import ExecutionState, Gates, Totals, Verdict, judge, render_gates_markdown
from assay.ci.github_env import GitHubContext
from assay.ci.outputs import append_step_summary, write_outputs
from assay.ci.publish import (
    ClientFactory,
    Publication,
    check_run_payload,
    comment_body,
    conclusion,
    default_client,
    publish,
)
from assay.model import CaseStatus
from assay.reports.markdown import render_markdown
from assay.reports.model import Report

__all__ = ["GitHubResult", "gated_markdown", "judge_report", "outputs", "to_github"]


def judge_report(report: Report, gates: Gates) -> Verdict:
    """The verdict on the reported executions, their totals and the gates."""
    states = [
        ExecutionState(item.execution.name, item.execution.status, len(item.failing))
        for item in report.executions
    ]
    total = report.total
    totals = Totals(
        tests=total.tests,
        passed=total.passed,
        failed=total.failed,
        skipped=total.skipped,
        flaky=total.flaky,
        quarantined=total.quarantined,
        duration_ms=total.duration_ms,
    )
    return judge(states, totals, gates)


def gated_markdown(report: Report, verdict: Verdict) -> str:
    """The Markdown report with the gates section after the table (before the test lists)."""
    markdown = render_markdown(report)
    section = render_gates_markdown(verdict)
    if not section:
        return markdown
    lines = markdown.splitlines()
    at = next(
        (
            i
            for i, line in enumerate(lines)
            if line.startswith("#### Failed tests") or line.startswith("<details>")
        ),
        len(lines),
    )
    merged = [*lines[:at], *section.rstrip("\n").splitlines(), "", *lines[at:]]
    return "\n".join(merged).rstrip("\n") + "\n"


def outputs(report: Report, verdict: Verdict, publication: Publication | None) -> dict[str, str]:
    """The step outputs (``$GITHUB_OUTPUT``)."""
    total = report.total
    errored = sum(
        t.status == CaseStatus.ERRORED.value for item in report.executions for t in item.tests
    )
    rated = total.passed + total.failed
    return {
        "status": verdict.status,
        "conclusion": conclusion(report, verdict),
        "tests": str(total.tests),
        "passed": str(total.passed),
        "failed": str(total.failed),
        "errored": str(errored),
        "skipped": str(total.skipped),
        "flaky": str(total.flaky),
        "quarantined": str(total.quarantined),
        "pass-rate": f"{100.0 * total.passed / rated:.2f}" if rated else "",
        "duration-ms": str(total.duration_ms),
        "execution-ids": " ".join(item.execution.id for item in report.executions),
        "executions": " ".join(item.execution.name for item in report.executions),
        "gate": " ".join(g.name for g in verdict.failed_gates),
        "comment-url": (publication.comment_url if publication else None) or "",
        "check-run-url": (publication.check_run_url if publication else None) or "",
    }


@dataclass(slots=True)
class GitHubResult:
    """What :func:`to_github` did."""

    publication: Publication
    annotations: list[dict[str, object]] = field(default_factory=list)
    summary_written: bool = False
    outputs_written: bool = False


def to_github(
    ctx: GitHubContext,
    report: Report,
    verdict: Verdict,
    markdown: str,
    *,
    key: str | None = None,
    check_name: str = "assay",
    comment: bool = True,
    check_run: bool = True,
    client_factory: ClientFactory = default_client,
) -> GitHubResult:
    """Job summary, then comment and check run, then outputs.

    Permission problems come back as warnings in ``publication``; any other API failure is
    in ``publication.error`` for the caller to raise once everything else is written.
    """
    footer = _footer(ctx)
    summary_written = False
    if ctx.step_summary is not None:
        append_step_summary(ctx.step_summary, f"{markdown}\n{footer}\n")
        summary_written = True
    annotations = build_annotations(report, ctx.workspace)
    payload = None
    if check_run:
        payload = check_run_payload(ctx, check_name, report, verdict, markdown, annotations)
    published = publish(
        ctx,
        body=comment_body(markdown, key, footer),
        check_run=payload,
        key=key,
        comment=comment,
        client_factory=client_factory,
    )
    if not summary_written:
        published.warnings.insert(0, "GITHUB_STEP_SUMMARY is not set: no job summary")
    outputs_written = False
    if ctx.output is not None:
        write_outputs(ctx.output, outputs(report, verdict, published))
        outputs_written = True
    else:
        published.warnings.append("GITHUB_OUTPUT is not set: no step outputs")
    return GitHubResult(published, list(annotations.items), summary_written, outputs_written)


def _footer(ctx: GitHubContext) -> str:
    parts = [f"commit `{ctx.sha[:7]}`"]
    if ctx.run_url:
        parts.insert(0, f"[workflow run]({ctx.run_url})")
    return "<sub>assay · " + " · ".join(parts) + "</sub>"
