"""The GitHub Actions environment: what is required, the PR head commit, GHES URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_support import InProcess, import_run, junit, passing

from assay.ci.github_env import GitHubContext
from assay.errors import DefinitionError

BASE = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/shop", "GITHUB_SHA": "m" * 40}


@pytest.mark.parametrize("missing", ["GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_SHA"])
def test_a_missing_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(DefinitionError, match=f"{missing} is not set"):
        GitHubContext.from_env(env)


def test_defaults_outside_a_pull_request(tmp_path: Path) -> None:
    ctx = GitHubContext.from_env({**BASE, "GITHUB_EVENT_NAME": "push"}, cwd=tmp_path)
    assert ctx.api_url == "https://api.github.com" and ctx.server_url == "https://github.com"
    assert (ctx.owner, ctx.name, ctx.sha, ctx.pr_number) == ("octo", "shop", "m" * 40, None)
    assert ctx.token is None and ctx.run_url is None and ctx.workspace == tmp_path
    assert ctx.step_summary is None and ctx.output is None


def test_pull_request_uses_the_head_commit(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12, "head": {"sha": "h" * 40}}}))
    env = {
        **BASE,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
        "GITHUB_SERVER_URL": "https://ghe.example.com",
        "GITHUB_RUN_ID": "99",
        "GITHUB_TOKEN": "ghs_x",
    }
    ctx = GitHubContext.from_env(env)
    assert (ctx.pr_number, ctx.sha) == (12, "h" * 40)
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    assert ctx.run_url == "https://ghe.example.com/octo/shop/actions/runs/99"
    assert "ghs_x" not in repr(ctx)


def test_pull_request_without_a_payload_falls_back_to_the_ref() -> None:
    env = {**BASE, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/5/merge"}
    ctx = GitHubContext.from_env(env)
    assert ctx.pr_number == 5 and ctx.sha == "m" * 40
    assert any("pull_request.head.sha" in note for note in ctx.notes)


@pytest.mark.parametrize(
    ("name", "value"),
    [("GITHUB_API_URL", "ftp://x"), ("GITHUB_REPOSITORY", "no-slash")],
)
def test_bad_values_are_bad_input(name: str, value: str) -> None:
    with pytest.raises(DefinitionError, match=name):
        GitHubContext.from_env({**BASE, name: value})


def test_github_outside_actions_exits_2(assay: InProcess, tmp_path: Path) -> None:
    name = import_run(assay, tmp_path / "a.xml", junit(passing("test_a")), "api", check=0)
    done = assay("report", name, "--github", check=2)
    assert "GITHUB_ACTIONS is not set" in done.stderr and not done.stdout
