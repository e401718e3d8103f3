"""The Runner contract, passed by every runner (local, fake, docker)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from assay.runners import FakeOutcome, FakeRunner, LocalRunner, Runner, TaskSpec
from assay.runners.docker import DockerRunner


def _fake_script(spec: TaskSpec) -> FakeOutcome:
    script = spec.command[-1]
    if "sleep" in script:
        return FakeOutcome(seconds=30.0)
    code = int(script.rsplit("exit ", 1)[1]) if "exit " in script else 0
    lines = tuple(part.split("echo ", 1)[1] for part in script.split(";") if "echo " in part)
    return FakeOutcome(lines=lines, exit_code=code)


RUNNERS: dict[str, Callable[[pytest.FixtureRequest], Runner]] = {
    "local": lambda _: LocalRunner(grace_seconds=0.5),
    "fake": lambda _: FakeRunner(_fake_script),
    "docker": lambda request: DockerRunner(request.getfixturevalue("docker_image"), 1.0),
}


@pytest.fixture(params=sorted(RUNNERS))
def runner(request: pytest.FixtureRequest) -> Runner:
    return RUNNERS[request.param](request)


def spec(tmp_path: Path, script: str, timeout: float | None = None) -> TaskSpec:
    return TaskSpec(
        name="t",
        command=["/bin/sh", "-c", script],
        working_dir=tmp_path,
        workspace=tmp_path,
        env={"PATH": os.environ["PATH"]},
        timeout=timeout,
    )


def test_logs_and_exit_code(runner: Runner, tmp_path: Path) -> None:
    handle = runner.start(spec(tmp_path, "echo one; echo two; exit 3"))
    lines = list(runner.logs(handle))
    result = runner.wait(handle)
    assert lines == ["one", "two"]
    assert result.exit_code == 3
    assert not result.succeeded


def test_success(runner: Runner, tmp_path: Path) -> None:
    handle = runner.start(spec(tmp_path, "echo fine"))
    assert runner.wait(handle).succeeded
    assert runner.wait(handle).exit_code == 0  # idempotent


def test_timeout_ends_the_task(runner: Runner, tmp_path: Path) -> None:
    handle = runner.start(spec(tmp_path, "sleep 30", timeout=0.3))
    result = runner.wait(handle)
    assert result.timed_out
    assert result.exit_code is None


def test_cancel_from_another_thread(runner: Runner, tmp_path: Path) -> None:
    handle = runner.start(spec(tmp_path, "sleep 30"))
    threading.Timer(0.2, runner.cancel, args=(handle,)).start()
    result = runner.wait(handle)
    assert result.cancelled
    assert not result.succeeded


def test_attach_from_persisted_handle(runner: Runner, tmp_path: Path) -> None:
    handle = runner.start(spec(tmp_path, "echo again; exit 4"))
    runner.wait(handle)
    again = runner.attach(handle.to_dict())
    assert again.task_id == handle.task_id
    assert list(runner.logs(again)) == ["again"]


def test_a_running_task_has_an_address_and_runs_commands_beside_it(
    runner: Runner, tmp_path: Path
) -> None:
    runner.prepare(tmp_path)
    try:
        handle = runner.start(spec(tmp_path, "sleep 30"))
        try:
            address = runner.address(handle)
            assert len(address.split(".")) == 4 and all(p.isdigit() for p in address.split("."))
            if runner.name != "fake":  # the fake runner's commands always succeed
                assert runner.exec(handle, ["sh", "-c", "exit 3"], 5) == 3
                assert runner.exec(handle, ["sleep", "5"], 0.5) is None
            assert runner.exec(handle, ["true"], 5) == 0
        finally:
            runner.cancel(handle)
            runner.wait(handle)
    finally:
        runner.release(tmp_path)
        runner.release(tmp_path)  # safe twice


# -- local-runner specifics ------------------------------------------------------------


def test_local_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    runner = LocalRunner(grace_seconds=0.5)
    script = f"sh -c 'echo $$ > {pidfile}; sleep 60' & sleep 60"
    result = runner.wait(runner.start(spec(tmp_path, script, timeout=0.5)))
    assert result.timed_out
    grandchild = int(pidfile.read_text())
    time.sleep(0.1)
    stat = Path(f"/proc/{grandchild}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_local_reattach_in_a_new_runner_reads_exit_file(tmp_path: Path) -> None:
    first = LocalRunner()
    handle = first.start(spec(tmp_path, "echo from-before-restart; exit 5"))
    first.wait(handle)
    restarted = LocalRunner()  # a new engine process knows only the persisted handle
    again = restarted.attach(handle.to_dict())
    assert list(restarted.logs(again)) == ["from-before-restart"]
    assert restarted.wait(again).exit_code == 5


def test_local_runner_reports_ignored_image(tmp_path: Path) -> None:
    with_image = replace(spec(tmp_path, "true"), image="python:3.12")
    notes = LocalRunner().unsupported(with_image)
    assert any("python:3.12" in note for note in notes)
