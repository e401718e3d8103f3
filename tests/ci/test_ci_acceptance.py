"""Acceptance (issue 4): two real executions (local runner, real pytest), then
`assay report --github` twice against the local GitHub stand-in: one comment created, then
updated in place; one check run per report, on the PR's head commit, with annotations; the
job summary and the step outputs written; gate flags change the exit code as documented."""

from __future__ import annotations

import json
from pathlib import Path

from ci_support import API_TESTS, TOKEN, GitHubStandIn, actions_env, make_repo, read_outputs

from support import Cli


def test_report_github_twice_then_gates(cli: Cli, github: GitHubStandIn, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    head = "c0ffee" + "0" * 34
    auth = cli.json("run", "-f", str(repo / "k8s" / "auth.yaml"), "--tag", "branch=fix-login")
    api = cli.json(
        "run", "-f", str(repo / "k8s" / "api.yaml"), "--tag", "branch=fix-login", check=1
    )
    assert (auth["status"], api["status"]) == ("passed", "failed")
    assert api["summary"]["failed"] == 1 and api["summary"]["skipped"] == 1

    other = github.add_comment(7, "LGTM, but see the tests")
    env = actions_env(tmp_path / "gh", github, head_sha=head)
    cli.env.update(env, GITHUB_WORKSPACE=str(repo))
    summary, outputs = Path(env["GITHUB_STEP_SUMMARY"]), Path(env["GITHUB_OUTPUT"])

    # first report: tests failed -> exit 1; the comment is created
    first = cli("report", "auth-1", "api-1", "--github", check=1)
    assert TOKEN not in first.stdout + first.stderr
    mine = [c for c in github.issue_comments(7) if c["id"] != other]
    assert len(mine) == 1
    comment = dict(mine[0])
    assert comment["body"].startswith("<!-- assay-report -->\n")
    assert "| ✅ **auth-1** | 2 |" in comment["body"]
    assert "| ❌ **api-1** | 4 | 2 | 1 | 1 |" in comment["body"]
    assert "**Total**" in comment["body"]
    assert "`tests.test_api::test_list_games` (api-1)" in comment["body"]
    assert "[workflow run](https://github.example/octo/shop/actions/runs/4242)" in comment["body"]
    assert f"comment: created {comment['html_url']}" in first.stdout

    assert len(github.check_runs) == 1
    run = github.check_runs[0]
    assert run["head_sha"] == head  # the PR head, not the merge commit GITHUB_SHA
    assert (run["name"], run["status"], run["conclusion"]) == ("assay", "completed", "failure")
    assert run["details_url"] == "https://github.example/octo/shop/actions/runs/4242"
    assert run["output"]["title"].startswith("6 tests, 4 passed, 1 failed, 1 skipped")
    lines = API_TESTS.splitlines()
    # on the failing assert (from pytest's report of the failure), not on the def line
    failed_line = lines.index('    assert games, "expected games, got none"') + 1
    assert failed_line == lines.index("def test_list_games():") + 3
    assert run["output"]["annotations"] == [
        {
            "path": "backend/tests/test_api.py",
            "start_line": failed_line,
            "end_line": failed_line,
            "annotation_level": "failure",
            "title": "api-1: tests.test_api::test_list_games failed",
            "message": "AssertionError: expected games, got none\nassert []",
        }
    ]
    text = summary.read_text(encoding="utf-8")
    assert text.count("<!-- assay-report -->") == 1 and "| ❌ **api-1** |" in text
    values = read_outputs(outputs)
    assert values["status"] == "failed" and values["conclusion"] == "failure"
    assert (values["tests"], values["passed"], values["failed"], values["skipped"]) == (
        "6",
        "4",
        "1",
        "1",
    )
    assert values["pass-rate"] == "80.00"
    assert values["execution-ids"] == f"{auth['id']} {api['id']}"
    assert values["comment-url"] == comment["html_url"]
    assert values["check-run-url"] == run["html_url"]
    assert values["gate"] == ""

    # second report with a tolerance gate: exit 0; the same comment is updated in place
    second = cli(
        "report", "auth-1", "api-1", "--github", "--max-failures", "1", "--min-tests", "5", check=0
    )
    assert len(github.issue_comments(7)) == 2  # ours and the other one, nothing new
    assert github.comments[comment["id"]]["body"] != comment["body"]  # updated, same id
    assert "- ✅ `max-failures`: 1 failed <= 1" in github.comments[comment["id"]]["body"]
    assert "comment: updated" in second.stdout
    assert len(github.check_runs) == 2
    assert github.check_runs[1]["conclusion"] == "success"
    assert "gate min-tests: 5 ran >= 5" in second.stdout
    assert read_outputs(outputs)["status"] == "passed"
    methods = [(r.method, r.path.rsplit("/", 2)[-2]) for r in github.github_requests()]
    assert methods.count(("PATCH", "comments")) == 1
    assert [m for m, _ in methods].count("POST") == 3  # one comment, two check runs

    # a gate that fails: exit 1, and the report says which gate and why
    third = cli("report", "auth-1", "api-1", "--github", "--min-pass-rate", "90", check=1)
    assert "gate min-pass-rate: 80.0% < 90.0%" in third.stdout
    assert read_outputs(outputs)["gate"] == "min-pass-rate"
    body = github.comments[comment["id"]]["body"]
    assert "- ❌ `min-pass-rate`: 80.0% < 90.0%" in body
    assert github.check_runs[2]["output"]["title"].endswith("gate min-pass-rate failed")
    assert len(github.issue_comments(7)) == 2

    # the same gates on `assay run`: the exit code follows them
    rerun = cli(
        "run", "-f", str(repo / "k8s" / "api.yaml"), "--max-failures", "1", "-o", "json", check=0
    )
    assert json.loads(rerun.stdout)["verdict"]["status"] == "passed"
    strict = cli("run", "-f", str(repo / "k8s" / "auth.yaml"), "--min-tests", "3", check=1)
    assert "gate min-tests: 2 ran < 3" in strict.stderr
    for request in github.github_requests():
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"].startswith("assay/")
