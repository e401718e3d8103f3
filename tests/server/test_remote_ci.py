"""The remote CLI's CI commands against a real `assay server` (SQLite and PostgreSQL):
`assay rerun`, `assay quarantine add/remove/list` and `assay report` with quality gates and
`--github` (judged and published by the CLI from the data the server collected) give what
the local CLI gives on the server's store; what cannot work remotely is exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remote_support import MIXED, PASSING, client_home_untouched, no_traceback, remote

from server_support import ApiServer, database_url, running_server
from support import Cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ci"))
from ci_support import GitHubStandIn, actions_env, read_outputs, serve


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server with one worker whose store holds `passing-1` and `mixed-1` (a failing
    test), both queued through the remote CLI."""
    tmp = tmp_path_factory.mktemp(f"remote-ci-{request.param}")
    home = tmp / "home"
    with running_server(home, database_url(request, request.param, tmp), workers=1) as started:
        for text, name in ((PASSING, "passing.yaml"), (MIXED, "mixed.yaml")):
            (tmp / name).write_text(text)
        assert remote(started, "run", "-f", "passing.yaml").returncode == 0
        assert remote(started, "run", "-f", "mixed.yaml").returncode == 1
        yield started


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    stand_in = GitHubStandIn()
    http = serve(stand_in)
    yield stand_in
    http.shutdown()
    http.server_close()
    assert stand_in.schema_errors == []


def _json(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _failing_test_id(server: ApiServer) -> str:
    cases = _json(remote(server, "get", "testcases", "mixed-1", "-o", "json"))
    return str(next(case["testId"] for case in cases if case["name"] == "test_bad"))


# -- rerun -----------------------------------------------------------------------------


def test_rerun_waits_like_run_and_exits_with_the_status(server: ApiServer) -> None:
    passed = remote(server, "rerun", "passing-1")
    assert passed.returncode == 0, passed.stderr
    assert re.fullmatch(r"passing-\d+ passed — 0 tests: .* in \d+\.\ds", passed.stdout.strip())
    failed = remote(server, "rerun", "mixed-1", "--watch")
    assert failed.returncode == 1, failed.stderr
    assert "line two" in failed.stdout  # streamed
    assert "FAILED m::test_bad: boom" in failed.stdout
    as_json = remote(server, "rerun", "mixed-1", "-o", "json")
    assert as_json.returncode == 1, as_json.stderr
    ended = json.loads(as_json.stdout)
    assert ended["workflow"] == "mixed" and ended["status"] == "failed"
    assert ended["name"] != "mixed-1" and ended["summary"]["failed"] == 1
    assert client_home_untouched(server)


def test_rerun_no_wait_prints_the_new_id_and_the_server_runs_it(server: ApiServer) -> None:
    done = remote(server, "rerun", "passing-1", "--no-wait")
    assert done.returncode == 0, done.stderr
    new_id = done.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", new_id)
    deadline = time.monotonic() + 60
    while (execution := _json(remote(server, "get", "execution", new_id, "-o", "json")))[
        "status"
    ] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert execution["status"] == "passed"


def test_local_rerun_queues_for_the_servers_worker(server: ApiServer) -> None:
    done = server.cli("rerun", "passing-1")
    new_id = done.stdout.strip()
    assert "`assay worker` or `assay server` on this store runs it" in done.stderr
    deadline = time.monotonic() + 60
    while server.cli_json("get", "execution", new_id)["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert server.cli_json("get", "execution", new_id)["status"] == "passed"
    watch = server.cli("rerun", "passing-1", "--watch", check=2)
    assert "need a server" in watch.stderr


def test_rerun_refusals_are_exit_2_in_one_line(server: ApiServer) -> None:
    unknown = remote(server, "rerun", "nothing-9")
    assert unknown.returncode == 2 and "nothing-9" in no_traceback(unknown)
    reader = remote(server, "rerun", "passing-1", token="read")
    assert reader.returncode == 2 and "run" in no_traceback(reader)


# -- quarantine ------------------------------------------------------------------------


def test_quarantine_add_list_remove_remotely_as_locally(server: ApiServer) -> None:
    test_id = _failing_test_id(server)
    added = remote(server, "quarantine", "add", test_id, "--reason", "flaky CDN", "--until", "7d")
    assert added.returncode == 0, added.stderr
    assert re.fullmatch(
        rf"quarantined {test_id} \(mixed: m::test_bad\) until \d{{4}}-\d\d-\d\dT.*",
        added.stdout.strip(),
    )
    for args in (["list"], ["list", "-o", "json"], ["list", "--all", "-o", "yaml"]):
        local = server.cli("quarantine", *args)
        assert remote(server, "quarantine", *args, token="read").stdout == local.stdout
    [entry] = _json(remote(server, "quarantine", "list", "-o", "json"))
    assert (entry["testId"], entry["reason"], entry["active"]) == (test_id, "flaky CDN", True)
    refused = remote(server, "quarantine", "add", test_id, token="run")
    assert refused.returncode == 2 and "admin" in no_traceback(refused)
    unknown = remote(server, "quarantine", "add", "0" * 16)
    assert unknown.returncode == 2 and "0" * 16 in no_traceback(unknown)
    bad_until = remote(server, "quarantine", "add", test_id, "--until", "soon")
    assert bad_until.returncode == 2 and "--until 'soon'" in no_traceback(bad_until)
    removed = remote(server, "quarantine", "remove", test_id)
    assert removed.stdout == f"removed {test_id} from quarantine\n", removed.stderr
    assert remote(server, "quarantine", "list").stdout == "no quarantined tests\n"
    again = remote(server, "quarantine", "remove", test_id)
    assert again.returncode == 2 and test_id in no_traceback(again)
    assert client_home_untouched(server)


# -- report: gates and --github --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["mixed-1", "--max-failures", "0"], 1),
        (["passing-1", "--min-tests", "1"], 1),
        (["passing-1", "--max-failures", "0"], 0),
        (["mixed-1", "passing-1", "--max-failures", "3", "--format", "junit"], 0),
        (["mixed-1", "--format", "html", "--min-tests", "1"], 1),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_report_gates_remotely_as_locally(server: ApiServer, args: list[str], code: int) -> None:
    local = server.cli("report", *args, check=code)
    done = remote(server, "report", *args)
    # the HTML report says when it was made, to the minute: the two runs may straddle one
    generated = re.compile(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    local_out, remote_out = (
        generated.sub("Generated (when)", o) for o in (local.stdout, done.stdout)
    )
    assert (done.returncode, remote_out, done.stderr) == (code, local_out, local.stderr)
    assert done.stderr.splitlines()[-1].startswith("verdict: ")


def _published(
    server: ApiServer, github: GitHubStandIn, root: Path, *, remotely: bool
) -> tuple[int, str, dict[str, str], str, dict[str, Any]]:
    """`assay report mixed-1 --github --max-failures 0` from a job; what it published."""
    env = actions_env(root, github)
    args = ("report", "mixed-1", "--github", "--max-failures", "0", "--comment-key", "k")
    if remotely:
        done = remote(server, *args, extra_env=env)
    else:
        done = Cli({**server.env, **env}, root)(*args, check=None)
    run = dict(github.check_runs[-1])
    for key in ("id", "completed_at", "html_url"):
        run.pop(key)
    outputs = read_outputs(root / "output.txt")
    assert outputs.pop("check-run-url").startswith("https://github.example/o/r/runs/")
    lines = [
        re.sub(r"/runs/\d+ ", "/runs/N ", line)
        for line in done.stdout.splitlines()
        if not line.startswith("comment:")
    ]
    return done.returncode, "\n".join(lines), outputs, (root / "summary.md").read_text(), run


def test_report_github_remotely_publishes_what_a_local_report_publishes(
    server: ApiServer, github: GitHubStandIn, tmp_path: Path
) -> None:
    local = _published(server, github, tmp_path / "local", remotely=False)
    comment = dict(github.comments)
    done = _published(server, github, tmp_path / "remote", remotely=True)
    assert done == local
    code, stdout, outputs, summary, run = done
    assert code == 1 and "check run:" in stdout
    assert outputs["status"] == "failed" and outputs["executions"] == "mixed-1"
    assert "mixed-1" in summary and run["conclusion"] == "failure"
    assert len(github.check_runs) == 2
    assert list(github.comments) == list(comment)  # the sticky comment, updated in place
    assert client_home_untouched(server)


def test_remote_report_refuses_slack_and_bad_github_environments(server: ApiServer) -> None:
    slack = remote(server, "report", "mixed-1", "--slack-webhook", "https://hooks.slack.com/x")
    assert slack.returncode == 2 and "--slack-webhook" in no_traceback(slack)
    no_actions = remote(server, "report", "mixed-1", "--github")
    assert no_actions.returncode == 2 and "GITHUB_ACTIONS" in no_traceback(no_actions)


@pytest.mark.parametrize(
    "args",
    [
        ["report", "mixed-1", "--max-failures", "0"],
        ["quarantine", "list"],
        ["rerun", "passing-1", "--no-wait"],
    ],
    ids=" ".join,
)
def test_the_remote_ci_commands_load_no_store(server: ApiServer, args: list[str]) -> None:
    """No SQLAlchemy, numpy, FastAPI or store on the remote path (a real process)."""
    heavy = ("sqlalchemy", "fastapi", "assay.store", "assay.server", "numpy", "assay.reports.data")
    probe = (
        "import json, sys\n"
        "from assay.cli.main import app\n"
        f"sys.argv = ['assay', *{args!r}]\n"
        "try:\n    app()\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"print(json.dumps([m for m in {heavy!r} if sys.modules.get(m)]), file=sys.stderr)\n"
    )
    env = {k: v for k, v in server.env.items() if not k.startswith("ASSAY_")}
    env.update({"ASSAY_SERVER": server.url, "ASSAY_TOKEN": server.tokens["admin"]})
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [], done.stderr
    assert done.stdout.strip()


# -- the server-mode example: the action's steps against the server ---------------------


def test_the_server_mode_example_runs_the_actions_steps_against_the_server(
    server: ApiServer, github: GitHubStandIn, tmp_path: Path
) -> None:
    """examples/github/server-mode.yml: ASSAY_SERVER and ASSAY_TOKEN in the job's
    environment, the action's `run` and `report` steps run by bash as the runner would:
    the workflows run on the server, the report is published from the job."""
    import yaml
    from ci_support import make_repo
    from test_action import Composite, base_env

    example = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "examples/github/server-mode.yml").read_text()
    )
    job = example["jobs"]["e2e"]
    [step] = [s for s in job["steps"] if "assay" in str(s.get("uses", ""))]
    inputs = {k: str(v) for k, v in step["with"].items() if k != "python-version"}
    inputs["workflows"] = "k8s/auth.yaml\nk8s/api.yaml api\n"  # this checkout's definitions
    repo = make_repo(tmp_path / "repo")
    env = base_env(Cli(remote_env_of(server), tmp_path), github, tmp_path / "gh")
    env["GITHUB_WORKSPACE"] = str(repo)
    assert set(job["env"]) == {"ASSAY_SERVER", "ASSAY_TOKEN"}
    env.update({"ASSAY_SERVER": server.url, "ASSAY_TOKEN": server.tokens["admin"]})
    action = Composite(repo, env, inputs)
    ran = action.run("run")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # the report step decides
    assert "api-1 failed: 4 tests, 2 passed, 1 failed, 1 skipped" in ran.stdout
    ids = action.outputs["run"]["execution-ids"].split()
    on_server = {e["id"]: e for e in server.cli_json("get", "executions", "--limit", "50")}
    assert all(on_server[i]["tags"]["branch"] == "fix-login" for i in ids)  # ran there
    assert action.report_condition()
    reported = action.run("report")
    assert reported.returncode == 1, reported.stdout + reported.stderr
    assert "gate min-pass-rate" in reported.stdout
    values = action.outputs["report"]
    assert values["status"] == "failed" and values["execution-ids"] == " ".join(ids)
    assert len(github.issue_comments(7)) == 1 and len(github.check_runs) == 1
    assert github.check_runs[0]["output"]["annotations"][0]["path"] == "backend/tests/test_api.py"
    assert client_home_untouched(server)


def remote_env_of(server: ApiServer) -> dict[str, str]:
    """The job's environment before the action: no ASSAY_* but a home of its own."""
    env = {k: v for k, v in server.env.items() if not k.startswith("ASSAY_")}
    env["ASSAY_HOME"] = str(server.home.parent / "client-home")
    return env
