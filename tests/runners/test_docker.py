"""Docker runner specifics, against the real daemon and the locally built test image."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import assay.pytest_attempts
from assay.errors import DefinitionError, InfrastructureError
from assay.runners import TaskSpec
from assay.runners.docker import DockerRunner, docker_client, stop_strays
from assay.runners.docker_job import (
    LABEL_WORKSPACE,
    DockerJob,
    parse_cpu,
    parse_memory,
)


@pytest.fixture
def client(docker_image: str) -> Iterator[Any]:
    client = docker_client()
    yield client
    client.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "reports").mkdir()
    return tmp_path


def task(workspace: Path, script: str, **changes: Any) -> TaskSpec:
    spec = TaskSpec(
        name="exec/1",
        command=["/bin/sh", "-c", script],
        working_dir=workspace / "data",
        workspace=workspace,
        env={"PATH": "/host/only/bin", "HOST_SECRET": "x"},
    )
    return replace(spec, **changes)


def run(runner: DockerRunner, spec: TaskSpec) -> tuple[list[str], int | None]:
    handle = runner.start(spec)
    lines = list(runner.logs(handle))
    return lines, runner.wait(handle).exit_code


def left_behind(client: Any, workspace: Path) -> list[Any]:
    filters = {"label": f"{LABEL_WORKSPACE}={workspace}"}
    return list(client.containers.list(all=True, filters=filters))


def test_steps_share_data_and_see_container_paths(
    docker_image: str, workspace: Path, client: Any
) -> None:
    runner = DockerRunner(docker_image)
    data = workspace / "data"
    first = task(workspace, f"mkdir -p {data}/repo && echo shared > {data}/repo/note.txt")
    assert run(runner, first) == ([], 0)
    second = task(
        workspace,
        "pwd; cat note.txt; echo $NOTE; echo ${HOST_SECRET:-unset}",
        working_dir=data / "repo",
        declared_env={"NOTE": f"{data}/repo/note.txt"},
    )
    lines, code = run(runner, second)
    assert (lines, code) == (["/data/repo", "shared", "/data/repo/note.txt", "unset"], 0)
    assert (data / "repo" / "note.txt").read_text() == "shared\n"
    assert left_behind(client, workspace) == []


def test_reports_dir_is_mounted_for_junit(docker_image: str, workspace: Path) -> None:
    report = workspace / "reports" / "1-1.xml"
    (workspace / "data" / "test_one.py").write_text("def test_ok():\n    assert True\n")
    spec = task(
        workspace,
        "python3 -m pytest -q test_one.py",
        declared_env={"PYTEST_ADDOPTS": f"--junit-xml={report}"},
    )
    lines, code = run(DockerRunner(docker_image), spec)
    assert code == 0, lines
    assert 'name="test_ok"' in report.read_text()


def test_security_context_and_limits(docker_image: str, workspace: Path) -> None:
    cg = "/sys/fs/cgroup"  # cgroup v1 paths, else v2
    script = (
        "id -u; id -g; "
        f"cat {cg}/memory/memory.limit_in_bytes 2>/dev/null || cat {cg}/memory.max; "
        f"cat {cg}/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 {cg}/cpu.max"
    )
    spec = task(
        workspace,
        script,
        security_context={"runAsUser": 1234, "runAsGroup": 4321},
        resources={"limits": {"cpu": "500m", "memory": "64Mi"}},
    )
    lines, code = run(DockerRunner(docker_image), spec)
    assert (lines, code) == (["1234", "4321", str(64 * 2**20), "50000"], 0)


def test_no_command_runs_the_image_cmd(docker_image: str, workspace: Path, client: Any) -> None:
    base = client.containers.create(docker_image)
    tag = f"assay-test-cmd:{workspace.name[-12:].lower()}"
    try:
        base.commit(*tag.split(":"), changes=['CMD ["/bin/sh", "-c", "echo from-image-cmd"]'])
        lines, code = run(DockerRunner(), task(workspace, "", command=[], image=tag))
        assert (lines, code) == (["from-image-cmd"], 0)
    finally:
        base.remove(force=True)
        client.images.remove(tag, force=True)


def test_missing_image_is_an_infrastructure_error_naming_it(
    docker_image: str, workspace: Path
) -> None:
    runner = DockerRunner()
    absent = "127.0.0.1:9/assay-absent:none"
    with pytest.raises(InfrastructureError, match=re.escape(absent)):
        runner.start(task(workspace, "true", image=absent))
    never = task(workspace, "true", image="assay-absent:none", image_pull_policy="Never")
    with pytest.raises(InfrastructureError, match="'assay-absent:none' is not present"):
        runner.start(never)
    with pytest.raises(DefinitionError, match="needs an image"):
        runner.start(task(workspace, "true"))


def test_cancel_and_timeout_leave_no_container(
    docker_image: str, workspace: Path, client: Any
) -> None:
    runner = DockerRunner(docker_image, grace_seconds=1.0)
    timed = runner.wait(runner.start(task(workspace, "sleep 60", timeout=0.5)))
    handle = runner.start(task(workspace, "sleep 60"))
    threading.Timer(0.3, runner.cancel, args=(handle,)).start()
    cancelled = runner.wait(handle)
    assert timed.timed_out and cancelled.cancelled
    assert left_behind(client, workspace) == []


def test_reattach_while_running_in_a_new_runner(
    docker_image: str, workspace: Path, client: Any
) -> None:
    first = DockerRunner(docker_image)
    handle = first.start(task(workspace, "echo before; sleep 1; echo after; exit 6"))
    restarted = DockerRunner(docker_image)  # a new engine process: only the persisted handle
    again = restarted.attach(handle.to_dict())
    assert list(restarted.logs(again)) == ["before", "after"]
    assert restarted.wait(again).exit_code == 6
    assert left_behind(client, workspace) == []


def test_stop_strays_removes_a_crashed_executions_containers(
    docker_image: str, workspace: Path, client: Any
) -> None:
    DockerRunner(docker_image).start(task(workspace, "sleep 60"))  # its engine "dies" here
    assert len(left_behind(client, workspace)) == 1
    assert stop_strays(workspace, grace_seconds=1.0) == 1
    assert left_behind(client, workspace) == []


def networks_of(client: Any, workspace: Path) -> list[Any]:
    return list(client.networks.list(filters={"label": f"{LABEL_WORKSPACE}={workspace}"}))


def test_the_execution_network_gives_addresses_and_names(
    docker_image: str, workspace: Path, client: Any
) -> None:
    runner = DockerRunner(docker_image, grace_seconds=1.0)
    runner.prepare(workspace)
    try:
        [network] = networks_of(client, workspace)
        assert network.name == f"assay-{workspace.name}"
        assert network.attrs["Labels"]["assay.execution"] == workspace.name
        service = runner.start(
            task(workspace, "touch /data/up; exec sleep 60", aliases=("db", "db-0"))
        )
        ip = runner.address(service)
        assert ip.count(".") == 3 and not ip.startswith("127.")
        probe = ["test", "-e", str(workspace / "data" / "up")]  # a host path: mapped
        for _ in range(50):
            if runner.exec(service, probe, 5) == 0:
                break
        else:
            pytest.fail("/data/up never seen by exec in the container")
        assert runner.exec(service, ["sh", "-c", "exit 4"], 5) == 4
        assert runner.exec(service, ["sleep", "5"], 1) is None  # outlived its timeout
        script = f"getent hosts db db-0 | sort -u; ping -c1 -W1 {ip} >/dev/null 2>&1; true"
        lines, code = run(runner, task(workspace, script))
        assert code == 0
        assert {line.split()[0] for line in lines} == {ip}
        runner.cancel(service)
        runner.wait(service)
    finally:
        runner.release(workspace)
    assert networks_of(client, workspace) == [] and left_behind(client, workspace) == []


def test_release_and_stop_strays_remove_the_network_with_its_containers(
    docker_image: str, workspace: Path, client: Any
) -> None:
    runner = DockerRunner(docker_image, grace_seconds=1.0)
    runner.prepare(workspace)
    runner.start(task(workspace, "sleep 60"))  # still attached: release removes it first
    runner.release(workspace)
    assert networks_of(client, workspace) == [] and left_behind(client, workspace) == []
    crashed = DockerRunner(docker_image)
    crashed.prepare(workspace)
    crashed.start(task(workspace, "sleep 60", aliases=("svc",)))  # its engine "dies" here
    assert len(networks_of(client, workspace)) == 1
    assert stop_strays(workspace, grace_seconds=1.0) == 1
    assert networks_of(client, workspace) == [] and left_behind(client, workspace) == []


# -- the container's configuration, without a daemon -------------------------------------


def test_job_maps_paths_and_never_grants_host_access(workspace: Path) -> None:
    data = workspace / "data"
    spec = task(
        workspace,
        f"cd {data}/repo && pytest",
        working_dir=data / "repo",
        declared_env={"OUT": f"{workspace}/reports/1-1.xml"},
    )
    arguments = DockerJob.from_spec(spec, "img:1", {"assay.task": "t1"}).create_arguments()
    assert arguments["entrypoint"] == ["/bin/sh"]
    assert arguments["command"] == ["-c", "cd /data/repo && pytest"]
    assert arguments["working_dir"] == "/data/repo"
    assert arguments["environment"] == {
        "OUT": "/assay/reports/1-1.xml",
        "PYTHONPATH": "/opt/assay/pytest",
        "PYTEST_ADDOPTS": "-p assay_pytest_attempts",
    }
    assert arguments["privileged"] is False and arguments["network"] == "bridge"
    binds = {v["bind"]: (host, v["mode"]) for host, v in arguments["volumes"].items()}
    assert binds.keys() == {"/data", "/assay/reports", "/opt/assay/pytest/assay_pytest_attempts.py"}
    plugin_host, plugin_mode = binds["/opt/assay/pytest/assay_pytest_attempts.py"]
    assert plugin_host == assay.pytest_attempts.__file__ and plugin_mode == "ro"
    assert arguments["labels"]["assay.execution"] == workspace.name


def test_the_plugin_comes_after_the_steps_or_images_python_path(workspace: Path) -> None:
    spec = task(workspace, "pytest", declared_env={"PYTEST_ADDOPTS": "-x --junit-xml=o.xml"})
    image_env = {"PYTHONPATH": "/app/lib", "PATH": "/usr/bin"}
    env = DockerJob.from_spec(spec, "img:1", {}, image_env=image_env).environment
    assert env["PYTHONPATH"] == "/app/lib:/opt/assay/pytest"  # the image's kept
    assert env["PYTEST_ADDOPTS"] == "-p assay_pytest_attempts -x --junit-xml=o.xml"
    assert "PATH" not in env  # only PYTHONPATH is taken from the image
    own = replace(spec, declared_env={"PYTHONPATH": f"{workspace}/data/lib"})
    env = DockerJob.from_spec(own, "img:1", {}, image_env=image_env).environment
    assert env["PYTHONPATH"] == "/data/lib:/opt/assay/pytest"  # the step's wins, mapped


@pytest.mark.parametrize(
    ("text", "nano"), [("500m", 500_000_000), ("2", 2_000_000_000), (1.5, 1_500_000_000)]
)
def test_parse_cpu(text: object, nano: int) -> None:
    assert parse_cpu(text) == nano


@pytest.mark.parametrize(("text", "size"), [("256Mi", 256 * 2**20), ("1G", 10**9), (1024, 1024)])
def test_parse_memory(text: object, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("bad", ["lots", "5x", "-1"])
def test_bad_quantities_are_definition_errors(bad: str) -> None:
    with pytest.raises(DefinitionError):
        parse_memory(bad)
    with pytest.raises(DefinitionError):
        parse_cpu(bad)


def test_a_lost_daemon_ends_the_wait_with_an_infrastructure_error(
    docker_image: str, workspace: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    runner = DockerRunner(docker_image, grace_seconds=1.0)
    handle = runner.start(task(workspace, "sleep 60"))

    def lost(*_args: Any, **_kwargs: Any) -> None:
        raise requests.exceptions.ConnectionError("connection reset by peer")

    monkeypatch.setattr(runner.client.api, "wait", lost)
    with pytest.raises(InfrastructureError, match="lost the Docker daemon"):
        runner.wait(handle)
    assert left_behind(client, workspace) == []  # stopped and removed all the same
