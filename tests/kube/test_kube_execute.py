"""`execute` steps on `--runner kubernetes`: the workflows a step names run as child
executions, each its own Job, started when the main Pod waits for them; the step gets the
worst of their statuses through the Pod's annotation. Against the API stand-in, its Pods on
Docker."""

from __future__ import annotations

import json
from pathlib import Path

from standin import StandIn
from test_live import NS, wait_until_gone

from support import Cli

DEFINITIONS = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: child-pass}
spec:
  container: {image: "IMAGE"}
  steps:
    - shell: echo "child passes"
---
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: child-fail}
spec:
  container: {image: "IMAGE"}
  steps:
    - shell: echo "child fails"; exit 3
---
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: suite}
spec:
  container: {image: "IMAGE"}
  steps:
    - name: first
      shell: echo "suite starts"
    - name: children
      execute:
        parallelism: 2
        workflows: [{name: child-pass}, {name: child-fail}]
    - name: later
      shell: echo "must not run"
  after:
    - name: cleanup
      condition: always
      shell: echo "suite cleanup"
"""


def test_execute_runs_each_workflow_as_a_child_job_and_the_step_gets_the_worst_status(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    wf = tmp_path / "suite.yaml"
    wf.write_text(DEFINITIONS.replace("IMAGE", docker_image), encoding="utf-8")
    done = cli("run", "suite", "-f", str(wf), "--runner", "kubernetes", "--namespace", NS,
               "-o", "json", check=None)  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["runner"]) == ("failed", "kubernetes")
    steps = {step["name"]: step["status"] for step in result["steps"]}
    assert steps == {
        "first": "passed",
        "children": "failed",
        "later": "skipped",
        "cleanup": "passed",
    }
    everything = cli.json("get", "executions")
    children = {row["workflow"]: row for row in everything if row["id"] != result["id"]}
    assert sorted(children) == ["child-fail", "child-pass"]
    assert children["child-pass"]["status"] == "passed"
    assert children["child-fail"]["status"] == "failed"
    for child in children.values():
        assert child["runner"] == "kubernetes"
        shown = cli.json("get", "execution", child["id"])
        assert shown.get("parentId", shown.get("parent_id")) == result["id"], shown
    log = cli("logs", result["id"]).stdout
    assert "suite starts" in log and "suite cleanup" in log and "must not run" not in log
    assert f"child {children['child-pass']['name']}: passed" in log
    assert f"child {children['child-fail']['name']}: failed" in log
    assert "child fails" in cli("logs", children["child-fail"]["id"]).stdout
    posts = [path for method, path in standin.api.requests if method == "POST"]
    assert sum(path.split("?")[0].endswith("/jobs") for path in posts) == 3
    patches = [path for method, path in standin.api.requests if method == "PATCH"]
    assert len(patches) == 1, patches  # the step's signal, once
    assert wait_until_gone(standin) == {}
