"""The remote CLI (ASSAY_SERVER, ASSAY_TOKEN) against a real `assay server`: what it
reads is what the local CLI prints on the same store, format for format; errors are one
line with the exit code of their kind."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_support import MIXED, PASSING, client_home_untouched, no_traceback, remote

from server_support import ApiServer, free_port, running_server


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server (SQLite, no workers) whose store holds a passing and a failing execution
    (with test cases and artifacts), run by the local CLI on that store."""
    tmp = tmp_path_factory.mktemp("remote-reads")
    with running_server(tmp / "home", f"sqlite:///{tmp / 'home' / 'assay.db'}") as server:
        for text, name in ((PASSING, "passing.yaml"), (MIXED, "mixed.yaml")):
            (tmp / name).write_text(text)
        server.cli("run", "-f", "passing.yaml", check=0)
        server.cli("run", "-f", "mixed.yaml", check=1)
        yield server


SAME_OUTPUT = [
    ["get", "executions"],
    ["get", "executions", "-o", "json"],
    ["get", "executions", "--workflow", "mixed", "-o", "yaml"],
    ["get", "execution", "mixed-1"],
    ["get", "execution", "mixed-1", "-o", "json"],
    ["get", "testcases", "mixed-1", "-o", "json"],
    ["get", "testcases", "mixed-1"],
    ["get", "workflows"],
    ["logs", "mixed-1"],
    ["logs", "--follow", "mixed-1"],
    ["artifacts", "mixed-1"],
    ["flaky", "--all", "--min-results", "1", "-o", "json"],
    ["trends", "-o", "json"],
    ["trends"],
    ["trace", "-o", "json"],
    ["report", "mixed-1"],
    ["report", "mixed-1", "passing-1", "--format", "junit"],
]


@pytest.mark.parametrize("args", SAME_OUTPUT, ids=" ".join)
def test_remote_output_is_the_local_output(seeded: ApiServer, args: list[str]) -> None:
    local = seeded.cli(*args, check=None)
    done = remote(seeded, *args)
    assert (done.returncode, done.stdout) == (local.returncode, local.stdout), done.stderr
    assert local.stdout.strip()
    assert client_home_untouched(seeded)


def test_remote_testcases_name_the_failing_test(seeded: ApiServer) -> None:
    cases = json.loads(remote(seeded, "get", "testcases", "mixed-1", "-o", "json").stdout)
    assert {case["name"]: case["status"] for case in cases} == {
        "test_ok": "passed",
        "test_bad": "failed",
    }


def test_artifacts_download(seeded: ApiServer, tmp_path: Path) -> None:
    done = remote(seeded, "artifacts", "mixed-1", "--download", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out" / "artifacts"
    assert (out / "sub" / "notes.txt").read_text() == "notes\n"
    assert "test_bad" in (out / "junit.xml").read_text()
    assert "artifacts/sub/notes.txt\t6" in done.stdout.splitlines()


def test_unknown_execution_is_exit_2_naming_it(seeded: ApiServer) -> None:
    done = remote(seeded, "get", "execution", "nothing-9")
    assert done.returncode == 2
    assert "nothing-9" in no_traceback(done)


def test_apply_stores_on_the_server_and_bad_input_names_the_file(
    seeded: ApiServer, tmp_path: Path
) -> None:
    (tmp_path / "wf.yaml").write_text(PASSING.replace("name: passing", "name: applied-remote"))
    done = remote(seeded, "apply", "-f", str(tmp_path / "wf.yaml"))
    assert (done.returncode, done.stdout) == (0, "applied TestWorkflow/applied-remote\n")
    assert "applied-remote" in seeded.cli("get", "workflows").stdout
    (tmp_path / "bad.yaml").write_text(PASSING.replace("shell:", "shel:"))
    bad = remote(seeded, "apply", "-f", str(tmp_path / "bad.yaml"))
    assert bad.returncode == 2
    assert "bad.yaml" in bad.stderr and "shel" in bad.stderr and "Traceback" not in bad.stderr


def test_a_wrong_token_is_exit_2_in_one_line(seeded: ApiServer) -> None:
    done = remote(seeded, "get", "executions", token="not-a-token")
    assert done.returncode == 2 and done.stdout == ""
    line = no_traceback(done)
    assert "refused the token (ASSAY_TOKEN)" in line and seeded.url in line
    assert "not-a-token" not in line


def test_no_token_says_to_set_it(seeded: ApiServer) -> None:
    done = remote(seeded, "get", "executions", token=None)
    assert done.returncode == 2
    assert "set ASSAY_TOKEN" in no_traceback(done)


def test_a_read_token_cannot_apply_and_is_told_the_scope(seeded: ApiServer, tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(PASSING.replace("name: passing", "name: read-only"))
    done = remote(seeded, "apply", "-f", str(tmp_path / "wf.yaml"), token="read")
    assert done.returncode == 2
    line = no_traceback(done)
    assert "scope" in line and "admin" in line
    assert "read-only" not in seeded.cli("get", "workflows").stdout


def test_server_down_is_exit_3_naming_the_url(seeded: ApiServer) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["get", "executions"], ["logs", "-F", "mixed-1"], ["run", "passing"]):
        done = remote(seeded, *args, url=url)
        assert done.returncode == 3, args
        line = no_traceback(done)
        assert url in line and "cannot reach" in line


def test_server_option_wins_over_nothing(seeded: ApiServer) -> None:
    done = remote(seeded, "--server", seeded.url, "get", "executions", "-o", "json", url="")
    assert done.returncode == 0, done.stderr
    assert {item["name"] for item in json.loads(done.stdout)} >= {"mixed-1", "passing-1"}


def test_a_bad_server_url_is_exit_2(seeded: ApiServer) -> None:
    done = remote(seeded, "get", "executions", url="127.0.0.1:8088")
    assert done.returncode == 2
    assert "ASSAY_SERVER" in no_traceback(done)


@pytest.mark.parametrize(
    "args",
    [["import", "x.xml", "--workflow", "w"], ["secret", "list"], ["prune", "--older-than", "1d"]],
)
def test_local_only_commands_are_refused(seeded: ApiServer, args: list[str]) -> None:
    done = remote(seeded, *args)
    assert done.returncode == 2
    assert f"assay {args[0]}" in no_traceback(done) and "ASSAY_SERVER" in done.stderr
    assert client_home_untouched(seeded)


def test_logs_by_full_id(seeded: ApiServer) -> None:
    listed = json.loads(remote(seeded, "get", "executions", "-o", "json").stdout)
    full = next(item["id"] for item in listed if item["name"] == "mixed-1")
    by_id = remote(seeded, "logs", full)
    assert by_id.returncode == 0 and "line two" in by_id.stdout


def test_remote_get_executions_loads_no_store_nor_server(seeded: ApiServer) -> None:
    """The remote path imports httpx and the client only (a real process, real server)."""
    heavy = ("sqlalchemy", "fastapi", "assay.store", "assay.spec", "assay.server", "numpy")
    heavy += ("rich", "httpx._main", "yaml")
    probe = (
        "import json, sys\n"
        "from assay.cli.main import app\n"
        "sys.argv = ['assay', 'get', 'executions']\n"
        "try:\n    app()\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print(json.dumps([m for m in {heavy!r} if sys.modules.get(m)]), file=sys.stderr)\n"
    )
    env = {k: v for k, v in seeded.env.items() if not k.startswith("ASSAY_")}
    env.update({"ASSAY_SERVER": seeded.url, "ASSAY_TOKEN": seeded.tokens["read"]})
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "mixed-1" in done.stdout
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
