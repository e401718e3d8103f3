"""The commands over the outbox, as a user runs them: a Webhook applied with `assay apply`,
`assay run`, `assay webhooks deliveries / send / attempts / replay`, Slack through the same
outbox; `assay get schedules`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assay.settings import Settings
from http_receiver import Receiver
from support import Cli


@pytest.fixture
def cli(assay_home: Settings, tmp_path: Path) -> Cli:
    env = {**os.environ, "ASSAY_HOME": str(assay_home.home)}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("ASSAY_SLACK_WEBHOOK", None)
    return Cli(env, tmp_path)


def test_deliveries_send_attempts_and_slack_replay(
    cli: Cli, receiver: Receiver, tmp_path: Path
) -> None:
    (tmp_path / "defs.yaml").write_text(
        f"""
apiVersion: executor.testkube.io/v1
kind: Webhook
metadata: {{name: ops}}
spec:
  uri: {receiver.url}
  events: [end-testworkflow-failed]
  signature: {{secretKeyRef: {{name: hooks, key: signing}}}}
---
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: smoke}}
spec:
  steps: [{{shell: exit 1}}]
"""
    )
    cli("secret", "set", "hooks", "signing=abc123", check=0)
    applied = cli("apply", "-f", str(tmp_path / "defs.yaml"), check=0)
    assert "applied Webhook/ops" in applied.stdout
    cli("run", "smoke", check=1)
    [pending] = cli.json("webhooks", "deliveries")
    assert (pending["target"], pending["event"], pending["status"]) == (
        "ops",
        "end-testworkflow-failed",
        "pending",
    )
    receiver.statuses = [500]
    sent = cli("webhooks", "send", check=0)
    assert "HTTP 500 try later -> pending" in sent.stdout
    cli("webhooks", "replay", pending["id"][:10], check=0)
    [delivered] = cli.json("webhooks", "deliveries", "--status", "delivered")
    assert delivered["id"] == pending["id"] and delivered["attempts"] == 1
    tries = cli.json("webhooks", "attempts", pending["id"])
    assert [t["statusCode"] for t in tries] == [500, 200]
    assert len({json.loads(body)["id"] for _, body in receiver.requests}) == 1
    assert "abc123" not in cli("webhooks", "deliveries", "-o", "json", check=0).stdout

    receiver.statuses = [404]
    slack = f"{receiver.url}/slack-secret-path"
    run = cli("run", "smoke", "--slack-webhook", slack, check=1)
    assert "warning: Slack webhook refused the message: HTTP 404 try later" in run.stderr
    assert "slack-secret-path" not in run.stdout + run.stderr
    failed = cli.json("webhooks", "deliveries", "--status", "failed")
    [message] = [row for row in failed if row["kind"] == "slack"]
    no_url = cli("webhooks", "replay", message["id"], check=3)
    assert "needs its webhook URL" in no_url.stderr
    cli("webhooks", "replay", message["id"], "--url", slack, check=0)
    listing = cli("webhooks", "deliveries", check=0).stdout
    assert "slack-secret-path" not in listing and "delivered" in listing
    assert json.loads(receiver.requests[-1][1])["text"].startswith("❌ assay: smoke-2 failed")


def test_get_schedules_shows_next_fire_times(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: nightly}
spec:
  config: {env: {default: dev}}
  events:
    - cronjob: {cron: "0 3 * * *", timezone: Europe/Berlin, config: {env: prod}, tags: {a: b}}
    - cronjob: {cron: "@hourly"}
  steps: [{shell: "true"}]
"""
    )
    cli("apply", "-f", str(tmp_path / "wf.yaml"), check=0)
    cli.env["ASSAY_TIMEZONE"] = "Asia/Tokyo"
    rows = cli.json("get", "schedules", "--count", "2")
    assert [(r["cron"], r["timezone"]) for r in rows] == [
        ("0 3 * * *", "Europe/Berlin"),
        ("@hourly", "Asia/Tokyo"),
    ]
    berlin = rows[0]
    assert len(berlin["next"]) == 2 and berlin["next"][0] < berlin["next"][1]
    assert berlin["next"][0].endswith(("T01:00:00+00:00", "T02:00:00+00:00"))
    assert berlin["config"] == {"env": "prod"} and berlin["lastTick"] is None
    table = cli("get", "schedules", check=0).stdout
    assert "nightly" in table and "Europe/Berlin" in table
    cli.env["ASSAY_TIMEZONE"] = "Nowhere/Special"
    bad = cli("get", "schedules", check=2)
    assert "ASSAY_TIMEZONE: unknown time zone 'Nowhere/Special'" in bad.stderr
