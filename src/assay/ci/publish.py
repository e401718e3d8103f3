"""One report, published to GitHub: the sticky pull-request comment and a check run.

The comment is found again by its hidden marker (the report's first line,
``<!-- assay-report -->``, or ``<!-- assay-report:KEY -->`` with ``--comment-key KEY`` so
that several reports on one pull request keep a comment each): it is updated in place,
never added again.  Each report creates a check run on the pull request's head commit,
with the verdict as its conclusion and up to 50 annotations.

A token that may not write (the read-only ``GITHUB_TOKEN`` of a pull request from a fork)
is not an error: :func:`publish` returns warnings saying so, and the caller still writes the
job summary and the outputs, and still exits as the tests and gates say.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from assay.ci.annotations import Annotations
from assay.ci.gates import Verdict
from assay.ci.github import GitHubClient, GitHubError, GitHubPermissionError
from assay.ci.github_env import GitHubContext
from assay.ci.outputs import truncate
from assay.errors import DefinitionError
from assay.moments import as_utc
from assay.reports.markdown import MARKER
from assay.reports.model import Report

__all__ = [
    "CHECK_TEXT_LIMIT",
    "COMMENT_LIMIT",
    "ClientFactory",
    "Publication",
    "check_run_payload",
    "comment_body",
    "conclusion",
    "default_client",
    "marker",
    "publish",
]

COMMENT_LIMIT = 65536
"""Characters GitHub accepts in a comment body."""
CHECK_TEXT_LIMIT = 65535
"""Characters GitHub accepts in a check run's ``output.summary``."""
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def marker(key: str | None) -> str:
    """The hidden first line that identifies our comment (one per ``key``)."""
    if not key:
        return MARKER
    if not _KEY.match(key):
        raise DefinitionError(
            f"--comment-key {key!r}: use letters, digits, '.', '_' or '-' (64 at most)"
        )
    return f"<!-- assay-report:{key} -->"


def comment_body(markdown: str, key: str | None, footer: str = "") -> str:
    """The report as a comment: keyed marker first, footer last, cut to GitHub's limit."""
    body = markdown.removeprefix(MARKER).lstrip("\n")
    body = f"{marker(key)}\n{body.rstrip()}\n"
    if footer:
        body += f"\n{footer}\n"
    note = "<sub>… cut to fit a GitHub comment: the job summary of the run has it all.</sub>"
    return truncate(body, COMMENT_LIMIT, note)


def conclusion(report: Report, verdict: Verdict) -> str:
    """``success``, ``failure``, or ``neutral`` (passed without a single test)."""
    if not verdict.passed:
        return "failure"
    return "neutral" if report.total.tests == 0 else "success"


def check_title(report: Report, verdict: Verdict) -> str:
    """A one-line title: counts, then why it failed."""
    total = report.total
    parts = [f"{total.tests} tests", f"{total.passed} passed", f"{total.failed} failed"]
    if total.skipped:
        parts.append(f"{total.skipped} skipped")
    if total.flaky:
        parts.append(f"{total.flaky} flaky")
    title = ", ".join(parts)
    failed_gates = [g.name for g in verdict.failed_gates]
    if failed_gates:
        title += f" — gate {', '.join(failed_gates)} failed"
    elif not verdict.passed and verdict.reasons:
        title += f" — {verdict.reasons[0]}"
    return title[:250]


def check_run_payload(
    ctx: GitHubContext,
    name: str,
    report: Report,
    verdict: Verdict,
    markdown: str,
    annotations: Annotations,
) -> dict[str, Any]:
    """The body of "Create a check run", completed with the verdict."""
    notes: list[str] = []
    if annotations.unplaced:
        notes.append(
            f"{annotations.unplaced} failing test(s) not annotated: "
            "their file was not found in the workspace."
        )
    if annotations.dropped:
        notes.append(f"{annotations.dropped} annotation(s) left out: GitHub takes 50 at most.")
    summary = markdown.removeprefix(MARKER).lstrip("\n").rstrip()
    if notes:
        summary += "\n\n" + "\n".join(f"<sub>{note}</sub>" for note in notes)
    summary = truncate(summary, CHECK_TEXT_LIMIT, "<sub>… cut: see the job summary.</sub>")
    started = [r.execution.started_at for r in report.executions if r.execution.started_at]
    payload: dict[str, Any] = {
        "name": name,
        "head_sha": ctx.sha,
        "status": "completed",
        "conclusion": conclusion(report, verdict),
        "completed_at": _iso(datetime.now(UTC)),
        "external_id": " ".join(r.execution.id for r in report.executions)[:255],
        "output": {
            "title": check_title(report, verdict),
            "summary": summary,
            "annotations": annotations.items,
        },
    }
    if started:
        payload["started_at"] = _iso(min(started))
    if ctx.run_url:
        payload["details_url"] = ctx.run_url
    return payload


def _iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Publication:
    """What was published, and what could not be."""

    comment_url: str | None = None
    comment_action: str | None = None
    """``created`` or ``updated``."""
    check_run_url: str | None = None
    notes: list[str] = field(default_factory=list)
    """What was not done, by design (no comment outside a pull request...)."""
    warnings: list[str] = field(default_factory=list)
    error: GitHubError | None = None
    """The first failure that is not a permission problem (raised by the caller)."""


ClientFactory = Callable[[GitHubContext], GitHubClient]


def default_client(ctx: GitHubContext) -> GitHubClient:
    """A real client for ``ctx`` (which has a token)."""
    assert ctx.token is not None
    return GitHubClient(ctx.api_url, ctx.repository, ctx.token)


def publish(
    ctx: GitHubContext,
    *,
    body: str,
    check_run: dict[str, Any] | None,
    key: str | None,
    comment: bool = True,
    client_factory: ClientFactory = default_client,
) -> Publication:
    """Create or update the sticky comment (pull requests only), then create the check run."""
    result = Publication()
    if not ctx.token:
        result.warnings.append(
            "GITHUB_TOKEN is not set: no pull-request comment and no check run "
            "(pass the token as the GITHUB_TOKEN environment variable)"
        )
        return result
    with client_factory(ctx) as client:
        if comment and ctx.pr_number is None:
            event = ctx.event_name or "unknown"
            result.notes.append(f"comment: none ({event} event, not a pull request)")
        elif comment and ctx.pr_number is not None:
            try:
                _upsert_comment(client, ctx.pr_number, marker(key), body, result)
            except GitHubPermissionError as exc:
                warning = _permission("write the pull-request comment", exc, "pull-requests")
                result.warnings.append(warning)
            except GitHubError as exc:
                result.error = result.error or exc
        if check_run is not None:
            try:
                created = client.create_check_run(check_run)
                result.check_run_url = _str(created.get("html_url"))
            except GitHubPermissionError as exc:
                result.warnings.append(_permission("create the check run", exc, "checks"))
            except GitHubError as exc:
                result.error = result.error or exc
    return result


def _upsert_comment(
    client: GitHubClient, number: int, mark: str, body: str, result: Publication
) -> None:
    existing = next(
        (c for c in client.issue_comments(number) if str(c.get("body") or "").startswith(mark)),
        None,
    )
    if existing is not None and isinstance(existing.get("id"), int):
        saved = client.update_issue_comment(existing["id"], body)
        result.comment_action = "updated"
    else:
        saved = client.create_issue_comment(number, body)
        result.comment_action = "created"
    result.comment_url = _str(saved.get("html_url"))


def _permission(what: str, exc: GitHubPermissionError, permission: str) -> str:
    if exc.status == 401:
        return f"cannot {what}: GitHub rejected the token ({exc})"
    return (
        f"cannot {what}: the token is read-only or lacks `{permission}: write` ({exc}). "
        "Pull requests from forks get a read-only GITHUB_TOKEN; "
        "the job summary and outputs are written all the same"
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
