"""`assay run --runner kubernetes` end to end against the API stand-in (tests/kube/standin):
the real console script, the official client over loopback, the Job's Pod run on Docker."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import docker
import pytest
from standin import StandIn

from support import ASSAY, Cli

NS = "tests"

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: kube-live}}
spec:
  container:
    image: "{image}"
    env:
      - {{name: GREETING, value: hello}}
  content:
    files:
      - path: /data/repo/test_numbers.py
        content: |
          def test_adds():
              assert 1 + 1 == 2

          def test_breaks():
              assert 2 + 2 == 5
  steps:
    - name: prepare
      shell: echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared
    - name: test
      workingDir: /data/repo
      shell: cat greeting.txt && python3 -m pytest -q -p no:cacheprovider
    - name: report
      condition: always
      shell: echo "always ran"
"""


def write(tmp_path: Path, image: str, text: str = WORKFLOW) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(text.format(image=image), encoding="utf-8")
    return path


def left_behind(standin: StandIn) -> dict[str, Any]:
    engine = docker.from_env()
    try:
        containers = engine.api.containers(all=True, filters=standin.kubelet.labels_filter)
        volumes = engine.volumes.list(filters=standin.kubelet.labels_filter)
    finally:
        engine.close()
    return (
        {
            kind: names
            for kind in ("Job", "Pod", "ConfigMap", "Secret")
            if (names := standin.objects(kind))
        }
        | ({"containers": containers} if containers else {})
        | ({"volumes": volumes} if volumes else {})
    )


def wait_until_gone(standin: StandIn) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (left := left_behind(standin)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_workflow_runs_as_a_job_with_real_logs_results_and_exit_code(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    wf = write(tmp_path, docker_image)
    done = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS, "-o", "json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert result["runner"] == "kubernetes"
    steps = {step["name"]: step for step in result["steps"]}
    assert steps["prepare"]["status"] == "passed"
    assert (steps["test"]["status"], steps["test"]["exitCode"]) == ("failed", 1)
    assert steps["report"]["status"] == "passed"
    summary = result["summary"]
    assert (summary["passed"], summary["failed"]) == (1, 1)
    log = cli("logs", result["id"], check=0).stdout
    assert "prepared" in log and "hello from kube-live-" in log
    assert "1 failed, 1 passed" in log and "always ran" in log
    assert "assay-report" not in log  # the reports are read, not logged
    cases = cli.json("get", "testcases", result["id"])
    assert sorted((c["name"], c["status"]) for c in cases) == [
        ("test_adds", "passed"),
        ("test_breaks", "failed"),
    ]
    # every body the runner sent was validated; the objects carry the execution id
    posts = [path for method, path in standin.api.requests if method == "POST"]
    assert [p.split("?")[0].rsplit("/", 1)[-1] for p in posts] == ["configmaps", "jobs"]
    watches = [unquote(path) for _, path in standin.api.requests if "watch=true" in path]
    assert watches and all(f"assay.io/execution={result['id']}," in w for w in watches)
    assert any("follow=true" in path for _, path in standin.api.requests)
    assert wait_until_gone(standin) == {}


def test_an_image_that_cannot_be_pulled_is_an_error_not_a_failure(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        "    - name: test\n",
        "    - name: test\n      container: {{image: registry.invalid/absent:1}}\n",
    )
    wf = write(tmp_path, docker_image, text)
    done = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS, "-o", "json")
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error"
    assert "step 'test'" in result["error"]
    assert "ErrImagePull" in result["error"] or "ImagePullBackOff" in result["error"]
    steps = {step["name"]: step for step in result["steps"]}
    assert steps["test"]["status"] == "error"
    assert "registry.invalid/absent:1" in steps["test"]["message"]
    assert "prepared" in cli("logs", result["id"], check=0).stdout
    deletes = [path for method, path in standin.api.requests if method == "DELETE"]
    assert any("/jobs/" in path for path in deletes)
    assert wait_until_gone(standin) == {}


def test_ctrl_c_runs_the_always_step_in_the_pod_then_deletes_the_job(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared',
        "echo started; sleep 120",
    )
    process = _start_until_a_step_runs(cli, standin, write(tmp_path, docker_image, text))
    stdout, stderr, execution = _interrupted(process, cli, standin)
    assert "`always` still run in its Pod" in stderr
    # the abort went to the Pod as an annotation (no pods/exec), then the Job was deleted
    patches = [path for method, path in standin.api.requests if method == "PATCH"]
    assert len(patches) == 1 and f"/api/v1/namespaces/{NS}/pods/" in patches[0], patches
    deletes = [path for method, path in standin.api.requests if method == "DELETE"]
    assert any("/jobs/" in path for path in deletes)
    assert not any("/pods/" in path for path in deletes)
    assert execution["status"] == "aborted", (stdout, execution)
    assert execution["error"] == "interrupted by SIGINT"
    steps = {step["name"]: step["status"] for step in execution["steps"]}
    assert steps == {
        "write content.files": "passed",
        "prepare": "aborted",
        "test": "aborted",
        "report": "passed",
    }, steps
    log = cli("logs", execution["id"], check=0).stdout
    assert "started" in log and "always ran" in log, log
    assert "abort: signalled to Pod" in log, log


def test_a_second_ctrl_c_deletes_the_job_at_once(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared',
        "echo started; sleep 120",
    ).replace('shell: echo "always ran"', 'shell: echo "always began"; sleep 120')
    process = _start_until_a_step_runs(cli, standin, write(tmp_path, docker_image, text))
    stdout, _, execution = _interrupted(process, cli, standin, again_after="always began")
    assert execution["status"] == "aborted", (stdout, execution)
    steps = {step["name"]: step["status"] for step in execution["steps"]}
    assert steps["report"] == "aborted", steps
    assert "always began" in cli("logs", execution["id"], check=0).stdout


def _interrupted(
    process: subprocess.Popen[str], cli: Cli, standin: StandIn, again_after: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """SIGINT to a running ``assay run`` (a second one once its log shows ``again_after``):
    it exits 130 and leaves nothing in the stand-in; its stdout, stderr and execution."""
    try:
        process.send_signal(signal.SIGINT)
        if again_after is not None:
            deadline = time.monotonic() + 60
            while again_after not in _logged(cli):
                assert time.monotonic() < deadline, f"{again_after!r} never logged"
                time.sleep(0.2)
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert wait_until_gone(standin) == {}
    [execution] = cli.json("get", "executions")
    return stdout, stderr, execution


def _start_until_a_step_runs(cli: Cli, standin: StandIn, wf: Path) -> subprocess.Popen[str]:
    """``assay run`` of ``wf`` in the background, once it follows a running step's log."""
    process = subprocess.Popen(
        [ASSAY, "run", "-f", str(wf), "--runner", "kubernetes", "-o", "json"],
        env={**cli.env, "ASSAY_KUBERNETES_NAMESPACE": NS},
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _running(standin) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert _running(standin), "the step container never ran"
        while not _following_a_step(standin) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # the runner is following the step's log
    except BaseException:
        process.kill()
        raise
    return process


def _logged(cli: Cli) -> str:
    """What the execution logs hold so far (read from ASSAY_HOME, not through assay)."""
    logs = Path(cli.env["ASSAY_HOME"]).glob("executions/*/log.txt")
    return "".join(path.read_text(encoding="utf-8", errors="replace") for path in logs)


def _following_a_step(standin: StandIn) -> bool:
    return any(
        "follow=true" in path and "content-files" not in path
        for _, path in list(standin.api.requests)
    )


def _running(standin: StandIn) -> bool:
    for (kind, _, _), item in list(standin.store.objects.items()):
        if kind != "Pod":
            continue
        for status in item.get("status", {}).get("initContainerStatuses", []):
            if "running" in status.get("state", {}):
                return True
    return False


def test_an_oom_killed_step_is_an_error(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        "    - name: test\n",
        "    - name: test\n      container: {{resources: {{limits: {{memory: 48Mi}}}}}}\n",
    ).replace(
        "cat greeting.txt && python3 -m pytest -q -p no:cacheprovider",
        "python3 -c 'b = bytearray(512 * 1024 * 1024)'",
    )
    done = cli("run", "-f", str(write(tmp_path, docker_image, text)), "--runner", "kubernetes",
               "--namespace", NS, "-o", "json")  # fmt: skip
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error"
    assert "step 'test'" in result["error"] and "OOMKilled" in result["error"]
    assert wait_until_gone(standin) == {}


def test_a_pod_unschedulable_past_the_timeout_is_an_error(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        "spec:\n  container:", "spec:\n  pod: {{nodeSelector: {{disk: ssd}}}}\n  container:"
    )
    cli.env["ASSAY_KUBERNETES_UNSCHEDULABLE_TIMEOUT"] = "2"
    started = time.monotonic()
    done = cli("run", "-f", str(write(tmp_path, docker_image, text)), "--runner", "kubernetes",
               "--namespace", NS, "-o", "json")  # fmt: skip
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error"
    assert "Unschedulable for 2s" in result["error"] and "node(s) didn't match" in result["error"]
    assert time.monotonic() - started < 60
    assert wait_until_gone(standin) == {}


SLEEPING = WORKFLOW.replace(
    'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared',
    "echo started; sleep 120",
)


def _evict(standin: StandIn, pod: str) -> None:
    message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi."
    standin.kubelet.evict(NS, pod, message)


def _delete(standin: StandIn, pod: str) -> None:
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(str(standin.kubeconfig)))
    core.delete_namespaced_pod(pod, NS, grace_period_seconds=0)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (_evict, "Evicted: The node was low on resource: memory. Threshold quantity: 100Mi"),
        (
            lambda standin, pod: standin.kubelet.lose_node(NS, pod),
            "DisruptionTarget DeletionByTaintManager: Taint manager: deleting due to NoExecute",
        ),
        (
            lambda standin, pod: standin.kubelet.lose_node(NS, pod, node_deleted=True),
            "DisruptionTarget DeletionByPodGC: PodGC: node no longer exists",
        ),
        (_delete, "was deleted before the execution ended (its node lost, or deleted by someone)"),
    ],
    ids=["evicted", "node-lost", "node-deleted", "pod-deleted"],
)
def test_a_pod_lost_while_a_step_runs_is_an_error_naming_the_step_and_the_reason(
    cli: Cli,
    standin: StandIn,
    docker_image: str,
    tmp_path: Path,
    fault: Any,
    reason: str,
) -> None:
    process = _start_until_a_step_runs(cli, standin, write(tmp_path, docker_image, SLEEPING))
    try:
        (pod,) = standin.objects("Pod")
        fault(standin, pod)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr
    result = json.loads(stdout)
    assert result["status"] == "error"
    assert result["error"].startswith("step 'prepare': ") and reason in result["error"], stderr
    steps = {step["name"]: step for step in result["steps"]}
    assert steps["prepare"]["status"] == "error" and reason in steps["prepare"]["message"]
    assert steps["test"]["status"] == "skipped"
    assert "started" in cli("logs", result["id"], check=0).stdout
    assert wait_until_gone(standin) == {}


@pytest.mark.parametrize(
    ("hard", "refused"),
    [
        # the quota refuses the Job itself: the create's 403 answer
        ("count/jobs.batch", 'jobs.batch "kube-live-'),
        # the Job is made, the Job controller cannot make its Pod: FailedCreate events
        ("pods", "Job kube-live-"),
    ],
    ids=["job", "pod"],
)
def test_a_resource_quota_denial_is_an_error_naming_the_quota(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path, hard: str, refused: str
) -> None:
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(str(standin.kubeconfig)))
    quota = {"metadata": {"name": "ci-quota"}, "spec": {"hard": {hard: "0"}}}
    core.create_namespaced_resource_quota(
        NS, {"apiVersion": "v1", "kind": "ResourceQuota", **quota}
    )
    cli.env["ASSAY_KUBERNETES_UNSCHEDULABLE_TIMEOUT"] = "2"
    done = cli("run", "-f", str(write(tmp_path, docker_image)), "--runner", "kubernetes",
               "--namespace", NS, "-o", "json")  # fmt: skip
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error"
    assert refused in result["error"]
    assert (
        f"is forbidden: exceeded quota: ci-quota, requested: {hard}=1, used: {hard}=0, "
        f"limited: {hard}=0"
    ) in result["error"]
    if hard == "pods":
        assert "FailedCreate for 2s: Error creating: pods " in result["error"]
        (event,) = core.list_namespaced_event(NS, field_selector="reason=FailedCreate").items
        assert event.count > 1  # the Job controller kept trying until the Job was deleted
    assert {step["status"] for step in result["steps"]} == {"skipped"}
    assert wait_until_gone(standin) == {}


def test_dropped_watch_and_log_streams_are_resumed_without_loss_or_repeats(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    standin.api.stream_limit = 1.0  # every watch and log stream is cut after a second
    text = WORKFLOW.replace(
        'echo "$GREETING from $(hostname)" > /data/repo/greeting.txt; echo prepared',
        "echo hi > /data/repo/greeting.txt; "
        "for i in $(seq 1 12); do echo line-$i; sleep 0.4; done; printf no-newline",
    )
    done = cli("run", "-f", str(write(tmp_path, docker_image, text)), "--runner", "kubernetes",
               "--namespace", NS, "-o", "json")  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["summary"]["passed"], result["summary"]["failed"]) == (1, 1)
    log = cli("logs", result["id"], check=0).stdout.splitlines()
    assert [line for line in log if line.startswith("line-")] == [f"line-{i}" for i in range(1, 13)]
    assert sum("no-newline" in line for line in log) == 1, "\n".join(log)
    logs = [path for _, path in standin.api.requests if "follow=true" in path]
    assert len(logs) > len({path for path in logs})  # some log was opened more than once
    watches = [path for _, path in standin.api.requests if "watch=true" in path]
    assert len(watches) > 2  # and the watch renewed from its resourceVersion
    assert wait_until_gone(standin) == {}


SECRET_STEP = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: kube-secret}}
spec:
  container:
    image: "{image}"
    env:
      - name: SERVICE_KEY
        valueFrom: {{secretKeyRef: {{name: testkube-secrets, key: supabase-service-key}}}}
  steps:
    - name: uses-the-key
      shell: '[ "$SERVICE_KEY" = sb-service-key-4242 ] && echo key-ok'
"""


def test_secret_references_are_resolved_in_the_cluster_never_by_assay(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    from kubernetes import client, config

    wf = write(tmp_path, docker_image, SECRET_STEP)
    # without the Secret the kubelet cannot make the container: an error, not a failure
    missing = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS, "-o", "json")
    assert missing.returncode == 3, missing.stderr
    refused = json.loads(missing.stdout)
    assert "step 'uses-the-key'" in refused["error"]
    assert "CreateContainerConfigError" in refused["error"]
    core = client.CoreV1Api(config.new_client_from_config(str(standin.kubeconfig)))
    core.create_namespaced_secret(
        NS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "testkube-secrets"},
            "stringData": {"supabase-service-key": "sb-service-key-4242"},
        },
    )
    done = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert "key-ok" in cli("logs", json.loads(done.stdout)["id"], check=0).stdout
    home = Path(cli.env["ASSAY_HOME"])
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert b"sb-service-key-4242" not in stored
    assert standin.objects("Secret") == ["testkube-secrets"]  # not assay's: left alone


def test_a_step_timeout_is_enforced_in_the_pod(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        "    - name: test\n      workingDir: /data/repo\n",
        "    - name: test\n      timeout: 2s\n      workingDir: /data/repo\n",
    ).replace("cat greeting.txt && python3 -m pytest", "sleep 60; python3 -m pytest")
    started = time.monotonic()
    done = cli("run", "-f", str(write(tmp_path, docker_image, text)), "--runner", "kubernetes",
               "--namespace", NS, "-o", "json")  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "timeout"
    steps = {step["name"]: step["status"] for step in result["steps"]}
    assert steps == {
        "write content.files": "passed",
        "prepare": "passed",
        "test": "timeout",
        "report": "passed",
    }
    assert time.monotonic() - started < 50
    assert wait_until_gone(standin) == {}


def test_an_execute_step_naming_a_missing_workflow_is_refused_before_anything_is_made(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = WORKFLOW.replace(
        "    - name: report\n",
        "    - name: others\n      execute: {{workflows: [{{name: other}}]}}\n    - name: report\n",
    )
    done = cli("run", "-f", str(write(tmp_path, docker_image, text)), "--runner", "kubernetes",
               "--namespace", NS)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "'other'" in done.stderr, done.stderr
    assert cli.json("get", "executions") == []
    assert standin.api.requests == [] and left_behind(standin) == {}


PARALLEL = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: kube-par}}
spec:
  container: {{image: "{image}"}}
  steps:
    - name: first
      shell: echo first
    - name: fan
      parallel:
        count: 3
        parallelism: 2
        content:
          files:
            - path: /data/test_shard.py
              content: |
                import os

                def test_shard():
                    assert os.environ["INDEX"] != "2"
        shell: >-
          export INDEX={{{{ index }}}}; echo "worker $INDEX of {{{{ count }}}}";
          cd /data && python3 -m pytest -q -p no:cacheprovider
        after:
          - name: tidy
            condition: always
            shell: echo "tidy {{{{ index }}}}"
            artifacts: {{paths: [test_shard.py]}}
    - name: next
      shell: echo not run
    - name: last
      condition: always
      shell: echo last
"""


def test_parallel_workers_run_as_jobs_when_the_pod_waits_for_them(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    wf = write(tmp_path, docker_image, PARALLEL)
    done = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS, "-o", "json",
               check=1)  # fmt: skip
    result = json.loads(done.stdout)
    assert result["status"] == "failed", done.stderr
    steps = {step["ref"]: (step["name"], step["status"]) for step in result["steps"]}
    assert steps == {
        "1": ("first", "passed"),
        **{f"2.w{i}-files": ("write content.files", "passed") for i in range(3)},
        "2.w0": ("worker 0", "passed"),
        "2.w0.1": ("tidy", "passed"),
        "2.w1": ("worker 1", "passed"),
        "2.w1.1": ("tidy", "passed"),
        "2.w2": ("worker 2", "failed"),
        "2.w2.1": ("tidy", "passed"),
        "2": ("fan", "failed"),
        "3": ("next", "skipped"),
        "4": ("last", "passed"),
    }, steps
    log = cli("logs", result["id"]).stdout
    for index in range(3):
        assert f"[worker {index}] worker {index} of 3" in log and f"[worker {index}] tidy" in log
    assert "parallel: 3 worker(s) as Jobs, 2 at a time" in log
    assert "parallel: 3 worker(s) ended, failed" in log and "last" in log
    listed = [line.split("\t")[0] for line in cli("artifacts", result["id"]).stdout.splitlines()]
    assert [name for name in listed if name.endswith(".py")] == [
        f"workers/2.w{index}/test_shard.py" for index in range(3)
    ], listed
    cases = cli.json("get", "testcases", result["id"])
    assert sorted(case["status"] for case in cases) == ["failed", "passed", "passed"], cases
    patches = [path for method, path in standin.api.requests if method == "PATCH"]
    assert len(patches) == 1, patches  # the group's status, to the main Pod
    jobs = f"/apis/batch/v1/namespaces/{NS}/jobs"
    created = [path for method, path in standin.api.requests if (method, path[: len(jobs)]) == (
        "POST", jobs)]  # fmt: skip
    assert len(created) == 4
    assert wait_until_gone(standin) == {}


def test_ctrl_c_while_workers_run_lets_every_always_step_run_then_deletes_them(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    text = PARALLEL.replace('echo "worker $INDEX of {{{{ count }}}}";', "echo napping; sleep 120;")
    process = subprocess.Popen(
        [ASSAY, "run", "-f", str(write(tmp_path, docker_image, text)), "--runner", "kubernetes",
         "--namespace", NS, "-o", "json"],
        env=cli.env, cwd=cli.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _logged(cli).count("napping") < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, _logged(cli)
            time.sleep(0.2)
    except BaseException:
        process.kill()
        raise
    _, _, execution = _interrupted(process, cli, standin)
    steps = {step["ref"]: step["status"] for step in execution["steps"]}
    assert (steps["2.w0"], steps["2.w1"], steps["2"], steps["3"]) == ("aborted",) * 4, steps
    assert steps["2.w2"] == "aborted", steps  # never started: the abort came first
    assert steps["4"] == "passed", steps  # `always`: run in the main Pod after the abort
    # the running workers' `always` steps too, in their Pods; the third never started
    tidy = sorted(ref for ref, status in steps.items() if ".w" in ref and status == "passed")
    assert tidy == ["2.w0-files", "2.w0.1", "2.w1-files", "2.w1.1"], steps
    log = cli("logs", execution["id"]).stdout
    assert "[worker 0] tidy 0" in log and "[worker 1] tidy 1" in log, log
    assert "tidy 2" not in log
    deletes = [path for method, path in standin.api.requests if method == "DELETE"]
    assert sum("/jobs/kube-par-" in path and "-2-w" in path for path in deletes) >= 2, deletes
