"""`assay run` against a real `assay server` with a worker: waiting and streaming with the
local exit codes, --no-wait, logs --follow, abort, and --source uploads."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_support import MIXED, PASSING, CuttingProxy, no_traceback, remote, remote_env

from server_support import ApiServer, running_server
from support import ASSAY, commit_all, git, write_files

SLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: slow}
spec:
  steps:
  - name: wait
    shell: echo started; sleep 60
"""

SOURCE = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: from-source}
spec:
  steps:
  - name: read
    shell: |
      cat /data/repo/data.txt
      cat /data/repo/nested/more.txt
      if [ -e /data/repo/ignored.txt ]; then echo ignored-present; else echo ignored-absent; fi
"""


UPLOAD_LIMIT = 100_000
"""The server's ASSAY_SOURCE_LIMIT in these tests."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server (SQLite) with one worker; definitions in files beside its home."""
    tmp = tmp_path_factory.mktemp("remote-runs")
    for text, name in ((PASSING, "passing"), (MIXED, "mixed"), (SLOW, "slow")):
        (tmp / f"{name}.yaml").write_text(text)
    (tmp / "source.yaml").write_text(SOURCE)
    home = tmp / "home"
    url = f"sqlite:///{home / 'assay.db'}"
    limit = {"ASSAY_SOURCE_LIMIT": str(UPLOAD_LIMIT)}
    with running_server(home, url, workers=1, extra_env=limit) as started:
        yield started


def wait_status(server: ApiServer, ref: str, wanted: set[str], seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = json.loads(remote(server, "get", "execution", ref, "-o", "json").stdout)
        if data["status"] in wanted:
            return dict(data)
        time.sleep(0.2)
    raise AssertionError(f"{ref} never reached {wanted}")


def test_run_file_watch_passes_and_streams(server: ApiServer) -> None:
    done = remote(server, "run", "-f", "passing.yaml", "--watch")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "hello from passing" in lines
    assert re.fullmatch(r"passing-\d+ passed — 0 tests: .* in \d+\.\ds", lines[-1])
    assert lines.index("hello from passing") < len(lines) - 1  # streamed before the end
    assert "passing" in server.cli("get", "workflows").stdout  # applied on the server


def test_run_of_a_failing_workflow_exits_1_naming_the_failing_test(server: ApiServer) -> None:
    remote(server, "apply", "-f", "mixed.yaml")
    done = remote(server, "run", "mixed")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"mixed-\d+ failed — 2 tests: 1 passed, 1 failed, .*", lines[0])
    assert lines[1:] == ["FAILED m::test_bad: boom"]
    assert "line one" not in done.stdout  # no --watch: no log


def test_run_json_is_the_final_execution(server: ApiServer) -> None:
    done = remote(server, "run", "-f", "mixed.yaml", "-o", "json", "--watch")
    assert done.returncode == 1
    result = json.loads(done.stdout)  # the log went to stderr
    assert result["status"] == "failed" and result["summary"]["failed"] == 1
    assert "line two" in done.stderr
    local = server.cli("get", "execution", result["id"], "-o", "json")  # the server's store
    assert result == json.loads(local.stdout)


def test_gates_judge_a_remote_run(server: ApiServer) -> None:
    done = remote(server, "run", "-f", "mixed.yaml", "--max-failures", "1")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_wait_prints_the_id_then_logs_follow_to_the_end(server: ApiServer) -> None:
    done = remote(server, "run", "-f", "passing.yaml", "--no-wait")
    assert done.returncode == 0, done.stderr
    execution_id = done.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", execution_id)
    followed = remote(server, "logs", "--follow", execution_id)
    assert followed.returncode == 0, followed.stderr
    assert "hello from passing" in followed.stdout.splitlines()
    assert remote(server, "get", "execution", execution_id, "-o", "json").stdout
    assert wait_status(server, execution_id, {"passed"}, 5)["status"] == "passed"
    assert followed.stdout == remote(server, "logs", execution_id).stdout


def test_abort_ends_a_running_execution_and_its_waiting_run(server: ApiServer) -> None:
    remote(server, "apply", "-f", "slow.yaml")
    env = remote_env(server)
    waiting = subprocess.Popen(
        [ASSAY, "run", "slow", "--watch"],
        env=env,
        cwd=server.home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listed = []
        deadline = time.monotonic() + 60
        while not listed and time.monotonic() < deadline:
            out = remote(server, "get", "executions", "--workflow", "slow", "-o", "json").stdout
            listed = [item for item in json.loads(out) if item["status"] == "running"]
            time.sleep(0.2)
        assert listed, "the slow run never started"
        aborted = remote(server, "abort", listed[0]["name"])
        assert aborted.returncode == 0, aborted.stderr
        assert aborted.stdout.startswith(f"{listed[0]['name']} ({listed[0]['id']}): ")
        stdout, stderr = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 1, stderr
    assert "started" in stdout.splitlines()
    assert re.match(r"slow-\d+ aborted", stdout.splitlines()[-1])
    assert wait_status(server, listed[0]["id"], {"aborted"}, 5)["status"] == "aborted"


def test_abort_of_an_unknown_execution_is_exit_2(server: ApiServer) -> None:
    done = remote(server, "abort", "nothing-1")
    assert done.returncode == 2 and "nothing-1" in no_traceback(done)


def test_run_needs_the_run_scope(server: ApiServer) -> None:
    remote(server, "apply", "-f", "passing.yaml")
    done = remote(server, "run", "passing", token="read")
    assert done.returncode == 2
    assert "needs run" in no_traceback(done)


def test_bad_config_is_exit_2_naming_it(server: ApiServer) -> None:
    remote(server, "apply", "-f", "passing.yaml")
    done = remote(server, "run", "passing", "--config", "nope=1")
    assert done.returncode == 2
    assert "nope" in no_traceback(done)


def source_repo(root: Path) -> Path:
    repo = root / "checkout"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, {".gitignore": "ignored.txt\n", "data.txt": "data from the checkout\n"})
    commit_all(repo, "initial")
    write_files(repo, {"ignored.txt": "must not travel\n", "nested/more.txt": "untracked\n"})
    return repo


def test_source_upload_is_the_runs_repo(server: ApiServer, tmp_path: Path) -> None:
    repo = source_repo(tmp_path)
    done = remote(server, "run", "-f", "source.yaml", "--source", str(repo), "--watch")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert {"data from the checkout", "untracked", "ignored-absent"} <= set(lines)
    assert not list((server.home / "uploads").glob("*.tar.gz"))  # claimed and removed


def test_source_too_big_is_refused_before_anything_is_queued(
    server: ApiServer, tmp_path: Path
) -> None:
    repo = source_repo(tmp_path)
    (repo / "big.bin").write_bytes(b"x" * 5000)
    before = remote(server, "get", "executions", "-o", "json", "--limit", "1000").stdout
    done = remote(
        server,
        "run",
        "-f",
        "source.yaml",
        "--source",
        str(repo),
        extra_env={"ASSAY_SOURCE_LIMIT": "4000"},
    )
    assert done.returncode == 2
    line = no_traceback(done)
    assert "exceeds the limit of 3.9 KB" in line and "ASSAY_SOURCE_LIMIT=4000" in line
    after = remote(server, "get", "executions", "-o", "json", "--limit", "1000").stdout
    assert json.loads(after) == json.loads(before)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_upload_endpoint_refusals(server: ApiServer) -> None:
    gz = {"Content-Type": "application/gzip"}
    with server.client("run") as client:
        assert (
            client.post(
                "/v1/uploads", content=b"x", headers={"Content-Type": "text/plain"}
            ).status_code
            == 422
        )
        big = os.urandom(UPLOAD_LIMIT * 2)  # incompressible: over the limit as uploaded
        answer = client.post("/v1/uploads", content=big, headers=gz)
        assert answer.status_code == 413 and str(UPLOAD_LIMIT) in answer.json()["error"]
        unknown = client.post(
            "/v1/test-workflows/passing/executions", json={"sourceUpload": "0" * 32}
        )
        assert unknown.status_code == 404 and "no upload" in unknown.json()["error"]
    with server.client("read") as client:
        assert (
            client.post("/v1/uploads", content=tar_gz({"a": b"a"}), headers=gz).status_code == 403
        )
    assert not list((server.home / "uploads").glob("*.tar.gz"))


def test_a_hostile_upload_is_refused_by_the_run_and_removed(server: ApiServer) -> None:
    remote(server, "apply", "-f", "source.yaml")
    with server.client("run") as client:
        upload = client.post(
            "/v1/uploads",
            content=tar_gz({"../escape.txt": b"out"}),
            headers={"Content-Type": "application/gzip"},
        )
        assert upload.status_code == 201, upload.text
        run = client.post(
            "/v1/test-workflows/from-source/executions",
            json={"sourceUpload": upload.json()["id"]},
        )
    assert run.status_code == 422 and "escape.txt" in run.json()["error"]
    assert not list((server.home / "uploads").glob("*.tar.gz"))


def test_a_server_with_a_smaller_limit_refuses_the_upload(
    server: ApiServer, tmp_path: Path
) -> None:
    repo = source_repo(tmp_path)
    (repo / "noise.bin").write_bytes(os.urandom(UPLOAD_LIMIT * 2))
    done = remote(
        server,
        "run",
        "-f",
        "source.yaml",
        "--source",
        str(repo),
        extra_env={"ASSAY_SOURCE_LIMIT": "10M"},
    )
    assert done.returncode == 2, done.stderr
    assert f"exceeds the server's limit of {UPLOAD_LIMIT} bytes" in no_traceback(done)


def test_ctrl_c_while_waiting_aborts_the_execution_on_the_server(server: ApiServer) -> None:
    remote(server, "apply", "-f", "slow.yaml")
    waiting = subprocess.Popen(
        [ASSAY, "run", "slow", "--watch", "--tag", "case=ctrl-c"],
        env=remote_env(server),
        cwd=server.home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stdout is not None
        for line in waiting.stdout:  # streamed: the step runs
            if line.strip() == "started":
                break
        waiting.send_signal(signal.SIGINT)
        _, stderr = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted by SIGINT: abort of slow-") and "requested" in last
    listed = json.loads(
        remote(server, "get", "executions", "--workflow", "slow", "-o", "json").stdout
    )
    interrupted = next(item for item in listed if item["tags"] == {"case": "ctrl-c"})
    assert wait_status(server, interrupted["id"], {"aborted"})["status"] == "aborted"


CHATTY = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: chatty}
spec:
  steps:
  - name: count
    shell: for i in $(seq 1 200); do echo "line number $i"; done
"""


def test_logs_follow_resumes_a_cut_stream_without_loss_or_repeat(
    server: ApiServer, tmp_path: Path
) -> None:
    (tmp_path / "chatty.yaml").write_text(CHATTY)
    done = remote(server, "run", "-f", str(tmp_path / "chatty.yaml"), "-o", "json")
    execution_id = json.loads(done.stdout)["id"]
    whole = remote(server, "logs", execution_id).stdout
    assert whole.count("line number") == 200
    proxy = CuttingProxy(server.url, cut_after=3000, cuts=2)
    try:
        followed = remote(server, "logs", "--follow", execution_id, url=proxy.url)
    finally:
        proxy.close()
    assert followed.returncode == 0, followed.stderr
    assert proxy.connections == 3  # cut twice, resumed twice
    assert followed.stdout == whole
