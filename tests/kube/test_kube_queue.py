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
from typing import Any

import httpx
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
def kubernetes_server(
    tmp_path: Path, standin: StandIn, wf: Path, tokens: dict[str, str] | None = None
) -> Iterator[ApiServer]:
    """`assay server` with one worker and ASSAY_RUNNER=kubernetes, ``wf`` applied; the
    ``tokens`` of an earlier server on the same store, else new ones."""
    env = {
        "KUBECONFIG": str(standin.kubeconfig),
        "ASSAY_RUNNER": "kubernetes",
        "ASSAY_KUBERNETES_NAMESPACE": NS,
    }
    url = f"sqlite:///{tmp_path / 'home' / 'assay.db'}"
    home = tmp_path / "home"
    with running_server(home, url, workers=1, extra_env=env, tokens=not tokens) as server:
        server.tokens.update(tokens or {})
        server.cli("apply", "-f", str(wf))
        yield server


def run_until_running(server: ApiServer, standin: StandIn) -> str:
    """A run of kube-live requested from ``server``, once its first step container runs;
    its execution id."""
    with server.client("run") as client:
        answer = client.post("/v1/test-workflows/kube-live/executions", json={})
        assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 90
    while not _running(standin):
        assert time.monotonic() < deadline, "the step container never ran"
        time.sleep(0.2)
    return str(answer.json()["id"])


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
        execution_id = run_until_running(server, standin)
        server.process.send_signal(signal.SIGTERM)  # the server stops its workers
        server.process.wait(timeout=60)
        found = server.cli_json("get", "execution", execution_id)
    assert found["status"] == "aborted" and found["error"] == "worker stopped", found
    steps = {step["name"]: step["status"] for step in found["steps"]}
    assert steps["report"] == "passed", steps  # `always`: it ran before the Job was deleted
    assert wait_until_gone(standin) == {}


def _finished(client: httpx.Client, execution_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = client.get(f"/v1/test-workflow-executions/{execution_id}").json()
        if ExecutionStatus(found["status"]).finished:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.3)


def test_a_run_whose_server_was_killed_is_resumed_by_the_next_server(
    standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    """kill -9 of the server while its Job runs: the restarted server adopts the execution
    and follows the same Job to its end; each line of the log once, nothing left."""
    wf = write(
        tmp_path,
        docker_image,
        WORKFLOW.replace(
            'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared',
            'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo before the kill;'
            " sleep 6; echo after the kill",
        ),
    )
    with kubernetes_server(tmp_path, standin, wf) as first, first.client("run") as client:
        execution_id = client.post("/v1/test-workflows/kube-live/executions", json={}).json()["id"]
        deadline = time.monotonic() + 90
        logs = f"/v1/test-workflow-executions/{execution_id}/logs"
        while "before the kill" not in client.get(logs).text:
            assert time.monotonic() < deadline, "the first step never wrote"
            time.sleep(0.2)
        first.process.kill()
        first.process.wait()
    assert standin.objects("Job"), "the Job went with the server: nothing to resume"
    # a command on the store leaves it to the next server: it still runs, in the cluster
    assert first.cli_json("get", "execution", execution_id)["status"] == "running"
    again = kubernetes_server(tmp_path, standin, wf, first.tokens)
    with again as second, second.client("read") as client:
        found = _finished(client, execution_id, 120)
        log = client.get(f"/v1/test-workflow-executions/{execution_id}/logs").text
        cases = client.get(f"/v1/test-workflow-executions/{execution_id}/testcases").json()
    assert (found["status"], found["runner"], found["error"]) == ("failed", "kubernetes", None)
    lines = log.splitlines()
    for line in ("before the kill", "after the kill", "always ran", "1 failed, 1 passed"):
        assert sum(line in seen for seen in lines) == 1, (line, log)
    resumed = [index for index, seen in enumerate(lines) if seen.startswith("resumed: its worker")]
    assert len(resumed) == 1, log
    assert lines.index("before the kill") < resumed[0] < lines.index("after the kill"), log
    assert sorted((case["name"], case["status"]) for case in cases) == [
        ("test_adds", "passed"),
        ("test_breaks", "failed"),
    ]
    creates = [path for method, path in standin.api.requests if method == "POST"]
    assert sum("/jobs" in path for path in creates) == 1, "the Job was created twice"
    assert wait_until_gone(standin) == {}


def test_a_run_whose_job_is_gone_when_resumed_ends_in_error(
    standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    with kubernetes_server(tmp_path, standin, sleeping(tmp_path, docker_image)) as first:
        execution_id = run_until_running(first, standin)
        first.process.kill()
        first.process.wait()
    [job] = standin.objects("Job")
    answer = httpx.delete(  # as kubectl would: its Pods go with it
        f"{standin.url}/apis/batch/v1/namespaces/{NS}/jobs/{job}?propagationPolicy=Background",
        headers={"Authorization": f"Bearer {standin.token}"},
    )
    assert answer.status_code == 200, answer.text
    again = kubernetes_server(tmp_path, standin, sleeping(tmp_path, docker_image), first.tokens)
    with again as second, second.client("read") as client:
        found = _finished(client, execution_id, 60)
    assert found["status"] == "error", found
    assert f"Job {job} was gone when the execution was resumed" in found["error"]
    assert wait_until_gone(standin) == {}
