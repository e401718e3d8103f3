"""`assay run --runner docker`: steps in containers of a locally built image, end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import Cli

from assay.runners.docker import docker_client

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: in-docker}
spec:
  container:
    image: IMAGE
    env: [{name: GREETING, value: "from /data"}]
  content:
    files:
      - path: /data/repo/test_sample.py
        content: |
          import os
          def test_sees_shared_data():
              assert open("/data/repo/made-by-step-1.txt").read() == "step 1 was here\\n"
          def test_fails():
              assert os.environ["GREETING"] == "elsewhere"
  steps:
    - name: prepare
      shell: |
        echo "step 1 was here" > /data/repo/made-by-step-1.txt
        echo "prepared in $(pwd) on $(. /etc/os-release; echo $ID)"
    - name: tests
      workingDir: /data/repo
      shell: python3 -m pytest -q -p no:cacheprovider test_sample.py
"""


def containers_of(execution_id: str) -> list[Any]:
    client = docker_client()
    try:
        filters = {"label": f"assay.execution={execution_id}"}
        return list(client.containers.list(all=True, filters=filters))
    finally:
        client.close()


def test_two_steps_in_an_image_share_data_and_report_tests(
    cli: Cli, tmp_path: Path, docker_image: str
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.replace("IMAGE", docker_image))
    cli.env["ASSAY_RUNNER"] = "docker"
    done = cli("run", "-f", str(path), "-o", "json", check=1)
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert result["runner"] == "docker"
    assert [(s["name"], s["status"]) for s in result["steps"]] == [
        ("prepare", "passed"),
        ("tests", "failed"),
    ]
    assert result["summary"]["tests"] == 2 and result["summary"]["failed"] == 1
    log = cli("logs", result["id"]).stdout
    assert "prepared in /data on debian" in log
    assert "1 failed, 1 passed" in log
    assert "AssertionError: assert 'from /data' == 'elsewhere'" in log  # env, /data kept
    assert containers_of(result["id"]) == []


def test_an_image_that_cannot_be_pulled_is_exit_3_naming_it(
    cli: Cli, tmp_path: Path, docker_image: str
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: absent-image}\nspec:\n"
        "  steps: [{name: one, run: {image: '127.0.0.1:9/absent:1', shell: 'true'}}]\n"
    )
    done = cli("run", "-f", str(path), "--runner", "docker", check=3)
    assert "cannot pull image '127.0.0.1:9/absent:1'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_source_checkout_is_visible_at_data_repo(
    cli: Cli, tmp_path: Path, docker_image: str
) -> None:
    source = tmp_path / "checkout"
    source.mkdir()
    (source / "test_here.py").write_text("def test_here():\n    pass\n")
    path = tmp_path / "wf.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        f"metadata: {{name: from-source}}\nspec:\n  container: {{image: '{docker_image}'}}\n"
        "  steps: [{name: t, workingDir: /data/repo, shell: 'python3 -m pytest -q'}]\n"
    )
    done = cli("run", "-f", str(path), "--runner", "docker", "--source", str(source), "-o", "json")
    result = json.loads(done.stdout)
    assert (result["status"], result["summary"]["passed"]) == ("passed", 1), done.stderr


def test_the_example_of_docs_runners_md_runs(cli: Cli, tmp_path: Path, docker_image: str) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "runners.md").read_text()
    path = tmp_path / "wf.yaml"
    path.write_text(doc.split("```yaml\n", 1)[1].split("```", 1)[0])
    args = ("run", "-f", str(path), "--runner", "docker", "--config", f"image={docker_image}")
    result = json.loads(cli(*args, "-o", "json").stdout)
    assert (result["status"], result["summary"]["passed"]) == ("passed", 1)
