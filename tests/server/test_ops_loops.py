"""`assay server` runs the scheduler, the webhook sender and /metrics: a schedule missed
while the server was down fires once when it starts, its execution is run by the server's
worker, its webhooks reach a receiver on loopback, /metrics counts it all, logs are JSON."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from assay.store import Database
from assay.store.tables import ScheduleTickRow, WorkflowRow
from http_receiver import Receiver
from server_support import database_url, running_server, server_env
from support import Cli


def wait_for(check: object, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not true within {seconds} s: {check}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_missed_schedule_fires_once_runs_notifies_and_is_counted(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver, backend: str
) -> None:
    url = database_url(request, backend, tmp_path)
    home = tmp_path / "home"
    defs = tmp_path / "defs.yaml"
    defs.write_text(
        f"""
apiVersion: executor.testkube.io/v1
kind: Webhook
metadata: {{name: ops}}
spec:
  uri: {receiver.url}
  events: [start-testworkflow, end-testworkflow-success]
---
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: cron-demo}}
spec:
  config: {{greeting: {{default: hi}}}}
  events:
    - cronjob: {{cron: "* * * * *", config: {{greeting: scheduled}}, tags: {{origin: cron}}}}
  steps: [{{shell: "echo {{{{ config.greeting }}}}"}}]
"""
    )
    home.mkdir(parents=True)
    Cli(server_env(home, url), tmp_path)("apply", "-f", str(defs), check=0)
    db = Database(url)
    with db.session(write=True) as session:  # applied ten minutes before the server starts
        row = session.query(WorkflowRow).filter_by(name="cron-demo").one()
        session.execute(
            update(WorkflowRow)
            .where(WorkflowRow.id == row.id)
            .values(updated_at=row.updated_at - timedelta(minutes=10))
        )
    extra = {"ASSAY_SERVER_LOG_FORMAT": "json", "ASSAY_SERVER_WEBHOOK_BACKOFF_SECONDS": "0.2"}
    receiver.statuses = [503]  # the first delivery is retried
    with running_server(home, url, workers=1, extra_env=extra) as server:

        def passed() -> bool:
            rows = server.cli_json("get", "executions", "--workflow", "cron-demo")
            return any(r["status"] == "passed" for r in rows)

        wait_for(passed)
        [execution, *later] = reversed(
            server.cli_json("get", "executions", "--workflow", "cron-demo")
        )
        assert len(later) <= 1  # a minute boundary may have passed since
        assert execution["tags"]["origin"] == "cron" and execution["config"] == {
            "greeting": "scheduled"
        }
        logs = server.cli("logs", execution["id"]).stdout
        assert "scheduled" in logs
        with db.session() as session:
            first = session.query(ScheduleTickRow).order_by(ScheduleTickRow.scheduled_at).first()
        assert first is not None and first.missed >= 9 and first.execution_id == execution["id"]

        wait_for(lambda: len(receiver.requests) >= 3)
        types = [json.loads(body)["type"] for _, body in receiver.requests]
        assert types[-1] == "dev.assay.end-testworkflow-success" or (
            "dev.assay.end-testworkflow-success" in types
        )
        assert "dev.assay.start-testworkflow" in types

        wait_for(lambda: "delivered" in server.cli("webhooks", "deliveries").stdout)
        metrics = server.client(None).get("/metrics")
        assert metrics.status_code == 200
        text = metrics.text
        assert 'assay_executions_total{status="passed",workflow="cron-demo"}' in text
        assert 'assay_schedule_ticks_total{state="queued",workflow="cron-demo"}' in text
        assert 'assay_webhook_attempts_total{result="failure",target="ops"} 1.0' in text
        assert 'assay_execution_duration_seconds_bucket{le="+Inf",workflow="cron-demo"}' in text
        assert "assay_queue_depth" in text and "assay_step_duration_seconds_count" in text
    db.close()
    log = next(tmp_path.glob("server-*.log")).read_text()
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(e["logger"] == "assay.scheduler" and "cron-demo" in e["message"] for e in entries)


def test_bad_server_settings_exit_2(tmp_path: Path) -> None:
    cli = Cli(server_env(tmp_path / "home", f"sqlite:///{tmp_path / 'a.db'}"), tmp_path)
    bad = cli("server", "--retention", "forever", check=2)
    assert "retention" in bad.stderr and "expected a positive age" in bad.stderr
    zone = cli("server", "--timezone", "Mars/Olympus", check=2)
    assert "unknown time zone 'Mars/Olympus'" in zone.stderr
