"""The server image (Dockerfile, built by scripts/server-image.sh from the local Debian image
and a wheelhouse, no registry) runs as `assay install kubernetes` deploys it: non-root, on a
read-only root filesystem, with ASSAY_HOME on a volume and /tmp on a tmpfs."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.kube.install import InstallOptions, install_manifests
from assay.runners.docker import docker_client

ROOT = Path(__file__).resolve().parents[2]

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: in-image}
spec:
  steps:
    - shell: echo "uid $(id -u) in $PWD"; test ! -w /opt/assay
"""


@pytest.fixture(scope="module")
def server_image(docker_image: str) -> str:
    """The image's tag (built once per source tree; cached in the daemon)."""
    built = subprocess.run(
        [str(ROOT / "scripts" / "server-image.sh")], capture_output=True, text=True, timeout=1500
    )
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


@pytest.fixture
def container(server_image: str) -> Iterator[Any]:
    """The image started with the Deployment's restrictions, port 8088 published on loopback."""
    client = docker_client()
    volume = client.volumes.create(f"assay-home-{uuid.uuid4().hex[:8]}")
    started = client.containers.run(
        server_image,
        detach=True,
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,size=64m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        volumes={volume.name: {"bind": "/var/lib/assay", "mode": "rw"}},
        ports={"8088/tcp": ("127.0.0.1", None)},
    )
    try:
        yield started
    finally:
        started.remove(force=True)
        volume.remove(force=True)
        client.close()


def _base_url(container: Any) -> str:
    deadline = time.monotonic() + 120
    while True:
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()
        ports = container.attrs["NetworkSettings"]["Ports"].get("8088/tcp")
        if ports:
            url = f"http://127.0.0.1:{ports[0]['HostPort']}"
            try:
                if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        assert time.monotonic() < deadline, container.logs().decode()
        time.sleep(0.5)


def test_the_image_runs_as_the_install_manifests_expect(container: Any) -> None:
    deployment = next(
        o
        for o in install_manifests(InstallOptions(with_postgres=True))
        if o["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    (spec,) = pod["containers"]
    url = _base_url(container)
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    # the Deployment's command runs the image's assay, as the uid its securityContext sets
    assert spec["command"] == ["assay"]
    uid = container.exec_run(["id", "-u"]).output.decode().strip()
    assert uid == str(pod["securityContext"]["runAsUser"]) == "10001"
    made = container.exec_run(["assay", "token", "create", "ci", "--scope", "admin"])
    assert made.exit_code == 0, made.output
    token = made.output.decode().strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/v1/test-workflows", timeout=10).status_code == 401
    applied = httpx.post(
        f"{url}/v1/test-workflows",
        content=WORKFLOW,
        headers={**headers, "Content-Type": "application/yaml"},
        timeout=30,
    )
    assert applied.status_code in (200, 201), applied.text
    queued = httpx.post(
        f"{url}/v1/test-workflows/in-image/executions", json={}, headers=headers, timeout=30
    )
    assert queued.status_code in (200, 201), queued.text
    execution = queued.json()["id"]
    deadline = time.monotonic() + 120
    while (
        status := httpx.get(
            f"{url}/v1/test-workflow-executions/{execution}", headers=headers, timeout=10
        ).json()["status"]
    ) in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    logs = httpx.get(
        f"{url}/v1/test-workflow-executions/{execution}/logs", headers=headers, timeout=10
    )
    assert status == "passed", logs.text
    assert "uid 10001 in /var/lib/assay" in logs.text
    # nothing but the volume and /tmp is writable: the root filesystem is read-only
    touched = container.exec_run(["touch", "/opt/assay/x"])
    assert touched.exit_code != 0 and b"Read-only file system" in touched.output
