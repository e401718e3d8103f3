"""`assay report --github` against the stand-in: the sticky comment across pages and keys,
read-only tokens, no token, GitHub Enterprise URLs, push events, API errors, secrets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from ci_support import (
    TOKEN,
    GitHubStandIn,
    InProcess,
    actions_env,
    failing,
    import_run,
    junit,
    passing,
    read_outputs,
    serve,
)

from assay.ci.github import GitHubClient, GitHubError, GitHubPermissionError

API_TESTS = "def test_create():\n    pass\n\n\ndef test_delete():\n    assert False\n"


@pytest.fixture
def runs(assay: InProcess, tmp_path: Path) -> tuple[str, str]:
    """api-1 passed, api-2 failed (test_delete, with its file)."""
    ok = import_run(assay, tmp_path / "ok.xml", junit(passing("test_create")), "api", check=0)
    xml = junit(passing("test_create"), failing("test_delete", file="tests/test_api.py"))
    bad = import_run(assay, tmp_path / "bad.xml", xml, "api", check=1)
    return ok, bad


def in_actions(assay: InProcess, github: GitHubStandIn, tmp_path: Path, **kw: object) -> Path:
    """Set the Actions variables (with a checkout as the workspace); returns the env folder."""
    workspace = tmp_path / "ws"
    (workspace / "tests").mkdir(parents=True, exist_ok=True)
    (workspace / "tests" / "test_api.py").write_text(API_TESTS)
    root = tmp_path / "gh"
    assay.env.update(actions_env(root, github, **kw))  # type: ignore[arg-type]
    assay.env["GITHUB_WORKSPACE"] = str(workspace)
    if kw.get("token", TOKEN) is None:
        assay.env["GITHUB_TOKEN"] = None
    return root


def test_sticky_comment_is_found_on_a_later_page(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    for i in range(130):
        github.add_comment(7, f"chatter {i}")
    github.add_comment(7, "> <!-- assay-report -->\n> quoted by a human")
    ours = github.add_comment(7, "<!-- assay-report -->\nold report", "github-actions[bot]")
    in_actions(assay, github, tmp_path)
    done = assay("report", runs[1], "--github", check=1)
    assert "comment: updated" in done.stdout
    assert "### ❌ assay: api-2 failed" in github.comments[ours]["body"]
    assert len(github.issue_comments(7)) == 132  # nothing added
    gets = [r for r in github.github_requests() if r.method == "GET"]
    assert [r.query.get("page", ["1"])[0] for r in gets] == ["1", "2"]
    assert all(r.query["per_page"] == ["100"] for r in gets)
    assert [r.method for r in github.github_requests()] == ["GET", "GET", "PATCH", "POST"]


def test_comment_keys_keep_one_comment_each(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    in_actions(assay, github, tmp_path)
    assay("report", runs[0], "--github", "--comment-key", "auth", "--check-name", "auth", check=0)
    assay("report", runs[1], "--github", "--comment-key", "api", check=1)
    assay("report", runs[0], "--github", "--comment-key", "auth", check=0)
    bodies = sorted(c["body"].splitlines()[0] for c in github.issue_comments(7))
    assert bodies == ["<!-- assay-report:api -->", "<!-- assay-report:auth -->"]
    assert [r["name"] for r in github.check_runs] == ["auth", "assay", "assay"]
    assert [r.method for r in github.github_requests()].count("PATCH") == 1


def test_read_only_token_warns_and_still_writes_summary_and_outputs(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    github.read_only = True
    root = in_actions(assay, github, tmp_path)
    passed = assay("report", runs[0], "--github", check=0)  # the exit follows the tests
    assert passed.stdout.count("the token is read-only") == 2  # comment and check run
    assert "Pull requests from forks get a read-only GITHUB_TOKEN" in passed.stdout
    failed = assay("report", runs[1], "--github", check=1)
    # no check run: the failure is annotated through the runner's workflow commands
    assert "::error file=tests/test_api.py,line=5,title=" in failed.stdout
    for done in (passed, failed):
        assert TOKEN not in done.stdout + done.stderr
    assert (root / "summary.md").read_text().count("<!-- assay-report -->") == 2
    values = read_outputs(root / "output.txt")
    assert values["status"] == "failed" and values["comment-url"] == ""
    assert values["check-run-url"] == "" and github.check_runs == []


def test_without_a_token_the_summary_is_still_written(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    root = in_actions(assay, github, tmp_path, token=None)
    done = assay("report", runs[0], "--github", check=0)
    assert "GITHUB_TOKEN is not set" in done.stdout
    assert (root / "summary.md").exists() and read_outputs(root / "output.txt")["tests"] == "1"
    assert github.requests == []


def test_github_enterprise_api_url_is_honoured(
    assay: InProcess, runs: tuple[str, str], tmp_path: Path
) -> None:
    enterprise = GitHubStandIn(prefix="/api/v3")
    server = serve(enterprise)
    try:
        in_actions(assay, enterprise, tmp_path)
        assert assay.env["GITHUB_API_URL"].endswith("/api/v3")  # type: ignore[union-attr]
        assay("report", runs[1], "--github", check=1)
    finally:
        server.shutdown()
        server.server_close()
    assert enterprise.schema_errors == []
    assert len(enterprise.issue_comments(7)) == 1 and len(enterprise.check_runs) == 1


def test_push_event_gets_a_check_run_and_no_comment(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    in_actions(assay, github, tmp_path, pr=None, merge_sha="b" * 40)
    done = assay("report", runs[0], "--github", check=0)
    assert "comment: none (push event, not a pull request)" in done.stdout
    assert "::warning" not in done.stdout
    assert github.comments == {} and github.check_runs[0]["head_sha"] == "b" * 40
    assert github.check_runs[0]["conclusion"] == "success"


def test_no_tests_is_neutral_and_switches_work(
    assay: InProcess, github: GitHubStandIn, tmp_path: Path
) -> None:
    empty = import_run(assay, tmp_path / "e.xml", junit(), "smoke", check=0)
    in_actions(assay, github, tmp_path)
    assay("report", empty, "--github", "--no-comment", check=0)
    assert github.comments == {} and github.check_runs[0]["conclusion"] == "neutral"
    assay("report", empty, "--github", "--no-check-run", check=0)
    assert len(github.issue_comments(7)) == 1 and len(github.check_runs) == 1
    assay("report", empty, "--github", "--min-tests", "1", "--no-comment", check=1)
    assert github.check_runs[1]["conclusion"] == "failure"


def test_api_errors_exit_3_after_summary_and_outputs(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    github.fail["POST check-runs"] = (500, {"message": f"oops, {TOKEN} leaked"})
    root = in_actions(assay, github, tmp_path)
    done = assay("report", runs[0], "--github", check=3)
    assert "HTTP 500: oops, *** leaked" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert len(github.issue_comments(7)) == 1  # the comment went out before
    assert (root / "summary.md").exists() and read_outputs(root / "output.txt")["status"]


def test_bad_credentials_are_a_warning(
    assay: InProcess, github: GitHubStandIn, runs: tuple[str, str], tmp_path: Path
) -> None:
    in_actions(assay, github, tmp_path, token="ghs_wrong")
    done = assay("report", runs[0], "--github", check=0)
    assert "GitHub rejected the token" in done.stdout and "ghs_wrong" not in done.stdout


def test_pagination_never_leaves_the_api() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<https://elsewhere.example/steal?page=2>; rel="next"'
        return httpx.Response(200, json=[{"id": 1, "body": "x"}], headers={"Link": link})

    client = GitHubClient(
        "https://api.github.com", "o/r", TOKEN, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(GitHubError, match=r"outside https://api\.github\.com"):
        list(client.issue_comments(1))


def test_rate_limits_are_errors_not_permissions() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"x-ratelimit-remaining": "0"}
        return httpx.Response(403, json={"message": "API rate limit exceeded"}, headers=headers)

    client = GitHubClient(
        "https://api.github.com", "o/r", TOKEN, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(GitHubError) as caught:
        client.create_issue_comment(1, "x")
    assert not isinstance(caught.value, GitHubPermissionError)
    assert "HTTP 403: API rate limit exceeded" in str(caught.value)
