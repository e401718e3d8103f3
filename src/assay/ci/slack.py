"""Slack incoming-webhook notifications: on failure, and on recovery; quiet otherwise.

Messages go through the webhook outbox (:mod:`assay.store.outbox`) as ``slack``
deliveries: each attempt is logged and listed by ``assay webhooks deliveries``.

*Failure*: the report's verdict did not pass.  *Recovery*: it passed, and for one of its
executions the previous finished execution of the same workflow (on the same ``branch``
tag, when the execution has one) did not pass.  A steady success sends nothing.

The message is compact Block Kit (a header, one section per execution, the first failing
tests, failed gates, a context line with links) with a plain ``text`` fallback for
notifications.  The webhook URL is a secret: no message names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import select

from assay.ci.gates import Verdict
from assay.ci.github_env import GitHubContext
from assay.errors import DefinitionError, InfrastructureError
from assay.reports.markdown import first_lines, format_duration, status_icon
from assay.reports.model import Report, ReportedExecution
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.executions import ExecutionStore
from assay.store.tables import ExecutionRow

__all__ = [
    "Notice",
    "SlackError",
    "build_message",
    "check_webhook",
    "notice_for",
    "previous_execution",
    "send",
]

MAX_TESTS = 5
_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)


class SlackError(InfrastructureError):
    """The webhook did not take the message (the message never holds the URL)."""


class Notice(StrEnum):
    """Why a message is sent."""

    FAILURE = "failure"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class Recovered:
    """An execution that passed after ``previous`` did not."""

    execution: ReportedExecution
    previous: ExecutionRow


def check_webhook(url: str) -> str:
    """Reject what cannot be a webhook URL, without echoing it."""
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) < 12:
        raise DefinitionError("--slack-webhook: expected an https:// incoming-webhook URL")
    return url


def previous_execution(
    store: ExecutionStore, row: ExecutionRow | ReportedExecution
) -> ExecutionRow | None:
    """The finished execution of the same workflow numbered just before ``row`` (the latest
    with the same ``branch`` tag when ``row`` has one; among the 200 before it)."""
    branch = (row.tags or {}).get("branch")
    with store.db.session() as session:
        query = (
            select(ExecutionRow)
            .where(
                ExecutionRow.workflow == row.workflow,
                ExecutionRow.status.in_(_FINISHED),
                ExecutionRow.number < row.number,
            )
            .order_by(ExecutionRow.number.desc())
            .limit(200)
        )
        for candidate in session.scalars(query):
            if branch is None or (candidate.tags or {}).get("branch") == branch:
                return candidate
    return None


def notice_for(
    store: ExecutionStore, report: Report, verdict: Verdict
) -> tuple[Notice | None, list[Recovered]]:
    """Whether to notify, and (for a recovery) which executions recovered."""
    if not verdict.passed:
        return Notice.FAILURE, []
    recovered = []
    for item in report.executions:
        previous = previous_execution(store, item.execution)
        if previous is not None and previous.status != ExecutionStatus.PASSED.value:
            recovered.append(Recovered(item.execution, previous))
    return (Notice.RECOVERY, recovered) if recovered else (None, [])


def build_message(
    notice: Notice,
    report: Report,
    verdict: Verdict,
    *,
    recovered: Sequence[Recovered] = (),
    github: GitHubContext | None = None,
) -> dict[str, Any]:
    """The webhook payload: Block Kit ``blocks`` and a ``text`` fallback."""
    names = ", ".join(item.execution.name for item in report.executions)
    total = report.total
    if notice is Notice.FAILURE:
        headline = f"❌ assay: {names} failed — {total.failed} of {total.tests} tests failed"
    else:
        workflows = ", ".join(dict.fromkeys(r.execution.workflow for r in recovered))
        headline = f"✅ assay: {workflows} recovered — {total.tests} tests passed"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(headline, 150)}}
    ]
    rows = []
    for item in report.executions:
        row, counts = item.execution, item.counts
        line = (
            f"{status_icon(row.status)} *{_esc(row.name)}* {row.status} · {counts.tests} tests"
            f" · {counts.failed} failed · {counts.flaky} flaky"
            f" · {format_duration(counts.duration_ms)}"
        )
        back = next((r for r in recovered if r.execution.id == row.id), None)
        if back is not None:
            line += f" (after {_esc(back.previous.name)} {back.previous.status})"
        rows.append(line)
    blocks.append(_section("\n".join(rows)))
    if notice is Notice.FAILURE:
        failing = [(item, t) for item in report.executions for t in item.failing]
        if failing:
            lines = [f"*Failed tests ({len(failing)})*"]
            for item, test in failing[:MAX_TESTS]:
                where = f" ({_esc(item.execution.name)})" if len(report.executions) > 1 else ""
                message = first_lines(test.message, 1, 140)
                lines.append(
                    f"• `{_esc(test.label)}`{where}" + (f" — {_esc(message)}" if message else "")
                )
            if len(failing) > MAX_TESTS:
                lines.append(f"… and {len(failing) - MAX_TESTS} more")
            blocks.append(_section("\n".join(lines)))
        if verdict.reasons:
            reasons = "\n".join(f"• {_esc(r)}" for r in verdict.reasons[:MAX_TESTS])
            blocks.append(_section(f"*Why*\n{reasons}"))
    context = _context(github)
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": headline, "blocks": blocks}


def send(
    url: str,
    payload: dict[str, Any],
    *,
    db: Database,
    execution: ExecutionRow | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Record ``payload`` as a ``slack`` delivery in the outbox (the URL is not stored), POST
    it once and log the attempt; :class:`SlackError` (without the URL) if refused.
    ``assay webhooks replay ID --url URL`` sends it again."""
    from assay.ops.webhooks import Sender
    from assay.store.executions import now
    from assay.store.outbox import Outbox

    delivery = Outbox(db).add_slack(payload, execution, now())
    sender = Sender(db, transport=transport, timeout=15.0)
    try:
        result = sender.attempt(delivery, url=url)
    finally:
        sender.close()
    if result.ok:
        return
    if result.status_code is None:
        raise SlackError(f"Slack webhook {result.error}")
    raise SlackError(f"Slack webhook refused the message: {result.error}")


def _context(github: GitHubContext | None) -> str:
    if github is None:
        return ""
    parts = [f"`{_esc(github.repository)}`"]
    if github.pr_number is not None:
        url = f"{github.server_url}/{github.repository}/pull/{github.pr_number}"
        parts.append(f"<{url}|PR #{github.pr_number}>")
    parts.append(f"`{github.sha[:7]}`")
    if github.run_url:
        parts.append(f"<{github.run_url}|workflow run>")
    return " · ".join(parts)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}}


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
