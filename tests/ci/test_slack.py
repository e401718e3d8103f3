"""Slack: a message on failure and on recovery, none on steady success; never the URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ci_support import (
    SLACK_PATH,
    GitHubStandIn,
    InProcess,
    actions_env,
    failing,
    import_run,
    junit,
    passing,
)

from support import Cli

GREEN = junit(passing("test_a"), passing("test_b"))
RED = junit(passing("test_a"), failing("test_b", message="AssertionError: &lt;b&gt; &amp; co"))


def check_block_kit(message: dict[str, Any]) -> None:
    """The shapes Slack accepts: a fallback text, header/section/context blocks."""
    assert isinstance(message["text"], str) and message["text"]
    types = [block["type"] for block in message["blocks"]]
    assert types[0] == "header" and set(types) <= {"header", "section", "context"}
    for block in message["blocks"]:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
        else:
            assert all(e["type"] == "mrkdwn" for e in block["elements"])


def test_failure_recovery_and_quiet_success(
    assay: InProcess, github: GitHubStandIn, tmp_path: Path
) -> None:
    url = github.slack_url
    first = import_run(assay, tmp_path / "1.xml", GREEN, "api", "branch=main", check=0)
    quiet = assay("report", first, "--slack-webhook", url, check=0)
    assert github.slack == [] and "nothing to notify" in quiet.stderr

    second = import_run(assay, tmp_path / "2.xml", RED, "api", "branch=main", check=1)
    done = assay("report", second, "--slack-webhook", url, check=0)  # not gated: exit 0
    assert "slack: failure notification sent" in done.stderr
    [failure] = github.slack
    check_block_kit(failure)
    assert failure["text"] == "❌ assay: api-2 failed — 1 of 2 tests failed"
    text = str(failure["blocks"])
    assert "`tests.test_api::test_b` — AssertionError: &lt;b&gt; &amp; co" in text

    # another branch failing in between does not hide main's recovery
    import_run(assay, tmp_path / "3.xml", RED, "api", "branch=feature", check=1)
    third = import_run(assay, tmp_path / "4.xml", GREEN, "api", "branch=main", check=0)
    assay("report", third, "--slack-webhook", url, check=0)
    recovery = github.slack[1]
    check_block_kit(recovery)
    assert recovery["text"].startswith("✅ assay: api recovered")
    assert "api-4* passed" in str(recovery["blocks"]) and "(after api-2 failed)" in str(
        recovery["blocks"]
    )

    fourth = import_run(assay, tmp_path / "5.xml", GREEN, "api", "branch=main", check=0)
    assay("report", fourth, "--slack-webhook", url, check=0)
    assert len(github.slack) == 2  # steady success: quiet


def test_gate_failure_notifies_with_reasons_and_github_links(
    assay: InProcess, github: GitHubStandIn, tmp_path: Path
) -> None:
    name = import_run(assay, tmp_path / "1.xml", GREEN, "api", check=0)
    assay.env.update(actions_env(tmp_path / "gh", github))
    assay.env["ASSAY_SLACK_WEBHOOK"] = github.slack_url  # from the environment
    assay("report", name, "--github", "--min-tests", "3", check=1)
    [message] = github.slack
    check_block_kit(message)
    blocks = str(message["blocks"])
    assert "gate min-tests: 2 ran &lt; 3" in blocks
    assert "<https://github.example/octo/shop/pull/7|PR #7>" in blocks
    assert "<https://github.example/octo/shop/actions/runs/4242|workflow run>" in blocks


def test_a_refused_message_warns_without_the_url(
    cli: Cli, github: GitHubStandIn, tmp_path: Path
) -> None:
    github.slack_status = 404
    name = import_run(cli, tmp_path / "1.xml", RED, "api", check=1)
    cli.env["ASSAY_SLACK_WEBHOOK"] = github.slack_url
    done = cli("report", name, "--min-tests", "1", check=1)  # the verdict decides, not Slack
    assert "warning: Slack webhook refused the message: HTTP 404 invalid_token" in done.stderr
    assert SLACK_PATH not in done.stdout + done.stderr
    assert len(github.slack) == 1
    helped = cli("report", "--help", check=0)
    assert "ASSAY_SLACK_WEBHOOK" in helped.stdout and SLACK_PATH not in helped.stdout


def test_run_notifies_too(assay: InProcess, github: GitHubStandIn, tmp_path: Path) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: smoke}\nspec:\n  steps:\n    - shell: exit 1\n"
    )
    done = assay("run", "-f", str(workflow), "--slack-webhook", github.slack_url, check=1)
    assert SLACK_PATH not in done.stdout + done.stderr
    [message] = github.slack
    assert message["text"].startswith("❌ assay: smoke-1 failed")
    assert "smoke-1 failed: a step failed" in str(message["blocks"])
