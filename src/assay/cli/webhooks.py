"""``assay webhooks``: the outbox of Webhook (and Slack) deliveries: list, attempts, replay,
send what is due."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assay.cli.common import app_instance
from assay.cli.output import Format, emit

__all__ = ["app"]

app = typer.Typer(
    help="Webhook deliveries (the outbox): list them, their attempts, replay, send.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

OutputOption = Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")]


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


@app.command("deliveries")
def deliveries(
    status: Annotated[
        str | None, typer.Option(help="Only pending, delivered or failed ones.")
    ] = None,
    execution: Annotated[str | None, typer.Option(help="Only this execution's.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N, newest first.")] = 50,
    output: OutputOption = Format.TABLE,
) -> None:
    """Deliveries, newest first: receiver, event, status, attempts, last answer."""
    assay = app_instance()
    execution_id = assay.executions.get(execution).id if execution else None
    rows = [
        {
            "id": row.id,
            "kind": row.kind,
            "target": row.target,
            "event": row.event_type,
            "eventId": row.event_id,
            "executionId": row.execution_id,
            "workflow": row.workflow,
            "status": row.status,
            "attempts": row.attempts,
            "lastStatusCode": row.last_status_code,
            "lastError": row.last_error,
            "nextAttemptAt": _iso(row.next_attempt_at),
            "createdAt": _iso(row.created_at),
            "finishedAt": _iso(row.finished_at),
        }
        for row in assay.outbox.recent(status=status, execution_id=execution_id, limit=limit)
    ]
    if output is Format.TABLE:
        for row in rows:
            row["last"] = row["lastError"] or (row["lastStatusCode"] or "")
    emit(
        rows,
        output,
        [
            ("id", "ID"),
            ("target", "TARGET"),
            ("event", "EVENT"),
            ("workflow", "WORKFLOW"),
            ("status", "STATUS"),
            ("attempts", "TRIES"),
            ("last", "LAST"),
            ("createdAt", "CREATED"),
        ],
    )


@app.command("attempts")
def attempts(
    delivery: Annotated[str, typer.Argument(help="Delivery id or unique prefix.")],
    output: OutputOption = Format.TABLE,
) -> None:
    """Every attempt of one delivery: when, HTTP status or error, latency."""
    assay = app_instance()
    row = assay.outbox.get(delivery)
    rows = [
        {
            "number": a.number,
            "startedAt": _iso(a.started_at),
            "statusCode": a.status_code,
            "latencyMs": a.latency_ms,
            "error": a.error,
        }
        for a in assay.outbox.attempts(row.id)
    ]
    emit(
        rows,
        output,
        [
            ("number", "#"),
            ("startedAt", "STARTED"),
            ("statusCode", "HTTP"),
            ("latencyMs", "MS"),
            ("error", "ERROR"),
        ],
    )


@app.command("replay")
def replay(
    delivery: Annotated[str, typer.Argument(help="Delivery id or unique prefix.")],
    url: Annotated[
        str | None,
        typer.Option(
            envvar="ASSAY_SLACK_WEBHOOK",
            help="A Slack delivery's webhook URL (never stored). Env: ASSAY_SLACK_WEBHOOK.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Send a delivery again now (same event id); if this attempt fails too, a Webhook
    delivery stays pending and `assay server` (or `assay webhooks send`) retries it."""
    from assay.errors import InfrastructureError

    assay = app_instance()
    row = assay.outbox.get(delivery)
    sender = assay.webhook_sender()
    try:
        assay.outbox.replay(row.id, sender.clock())
        result = sender.attempt(assay.outbox.get(row.id), url=url)
    finally:
        sender.close()
    if not result.ok:
        raise InfrastructureError(
            f"delivery {row.id}: attempt {result.number}: {result.error} ({result.outcome})"
        )
    typer.echo(f"delivery {row.id}: delivered (HTTP {result.status_code}, {result.latency_ms} ms)")


@app.command("send")
def send() -> None:
    """Send the Webhook deliveries that are due now, once each (what `assay server` does
    continuously); failures are retried later with backoff."""
    assay = app_instance()
    sender = assay.webhook_sender()
    try:
        results = sender.run_once(limit=1000)
    finally:
        sender.close()
    for result in results:
        state = f"HTTP {result.status_code}" if result.ok else result.error
        typer.echo(f"{result.delivery_id} attempt {result.number}: {state} -> {result.outcome}")
    typer.echo(f"{len(results)} attempt(s), {sum(r.ok for r in results)} delivered")
