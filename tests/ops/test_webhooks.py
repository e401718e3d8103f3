"""Webhooks through the outbox, against a real HTTP receiver on loopback: written with the
state change, retried with backoff under the same CloudEvent id, signed, listed, replayed;
become-down/up only on transitions."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from ops_support import SimulatedClock, apply

from assay.ops.webhooks import Sender
from assay.status import ExecutionStatus
from assay.store import Database, ExecutionStore, SecretStore
from assay.store.executions import now
from assay.store.outbox import Outbox
from assay.store.tables import WebhookDeliveryRow
from http_receiver import Receiver


def webhook(name: str, url: str, events: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "executor.testkube.io/v1",
        "kind": "Webhook",
        "metadata": {"name": name},
        "spec": {"uri": url, "events": events, **spec},
    }


def run(store: ExecutionStore, workflow: str, status: ExecutionStatus) -> str:
    row = store.create(workflow, runner="local")
    store.start(row.id)
    store.finish(row.id, status)
    return row.id


def events_of(db: Database) -> list[tuple[str, str]]:
    return sorted((row.target, row.event_type) for row in Outbox(db).recent(limit=100))


def test_retried_with_backoff_same_id_signed_listed_and_replayed(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    secrets = SecretStore(tmp_path / "secrets")
    secrets.set("hooks", {"signing": "s3cret-value"})
    apply(
        db,
        webhook(
            "team-a",
            receiver.url,
            ["end-testworkflow-failed"],
            signature={"secretKeyRef": {"name": "hooks", "key": "signing"}},
            headers={"X-Team": "a"},
        ),
    )
    store = ExecutionStore(db)
    execution = run(store, "api", ExecutionStatus.FAILED)
    [delivery] = Outbox(db).recent()
    assert (delivery.status, delivery.event_type, delivery.execution_id) == (
        "pending",
        "end-testworkflow-failed",
        execution,
    )

    clock = SimulatedClock(now() + timedelta(seconds=1))
    sender = Sender(db, secret=secrets.get, clock=clock, backoff=timedelta(seconds=1))
    receiver.statuses = [500, 503]
    [first] = sender.run_once()
    assert (first.ok, first.status_code, first.outcome) == (False, 500, "pending")
    assert sender.run_once() == []  # the retry is not due yet
    clock.advance(timedelta(seconds=1))
    [second] = sender.run_once()
    assert (second.status_code, second.outcome, second.number) == (503, "pending", 2)
    clock.advance(timedelta(seconds=1))
    assert sender.run_once() == []  # backoff doubled: 2 s after the second attempt
    clock.advance(timedelta(seconds=1))
    [third] = sender.run_once()
    assert (third.ok, third.status_code, third.outcome) == (True, 200, "delivered")
    assert sender.run_once() == []

    events = [json.loads(body) for _, body in receiver.requests]
    assert len(events) == 3 and len({event["id"] for event in events}) == 1
    event = events[0]
    assert event["id"] == delivery.event_id and event["specversion"] == "1.0"
    assert event["type"] == "dev.assay.end-testworkflow-failed"
    assert event["source"] == "/assay/workflows/api" and event["subject"] == execution
    assert event["data"]["execution"]["status"] == "failed"
    for headers, body in receiver.requests:
        assert headers["content-type"].startswith("application/cloudevents+json")
        assert headers["x-team"] == "a"
        expected = hmac.new(b"s3cret-value", body, hashlib.sha256).hexdigest()
        assert headers["x-assay-signature"] == f"sha256={expected}"
        assert b"s3cret-value" not in body

    log = Outbox(db).attempts(delivery.id)
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 503), (3, 200)]
    assert all(a.latency_ms >= 0 for a in log) and log[0].error == "HTTP 500 try later"
    [done] = Outbox(db).recent()
    assert (done.status, done.attempts, done.finished_at is not None) == ("delivered", 3, True)

    # exhausted retries fail the delivery; a replay sends it again under the same id
    run(store, "api", ExecutionStatus.TIMEOUT)
    limited = Sender(db, secret=secrets.get, clock=clock, max_attempts=2)
    receiver.statuses = [502, 502]
    assert [a.outcome for a in limited.run_once()] == ["pending"]
    clock.advance(timedelta(minutes=1))
    assert [a.outcome for a in limited.run_once()] == ["failed"]
    [failed] = Outbox(db).recent(status="failed")
    clock.advance(timedelta(hours=1))
    assert limited.run_once() == []  # failed for good, until replayed
    Outbox(db).replay(failed.id, clock())
    [replayed] = limited.run_once()
    assert replayed.ok and replayed.number == 3
    ids = [json.loads(body)["id"] for _, body in receiver.requests[3:]]
    assert ids == [failed.event_id] * 3
    sender.close()
    limited.close()


def test_binary_mode_and_payload_template(db: Database, receiver: Receiver) -> None:
    apply(
        db,
        webhook(
            "chat",
            receiver.url,
            ["start-testworkflow"],
            contentMode="binary",
            payloadTemplate='{"text": "{{ .execution.name }} started ({{ .workflow.name }})"}',
        ),
    )
    ExecutionStore(db).start(ExecutionStore(db).create("web", runner="local").id)
    sender = Sender(db, clock=SimulatedClock(now() + timedelta(seconds=1)))
    [attempt] = sender.run_once()
    sender.close()
    assert attempt.ok
    [(headers, body)] = receiver.requests
    assert json.loads(body) == {"text": "web-1 started (web)"}
    assert headers["ce-type"] == "dev.assay.start-testworkflow"
    assert headers["ce-specversion"] == "1.0" and headers["ce-source"] == "/assay/workflows/web"
    assert headers["content-type"] == "application/json" and "x-assay-signature" not in headers


def test_become_down_and_up_fire_only_on_transitions(db: Database) -> None:
    apply(
        db,
        webhook(
            "flips", "http://127.0.0.1:9/x", ["become-testworkflow-down", "become-testworkflow-up"]
        ),
        webhook(
            "labelled",
            "http://127.0.0.1:9/y",
            ["end-testworkflow-success", "end-testworkflow-failed"],
            selector="team=payments",
        ),
        {
            "apiVersion": "testworkflows.testkube.io/v1",
            "kind": "TestWorkflow",
            "metadata": {"name": "pay", "labels": {"team": "payments"}},
            "spec": {"steps": [{"shell": "true"}]},
        },
    )
    store = ExecutionStore(db)
    for status in ("passed", "passed", "failed", "failed", "timeout", "passed", "passed"):
        run(store, "api", ExecutionStatus(status))
    flips = [row.event_type for row in reversed(Outbox(db).recent(limit=100))]
    assert flips == ["become-testworkflow-down", "become-testworkflow-up"]
    run(store, "pay", ExecutionStatus.PASSED)  # the selector matches pay's labels only
    run(store, "pay", ExecutionStatus.ABORTED)  # neither success nor failed: nothing
    assert events_of(db)[-1:] == [("labelled", "end-testworkflow-success")]
    assert [t for t, _ in events_of(db)].count("labelled") == 1
    assert ("flips", "become-testworkflow-down") in events_of(db)


def test_no_webhook_no_delivery_and_disabled_or_removed_ones(
    db: Database, receiver: Receiver
) -> None:
    store = ExecutionStore(db)
    run(store, "quiet", ExecutionStatus.FAILED)
    assert Outbox(db).recent() == []
    apply(db, webhook("off", receiver.url, ["end-testworkflow-failed"], disabled=True))
    run(store, "quiet", ExecutionStatus.FAILED)
    assert Outbox(db).recent() == []
    apply(db, webhook("off", receiver.url, ["end-testworkflow-failed"]))
    run(store, "quiet", ExecutionStatus.FAILED)
    apply(db, webhook("off", receiver.url, ["end-testworkflow-failed"], disabled=True))
    sender = Sender(db, clock=SimulatedClock(now() + timedelta(seconds=1)))
    [attempt] = sender.run_once()
    sender.close()
    assert (attempt.outcome, attempt.error) == ("failed", "webhook 'off' is disabled")
    assert receiver.requests == []
    with db.session() as session:
        assert session.query(WebhookDeliveryRow).count() == 1
