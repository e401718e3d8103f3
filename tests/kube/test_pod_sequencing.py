"""The entry script, run for real: rendered Pods' containers executed in order with /bin/sh
on this machine (kube_support.run_pod), their status files and results checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kube_support import IDENTITY, PodRun, render_yaml, run_pod, workflow
from standin.downward import DownwardVolume

from assay.kube.signals import pod_info_volume
from support import GitRepo

JOB = IDENTITY.job_name


def run(text: str, tmp_path: Path) -> PodRun:
    return run_pod(render_yaml(text).objects, JOB, tmp_path)


def test_failure_skips_passed_steps_runs_failed_and_always_ones(tmp_path: Path) -> None:
    text = workflow(
        """
- name: first
  shell: echo one > /data/one.txt
- name: breaks
  shell: exit 3
- name: skipped
  shell: echo never > /data/never.txt
- name: on-failure
  condition: failed
  shell: echo f > /data/failed.txt
""",
        spec="""
after:
- name: cleanup
  condition: always
  shell: cp /data/one.txt /data/cleanup.txt
""",
    )
    pod = run(text, tmp_path)
    assert pod.result["status"] == "failed", pod.logs
    assert pod.returncode == 1
    assert [pod.status(ref) for ref in "12345"] == [
        "passed",
        "failed",
        "skipped",
        "passed",
        "passed",
    ]
    data = tmp_path / "data"
    assert (data / "cleanup.txt").read_text() == "one\n"
    assert (data / "failed.txt").exists() and not (data / "never.txt").exists()
    assert pod.result["steps"]["2"]["exitCode"] == 3
    assert (data / ".assay" / "steps" / "2").read_text().split()[:3] == ["failed", "3", "1"]


def test_all_passing_exits_zero_and_never_runs_nothing(tmp_path: Path) -> None:
    text = workflow(
        """
- shell: echo a
- condition: never
  shell: touch /data/never
- condition: "{{ config.run_it }}"
  shell: touch /data/configured
""",
        spec="config:\n  run_it: {type: boolean, default: true}",
    )
    pod = run(text, tmp_path)
    assert (pod.result["status"], pod.returncode) == ("passed", 0)
    assert pod.status("2") == "skipped"
    assert (tmp_path / "data" / "configured").exists()
    assert not (tmp_path / "data" / "never").exists()


def test_retries_until_the_step_passes(tmp_path: Path) -> None:
    counting = (
        'n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; [ "$n" -ge 3 ]'
    )
    text = workflow(f"- name: flaky\n  retry: {{count: 4}}\n  shell: '{counting}'")
    pod = run(text, tmp_path)
    assert pod.status("1") == "passed"
    assert pod.result["steps"]["1"]["attempts"] == 3
    assert "attempt 2 failed, retrying" in pod.logs["step-1"]


def test_retry_until_failed_stops_at_the_first_failure(tmp_path: Path) -> None:
    text = workflow(
        "- retry: {count: 5, until: failed}\n  optional: true\n"
        "  shell: 'echo x >> /data/runs; [ $(wc -l < /data/runs) -lt 2 ]'"
    )
    pod = run(text, tmp_path)
    assert pod.result["steps"]["1"]["attempts"] == 2
    assert pod.result["status"] == "passed"  # optional: its failure fails nothing


def test_step_timeout_stops_the_tree_and_always_steps_still_run(tmp_path: Path) -> None:
    text = workflow(
        """
- name: slow
  timeout: 1s
  shell: sleep 30 & wait; touch /data/finished
- name: next
  shell: touch /data/next
- name: cleanup
  condition: always
  shell: touch /data/cleanup
"""
    )
    started = time.monotonic()
    pod = run(text, tmp_path)
    assert time.monotonic() - started < 15
    assert pod.result["status"] == "timeout"
    assert [pod.status(ref) for ref in "123"] == ["timeout", "skipped", "passed"]
    data = tmp_path / "data"
    assert (data / "cleanup").exists() and not (data / "next").exists()
    assert not (data / "finished").exists()


def test_execution_deadline_skips_the_rest_and_gives_always_steps_a_grace(
    tmp_path: Path,
) -> None:
    text = workflow(
        """
- shell: sleep 30
- shell: touch /data/next
- condition: always
  shell: touch /data/cleanup
""",
        spec="job: {activeDeadlineSeconds: 2}",
    )
    rendered = render_yaml(text)
    (job,) = [o for o in rendered.objects if o["kind"] == "Job"]
    # the Job's own deadline leaves room for the clean-up step: 2 + 10 (one always) + 30
    assert job["spec"]["activeDeadlineSeconds"] == 42
    started = time.monotonic()
    pod = run_pod(rendered.objects, JOB, tmp_path)
    assert time.monotonic() - started < 15
    assert pod.result["status"] == "timeout"
    assert [pod.status(ref) for ref in "123"] == ["timeout", "skipped", "passed"]
    assert (tmp_path / "data" / "cleanup").exists()
    assert (tmp_path / "data" / ".assay" / "deadline").exists()


ABORTABLE = """
- shell: touch /data/started; sleep 30
- shell: touch /data/next
- condition: always
  shell: touch /data/cleanup
"""
"""A step to abort, one the abort skips, one that runs all the same."""


def test_an_abort_signal_stops_the_step_and_leaves_only_always_steps(tmp_path: Path) -> None:
    text = workflow(ABORTABLE)
    rendered = render_yaml(text)
    runs: list[PodRun] = []
    pod_thread = threading.Thread(
        target=lambda: runs.append(run_pod(rendered.objects, JOB, tmp_path)), daemon=True
    )
    started = time.monotonic()
    pod_thread.start()
    data = tmp_path / "data"
    while not (data / "started").exists():
        assert time.monotonic() - started < 20, "the first step never started"
        time.sleep(0.05)
    (data / ".assay" / "signals" / "abort").write_text("aborted by a user\n")
    pod_thread.join(timeout=30)
    assert time.monotonic() - started < 15
    (pod,) = runs
    assert pod.result is not None and pod.result["status"] == "aborted"
    assert [pod.status(ref) for ref in "123"] == ["aborted", "aborted", "passed"]
    assert (data / "cleanup").exists() and not (data / "next").exists()
    assert pod.returncode == 1


def test_negative_and_optional(tmp_path: Path) -> None:
    text = workflow(
        """
- name: must-fail
  negative: true
  shell: exit 1
- name: may-fail
  optional: true
  shell: exit 1
- name: still-runs
  shell: touch /data/ran
"""
    )
    pod = run(text, tmp_path)
    assert [pod.status(ref) for ref in "123"] == ["passed", "failed", "passed"]
    assert pod.result["status"] == "passed"


def test_groups_carry_their_condition_and_timeout_to_their_steps(tmp_path: Path) -> None:
    text = workflow(
        """
- name: never-group
  condition: never
  steps:
  - shell: touch /data/a
  - condition: always
    shell: touch /data/b
- name: timed-group
  timeout: 3s
  steps:
  - shell: echo quick
  - shell: sleep 30
  - shell: touch /data/c
- name: after-group
  condition: always
  shell: touch /data/d
"""
    )
    started = time.monotonic()
    pod = run(text, tmp_path)
    assert time.monotonic() - started < 20
    statuses = {ref: step["status"] for ref, step in pod.result["steps"].items()}
    # refs as the engine numbers them: a global counter under each parent
    assert statuses == {
        "1.2": "skipped",
        "1.3": "skipped",
        "4.5": "passed",
        "4.6": "timeout",
        "4.7": "skipped",
        "8": "passed",
    }
    data = tmp_path / "data"
    assert not (data / "a").exists() and not (data / "b").exists()
    assert not (data / "c").exists() and (data / "d").exists()
    assert (data / ".assay" / "groups" / "1").read_text().strip() == "skip"


def test_a_step_with_a_command_and_children_runs_them_only_if_it_passed(
    tmp_path: Path,
) -> None:
    text = workflow(
        """
- name: parent
  optional: true
  shell: exit 1
  steps:
  - shell: touch /data/child
"""
    )
    pod = run(text, tmp_path)
    assert pod.status("1") == "failed" and pod.status("1.2") == "skipped"
    assert not (tmp_path / "data" / "child").exists()


def test_missing_working_directory_is_an_error(tmp_path: Path) -> None:
    pod = run(workflow("- workingDir: /data/nowhere\n  shell: 'true'"), tmp_path)
    assert pod.status("1") == "error"
    assert pod.result["status"] == "error"
    assert "working directory" in pod.logs["step-1"]


def test_secret_references_expand_in_the_container_and_shell_syntax_survives(
    tmp_path: Path,
) -> None:
    text = workflow(
        """
- container:
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: creds, key: token}}
    - name: GREETING
      value: "hello $(TOKEN)"
  run:
    command: [/bin/sh, -c, 'echo "$1|$(echo sub)|$GREETING" > /data/out', sh, "{{ env.TOKEN }}"]
"""
    )
    rendered = render_yaml(text)
    assert "s3cr3t" not in str(rendered.objects)
    pod = run_pod(rendered.objects, JOB, tmp_path, secrets={("creds", "token"): "s3cr3t"})
    assert pod.status("1") == "passed", pod.logs
    # {{ env.TOKEN }} became $(TOKEN) for the kubelet; the user's $( ) stayed shell syntax
    assert (tmp_path / "data" / "out").read_text() == "s3cr3t|sub|hello $(TOKEN)\n"


def test_content_files_are_copied_into_data(tmp_path: Path) -> None:
    text = workflow(
        "- shell: cat /data/conf/app.ini /data/key.pem > /data/out",
        spec="""
container: {image: busybox}
content:
  files:
  - path: /data/conf/app.ini
    content: "name={{ config.name }}\\n"
  - path: /data/key.pem
    contentFrom: {secretKeyRef: {name: tls, key: key}}
    mode: 0600
config:
  name: {type: string, default: demo}
""",
    )
    rendered = render_yaml(text)
    pod = run_pod(rendered.objects, JOB, tmp_path, secrets={("tls", "key"): "PRIVATE\n"})
    assert pod.status("content-files") == "passed", pod.logs
    data = tmp_path / "data"
    assert (data / "out").read_text() == "name=demo\nPRIVATE\n"
    assert oct((data / "key.pem").stat().st_mode & 0o777) == "0o600"


def test_git_content_is_cloned_by_the_first_container(git_repo: GitRepo, tmp_path: Path) -> None:
    repo = git_repo({"tests/test_a.py": "x = 1\n", "docs/readme.md": "doc\n"})
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    text = workflow(
        "- shell: ls > /data/listing",
        spec=f"""
container: {{image: busybox}}
content:
  git:
    uri: file://{repo}
    revision: {commit}
    paths: [tests]
""",
    )
    pod = run(text, tmp_path / "pod")
    assert pod.status("content-git") == "passed", pod.logs
    checkout = tmp_path / "pod" / "data" / "repo"
    assert (checkout / "tests" / "test_a.py").read_text() == "x = 1\n"
    assert not (checkout / "docs").exists()  # sparse: only `paths`
    # steps run in the checkout by default
    assert (tmp_path / "pod" / "data" / "listing").read_text() == "tests\n"


def test_a_failed_clone_is_an_error_and_steps_do_not_run(tmp_path: Path) -> None:
    text = workflow(
        "- shell: touch /data/ran",
        spec=f"container: {{image: busybox}}\ncontent:\n  git: {{uri: 'file://{tmp_path}/none'}}",
    )
    pod = run(text, tmp_path)
    assert pod.status("content-git") == "error"
    assert pod.status("1") == "skipped"
    assert pod.result["status"] == "error"


def test_pytest_reports_land_in_the_state_directory_per_attempt(tmp_path: Path) -> None:
    test_file = tmp_path / "data" / "test_x.py"
    test_file.parent.mkdir(parents=True)
    test_file.write_text("def test_ok():\n    assert True\n")
    text = workflow(
        "- workingDir: /data\n  retry: {count: 1}\n"
        f"  run: {{command: [{sys.executable}, -m, pytest, -q, -p, no:cacheprovider]}}"
    )
    pod = run(text, tmp_path)
    assert pod.status("1") == "passed", pod.logs
    report = tmp_path / "data" / ".assay" / "reports" / "1-1.xml"
    assert 'name="test_ok"' in report.read_text()


SHELLS = [("/bin/sh",), ("busybox", "sh"), ("bash", "--posix")]


def need(shell: tuple[str, ...]) -> None:
    if shutil.which(shell[0]) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{shell[0]} is missing (scripts/setup.sh installs it)")
        pytest.skip(f"{shell[0]} is not installed")


def test_the_report_a_commands_own_junit_xml_names_is_the_steps(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test_x.py").write_text("def test_ok():\n    assert True\n")
    text = workflow(
        "- workingDir: /data\n  run: {command: "
        f"[{sys.executable}, -m, pytest, -q, -p, no:cacheprovider, --junit-xml=own.xml]}}"
    )
    pod = run(text, tmp_path)
    assert pod.status("1") == "passed", pod.logs
    assert (tmp_path / "data" / "own.xml").exists()  # where the command wrote it, and
    report = tmp_path / "data" / ".assay" / "reports" / "1-1.xml"
    assert 'name="test_ok"' in report.read_text()


@pytest.mark.parametrize("shell", SHELLS)
def test_secret_values_are_masked_in_the_pod_in_output_and_reports(
    tmp_path: Path, shell: tuple[str, ...]
) -> None:
    need(shell)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test_x.py").write_text(
        "import os\n\ndef test_leak():\n    assert False, 'key ' + os.environ['TOKEN']\n"
    )
    text = workflow(
        f"""
- shell: 'echo "out $TOKEN"; echo "err $TOKEN" >&2; echo "$PLAIN"'
- workingDir: /data
  run: {{command: [{sys.executable}, -m, pytest, -q, -p, no:cacheprovider]}}
""",
        spec="""
container:
  image: busybox
  env:
  - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
  - {name: PLAIN, value: not-secret}
""",
    )
    secret = "s3cr3t-<&>"  # XML-escaped in the report: masked in that form too
    rendered = render_yaml(text)
    pod = run_pod(rendered.objects, JOB, tmp_path, {("creds", "token"): secret}, shell=shell)
    assert pod.status("1") == "passed" and pod.status("2") == "failed", pod.logs
    logs = "".join(pod.logs.values())
    assert "s3cr3t" not in logs
    assert "out ***" in logs and "err ***" in logs and "not-secret" in logs
    assert "AssertionError: key ***" in pod.logs["step-2"]
    report = (tmp_path / "data" / ".assay" / "reports" / "2-1.xml").read_text()
    assert "key ***" in report and "s3cr3t" not in report


def test_steps_share_a_virtualenv_on_data(tmp_path: Path) -> None:
    """What one step installs into Python (pip, `uv pip install --system`) the next imports:
    one virtualenv per Python under /data/.assay, first on PATH, as the local runner's."""
    install = "import sysconfig; open(sysconfig.get_paths()['purelib'] + '/shared.py', 'w')"
    text = workflow(
        f"""
- shell: python3 -c "{install}.write('X = 42')"
- shell: python3 -c 'import shared, sys; print(shared.X, sys.prefix)' > /data/out
"""
    )
    pod = run(text, tmp_path)
    assert pod.status("2") == "passed", pod.logs
    value, prefix = (tmp_path / "data" / "out").read_text().split()
    assert value == "42"
    assert Path(prefix).parent == tmp_path / "data" / ".assay"
    assert Path(prefix).name.startswith("venv-")


def test_an_abort_annotation_stops_the_step_and_leaves_only_always_steps(
    tmp_path: Path,
) -> None:
    """As the signals/abort file above, through the Pod's annotations: the downwardAPI file
    the kubelet rewrites (its layout and Go quoting, by the stand-in's writer)."""
    text = workflow(ABORTABLE)
    rendered = render_yaml(text)
    volume = DownwardVolume(tmp_path / "pod-info", pod_info_volume()["downwardAPI"])
    annotations = {"assay.io/steps": '[{"ref": "1"}]', "other/note": "a\nb"}
    volume.write({"metadata": {"annotations": annotations}})
    runs: list[PodRun] = []
    pod_thread = threading.Thread(
        target=lambda: runs.append(
            run_pod(rendered.objects, JOB, tmp_path, pod_info=volume.directory / "annotations")
        ),
        daemon=True,
    )
    started = time.monotonic()
    pod_thread.start()
    data = tmp_path / "data"
    while not (data / "started").exists():
        assert time.monotonic() - started < 20, "the first step never started"
        time.sleep(0.05)
    reason = 'interrupted by "SIGINT"'
    volume.write({"metadata": {"annotations": {**annotations, "assay.io/abort": reason}}})
    pod_thread.join(timeout=30)
    (pod,) = runs
    assert pod.result is not None and pod.result["status"] == "aborted", pod.logs
    assert [pod.status(ref) for ref in "123"] == ["aborted", "aborted", "passed"]
    assert (data / "cleanup").exists() and not (data / "next").exists()
    assert (data / ".assay" / "signals" / "abort").read_text() == 'interrupted by \\"SIGINT\\"\n'


@pytest.mark.parametrize("shell", SHELLS)
def test_a_waiting_step_takes_its_status_from_the_pods_annotation(
    tmp_path: Path, shell: tuple[str, ...]
) -> None:
    need(shell)
    text = workflow(
        """
- name: fan-out
  parallel: {count: 1, container: {image: busybox}, shell: "true"}
- shell: touch /data/after
"""
    )
    rendered = render_yaml(text)
    volume = DownwardVolume(tmp_path / "pod-info", pod_info_volume()["downwardAPI"])
    volume.write({"metadata": {"annotations": {}}})
    info = volume.directory / "annotations"
    runs: list[PodRun] = []
    pod_thread = threading.Thread(
        target=lambda: runs.append(
            run_pod(rendered.objects, JOB, tmp_path, shell=shell, pod_info=info)
        ),
        daemon=True,
    )
    pod_thread.start()
    time.sleep(1.5)  # the step waits (no signal yet); then the runner's annotation comes
    assert pod_thread.is_alive()
    volume.write({"metadata": {"annotations": {"assay.io/signal.1": "failed"}}})
    assert info.read_text() == 'assay.io/signal.1="failed"'  # no final newline, as kubelet's
    pod_thread.join(timeout=30)
    (pod,) = runs
    assert [pod.status("1"), pod.status("2")] == ["failed", "skipped"], pod.logs


def test_parallel_step_waits_for_the_runners_signal(tmp_path: Path) -> None:
    text = workflow(
        """
- name: fan-out
  parallel:
    count: 2
    container: {image: busybox}
    shell: echo "worker {{ index }} of {{ count }}" > /data/worker
- shell: touch /data/after
"""
    )
    rendered = render_yaml(text)
    worker_jobs = [o["metadata"]["name"] for o in rendered.objects if o["kind"] == "Job"][:-1]
    assert len(worker_jobs) == 2
    for index, name in enumerate(worker_jobs):
        worker = run_pod(rendered.objects, name, tmp_path / name)
        assert worker.status(f"1.w{index}") == "passed", worker.logs
        assert (worker.data / "worker").read_text() == f"worker {index} of 2\n"
    # the runner tells the main Pod how the group ended: here, before the Pod runs
    signals = tmp_path / "main" / "data" / ".assay" / "signals"
    signals.mkdir(parents=True)
    (signals / "1").write_text("passed\n")
    pod = run_pod(rendered.objects, JOB, tmp_path / "main")
    assert [pod.status("1"), pod.status("2")] == ["passed", "passed"], pod.logs
    for word in ("failed", "timeout", "error"):  # the workers' worst, as on the other runners
        again = tmp_path / f"again-{word}"
        (again / "data" / ".assay" / "signals").mkdir(parents=True)
        (again / "data" / ".assay" / "signals" / "1").write_text(f"{word}\n")
        pod = run_pod(rendered.objects, JOB, again)
        assert (pod.status("1"), pod.status("2")) == (word, "skipped"), pod.logs


@pytest.mark.parametrize("shell", SHELLS)
def test_the_entry_script_behaves_alike_in_dash_busybox_and_bash(
    tmp_path: Path, shell: tuple[str, ...]
) -> None:
    need(shell)
    text = workflow(
        """
- name: flaky
  retry: {count: 2}
  shell: 'echo x >> /data/runs; [ $(wc -l < /data/runs) -ge 2 ]'
- name: slow-group
  timeout: 1s
  steps:
  - shell: sleep 30
- shell: touch /data/skipped
- condition: always
  shell: cat /data/in.txt > /data/out.txt
""",
        spec="content:\n  files: [{path: /data/in.txt, content: hello}]",
    )
    started = time.monotonic()
    pod = run_pod(render_yaml(text).objects, JOB, tmp_path, shell=shell)
    assert time.monotonic() - started < 20
    assert pod.result is not None, pod.logs
    statuses = {ref: step["status"] for ref, step in pod.result["steps"].items()}
    assert statuses == {
        "content-files": "passed",
        "1": "passed",
        "2.3": "timeout",
        "4": "skipped",
        "5": "passed",
    }, pod.logs
    assert pod.result["steps"]["1"]["attempts"] == 2
    assert (pod.result["status"], pod.returncode) == ("timeout", 1)
    assert (tmp_path / "data" / "out.txt").read_text() == "hello"


@pytest.mark.parametrize("mode", ["", "bogus"])
def test_the_entry_script_refuses_bad_usage(tmp_path: Path, mode: str) -> None:
    from assay.kube.render import entry_script

    script = tmp_path / "entry.sh"
    script.write_text(entry_script())
    done = subprocess.run(
        ["/bin/sh", str(script), *([mode] if mode else [])],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "ASSAY_STATE_DIR": str(tmp_path / "state")},
        check=False,
    )
    assert done.returncode == 64 and "usage: entry.sh" in done.stderr
