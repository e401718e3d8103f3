"""Acceptance (issue 13): `assay run --runner docker` with a service and two images.

The service (`python3 -m http.server` in the test image) is awaited with an httpGet probe
and reached by `{{ services.web.0.ip }}` and by its name; steps in two images share
`/data`; the last step fails. Everything the execution made in Docker (containers, its
network) is gone at the end, checked with the Docker API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import Cli

from assay.runners.docker import docker_client

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: with-service}
spec:
  config:
    password: {type: string, default: hunter2-hunter2, sensitive: true}
  container: {image: IMAGE}
  services:
    web:
      image: IMAGE
      env: [{name: PASSWORD, value: "{{ config.password }}"}]
      shell: |
        mkdir -p /srv && cd /srv && echo hello-from-web > index.html
        echo "web starting with $PASSWORD"
        exec python3 -m http.server 8000
      readinessProbe:
        httpGet: {path: /index.html, port: 8000}
        periodSeconds: 1
  steps:
    - name: fetch
      shell: |
        python3 -c "import urllib.request as u
        print(u.urlopen('http://{{ services.web.0.ip }}:8000/index.html').read().decode())" \\
          > /data/page.txt
        echo "fetched from {{ services.web.0.ip }}"
    - name: second-image
      run:
        image: SECOND
        shell: |
          echo "image: $(cat /etc/assay-image)"
          grep hello-from-web /data/page.txt
          python3 -c "import urllib.request as u; u.urlopen('http://web:8000/')"
          echo "reached web by name"
    - name: last
      shell: echo failing now; exit 1
"""


def docker_objects(execution_id: str) -> tuple[list[Any], list[Any]]:
    client = docker_client()
    try:
        filters = {"label": f"assay.execution={execution_id}"}
        return (
            list(client.containers.list(all=True, filters=filters)),
            list(client.networks.list(filters=filters)),
        )
    finally:
        client.close()


def test_a_service_two_images_shared_data_and_a_failing_last_step(
    cli: Cli, tmp_path: Path, docker_image: str, second_docker_image: str
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.replace("SECOND", second_docker_image).replace("IMAGE", docker_image))
    done = cli("run", "-f", str(path), "--runner", "docker", "-o", "json", check=1)
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert [(s["name"], s["status"]) for s in result["steps"]] == [
        ("fetch", "passed"),
        ("second-image", "passed"),
        ("last", "failed"),
    ]
    log = cli("logs", result["id"]).stdout
    assert "service web-0: ready (httpGet http://" in log
    assert "image: second" in log and "hello-from-web" in log
    assert "reached web by name" in log and "failing now" in log
    ip = log.split("fetched from ", 1)[1].split()[0]
    assert f"service web-0: started at {ip}" in log
    artifacts = Path(cli.env["ASSAY_HOME"]) / "executions" / result["id"] / "artifacts"
    service_log = (artifacts / "services" / "web-0.log").read_text()
    assert "web starting with ***" in service_log and "hunter2" not in service_log
    assert '"GET /index.html HTTP/1.1" 200' in service_log
    assert docker_objects(result["id"]) == ([], [])
