"""kill -9 of `assay run --runner docker` mid-step: the container outlives it (dockerd owns
it); the next assay command reconciles: the container is gone, the execution `aborted`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from cli_support import ASSAY, Cli

from assay.runners.docker import docker_client


def test_kill_9_mid_step_then_the_next_command_removes_the_container(
    cli: Cli, tmp_path: Path, docker_image: str
) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        f"metadata: {{name: slow}}\nspec:\n  container: {{image: '{docker_image}'}}\n"
        "  steps: [{shell: 'echo $((6*7))-running; sleep 120'}]\n"
    )
    proc = subprocess.Popen(
        [ASSAY, "run", "-f", str(path), "--runner", "docker", "--watch"],
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the step's own output: its container runs
        if "42-running" in line:
            break
    home = cli.env["ASSAY_HOME"]
    client = docker_client()

    def containers() -> list[Any]:
        found = client.containers.list(all=True, filters={"label": "assay.workspace"})
        return [c for c in found if c.labels["assay.workspace"].startswith(home)]

    try:
        assert len(containers()) == 1
        proc.kill()
        proc.communicate(timeout=30)
        time.sleep(0.5)
        [container] = containers()
        assert container.status == "running", "the container outlives a killed assay"
        [row] = cli.json("get", "executions")  # the next command reconciles
        assert row["status"] == "aborted"
        assert containers() == []
    finally:
        proc.kill()
        for container in containers():
            container.remove(force=True)
        client.close()


def test_kill_9_with_a_service_running_then_containers_and_network_are_removed(
    cli: Cli, tmp_path: Path, docker_image: str
) -> None:
    path = tmp_path / "served.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        f"metadata: {{name: served}}\nspec:\n  container: {{image: '{docker_image}'}}\n"
        "  services:\n    db:\n      shell: touch /tmp/up; exec sleep 300\n"
        "      readinessProbe: {exec: {command: [test, -e, /tmp/up]}, periodSeconds: 1}\n"
        "  steps: [{shell: 'echo $((6*7))-running at {{ services.db.0.ip }}; sleep 120'}]\n"
    )
    proc = subprocess.Popen(
        [ASSAY, "run", "-f", str(path), "--runner", "docker", "--watch"],
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "42-running" in line:
            break
    home = cli.env["ASSAY_HOME"]
    client = docker_client()

    def ours(found: list[Any]) -> list[Any]:
        return [c for c in found if c.labels["assay.workspace"].startswith(home)]

    def containers() -> list[Any]:
        return ours(client.containers.list(all=True, filters={"label": "assay.workspace"}))

    def networks() -> list[Any]:
        found = client.networks.list(filters={"label": "assay.workspace"})
        return [n for n in found if n.attrs["Labels"]["assay.workspace"].startswith(home)]

    try:
        assert len(containers()) == 2 and len(networks()) == 1  # the service, the step
        proc.kill()
        proc.communicate(timeout=30)
        time.sleep(0.5)
        assert {c.status for c in containers()} == {"running"}
        [row] = cli.json("get", "executions")  # the next command reconciles
        assert row["status"] == "aborted"
        assert containers() == [] and networks() == []
    finally:
        proc.kill()
        for container in containers():
            container.remove(force=True)
        for network in networks():
            network.remove()
        client.close()
