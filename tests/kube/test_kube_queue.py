"""The Kubernetes runner beyond one `assay run`: queued runs that a server's workers run as
Jobs, and a killed `assay run --runner kubernetes` whose Job the next command deletes.
Against the API stand-in (tests/kube/standin), the Pods run on Docker."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from standin import StandIn
from test_live import WORKFLOW, _running, left_behind, wait_until_gone, write

from assay.status import ExecutionStatus
from server_support import ApiServer, running_server
from support import ASSAY, Cli

NS = "tests"


def sleeping(tmp_path: Path, image: str) -> Path:
    """The live tests' workflow, its first step sleeping five minutes."""
    text = WORKFLOW.replace(
        'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared',
        "echo started; sleep 300",
    )
    return write(tmp_path, image, text)


def run_then_kill(cli: Cli, wf: Path, ready: Callable[[], bool]) -> None:
    """`assay run --runner kubernetes` of ``wf``, killed with SIGKILL once ``ready()``: no
    handler of assay's runs, its Job stays in the cluster."""
    process = subprocess.Popen(
        [ASSAY, "run", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS],
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not ready():
            assert process.poll() is None, "assay run ended first"
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait()


@contextmanager
def kubernetes_server(tmp_path: Path, standin: StandIn, wf: Path) -> Iterator[ApiServer]:
    """`assay server` with one worker and ASSAY_RUNNER=kubernetes, ``wf`` applied."""
    env = {
        "KUBECONFIG": str(standin.kubeconfig),
        "ASSAY_RUNNER": "kubernetes",
        "ASSAY_KUBERNETES_NAMESPACE": NS,
    }
    url = f"sqlite:///{tmp_path / 'home' / 'assay.db'}"
    with running_server(tmp_path / "home", url, workers=1, extra_env=env) as server:
        server.cli("apply", "-f", str(wf))
        yield server


def test_a_killed_run_is_aborted_by_the_next_command_which_deletes_its_job(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    run_then_kill(cli, sleeping(tmp_path, docker_image), lambda: _running(standin))
    assert standin.objects("Job"), "the Job went with the process: nothing to recover"
    # the next command that opens the store finds the execution's process gone
    [execution] = cli.json("get", "executions")
    assert execution["status"] == "aborted"
    assert "ended while it was running" in execution["error"]
    assert "2 kubernetes object(s) deleted" in execution["error"], execution["error"]
    deletes = [path for method, path in standin.api.requests if method == "DELETE"]
    assert any("/jobs/" in path for path in deletes) and any("/configmaps/" in p for p in deletes)
    assert wait_until_gone(standin) == {}
    # reconciled once: a later command finds nothing more to do
    assert cli.json("get", "executions")[0]["error"] == execution["error"]


def test_a_killed_run_whose_cluster_is_away_says_so(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    run_then_kill(cli, sleeping(tmp_path, docker_image), lambda: bool(standin.objects("Job")))
    away = tmp_path / "away.kubeconfig"  # a kubeconfig whose server refuses connections
    away.write_text(
        standin.kubeconfig.read_text().replace(standin.url, "http://127.0.0.1:9"), "utf-8"
    )
    cli.env["KUBECONFIG"] = str(away)
    [execution] = cli.json("get", "executions")
    assert execution["status"] == "aborted"
    assert "could not delete its kubernetes objects" in execution["error"]
    assert "delete Job" in execution["error"]
    assert left_behind(standin).get("Job"), "nothing could have deleted it"


def test_a_server_with_the_kubernetes_runner_runs_queued_runs_as_jobs(
    standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    with (
        kubernetes_server(tmp_path, standin, write(tmp_path, docker_image)) as server,
        server.client("run") as client,
    ):
        answer = client.post("/v1/test-workflows/kube-live/executions", json={})
        assert answer.status_code == 200, answer.text
        execution_id = answer.json()["id"]
        deadline = time.monotonic() + 180
        while True:
            found = client.get(f"/v1/test-workflow-executions/{execution_id}").json()
            if ExecutionStatus(found["status"]).finished:
                break
            assert time.monotonic() < deadline, found
            time.sleep(0.3)
        log = client.get(f"/v1/test-workflow-executions/{execution_id}/logs").text
        cases = client.get(f"/v1/test-workflow-executions/{execution_id}/testcases").json()
    assert (found["status"], found["runner"]) == ("failed", "kubernetes"), found
    assert "hello from kube-live-" in log and "always ran" in log
    assert sorted((case["name"], case["status"]) for case in cases) == [
        ("test_adds", "passed"),
        ("test_breaks", "failed"),
    ]
    posts = [path for method, path in standin.api.requests if method == "POST"]
    assert any(path.startswith(f"/apis/batch/v1/namespaces/{NS}/jobs") for path in posts)
    assert wait_until_gone(standin) == {}


def test_an_abort_request_runs_the_always_step_in_the_pod_then_deletes_the_job(
    standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    with (
        kubernetes_server(tmp_path, standin, sleeping(tmp_path, docker_image)) as server,
        server.client("run") as client,
    ):
        execution_id = client.post("/v1/test-workflows/kube-live/executions", json={}).json()["id"]
        deadline = time.monotonic() + 90
        logs = f"/v1/test-workflow-executions/{execution_id}/logs"
        while "started" not in client.get(logs).text:  # the first step runs
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.2)
        answer = client.post(f"/v1/test-workflow-executions/{execution_id}/abort")
        assert answer.status_code == 200, answer.text
        while not ExecutionStatus(
            (found := server.cli_json("get", "execution", execution_id))["status"]
        ).finished:
            assert time.monotonic() < deadline + 60, found
            time.sleep(0.3)
        log = client.get(logs).text
    assert found["status"] == "aborted" and found["error"] == "aborted on request", found
    steps = {step["name"]: step["status"] for step in found["steps"]}
    assert (steps["prepare"], steps["test"], steps["report"]) == ("aborted", "aborted", "passed")
    assert "started" in log and "always ran" in log and "abort: signalled to Pod" in log, log
    assert [method for method, path in standin.api.requests if "/pods/" in path and
            method == "PATCH"] == ["PATCH"]  # fmt: skip
    assert wait_until_gone(standin) == {}


def test_an_interrupted_worker_stops_its_job_too(
    standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    with kubernetes_server(tmp_path, standin, sleeping(tmp_path, docker_image)) as server:
        with server.client("run") as client:
            execution_id = client.post("/v1/test-workflows/kube-live/executions", json={}).json()[
                "id"
            ]
            deadline = time.monotonic() + 90
            while not _running(standin):
                assert time.monotonic() < deadline, "the step container never ran"
                time.sleep(0.2)
            server.process.send_signal(signal.SIGTERM)  # the server stops its workers
            server.process.wait(timeout=60)
        found = server.cli_json("get", "execution", execution_id)
    assert found["status"] == "aborted" and found["error"] == "worker stopped", found
    steps = {step["name"]: step["status"] for step in found["steps"]}
    assert steps["report"] == "passed", steps  # `always`: it ran before the Job was deleted
    assert wait_until_gone(standin) == {}
