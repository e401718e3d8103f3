"""The TestWorkflowTemplates shipped with assay (seed 001's idempotent cluster helpers),
run by the real `assay` on the local runner. No cluster runs here: `kubectl` is a stand-in
script on PATH that answers from a small state directory and records every call, so these
tests check our side of the seam: the commands, their quoting, waiting, and what is kept."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import yaml
from cli_support import Cli
from test_kubernetes_cli import validate

FAKE_KUBECTL = """\
#!/bin/sh
# A stand-in for kubectl: objects are files under $KUBE_STATE (named TYPE_NAME);
# `get TYPE/NAME` lists one once it exists; every call is appended to $KUBE_STATE/calls.
printf '%s\\n' "$*" >> "$KUBE_STATE/calls"
case "$1" in
  get)
    what=$(echo "$2" | tr / _)
    case "$2" in
      */*) [ -e "$KUBE_STATE/$what" ] && echo "$2" ;;
      pods) for f in "$KUBE_STATE"/pod_*; do [ -e "$f" ] && echo "pod/${f##*/pod_}"; done ;;
      *) echo "objects of $2" ;;
    esac ;;
  wait) [ -e "$KUBE_STATE/ready" ] || { echo "error: timed out waiting" >&2; exit 1; } ;;
  create) echo "kind: Namespace" ;;
  logs) echo "log of $2" ;;
  *) echo "ok" ;;
esac
exit 0
"""

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: preview}
spec:
  config:
    fail: {type: boolean, default: false}
  use:
    - name: assay/k8s-diagnostics
      config: {namespace: shop, selector: app=api}
  steps:
    - name: namespace
      template:
        name: assay/ensure-namespace
        config: {namespace: "shop'; touch pwned; '", labels: "team=qa tier=e2e"}
    - name: api ready
      template:
        name: assay/kubectl-wait
        config: {resource: deployment/api, namespace: shop, for: condition=available, timeout: 8}
    - shell: test {{ config.fail }} = false
"""


def _kubectl(cli: Cli, tmp_path: Path) -> Path:
    """Put the stand-in kubectl first on the CLI's PATH; return its state directory."""
    bin_dir, state = tmp_path / "bin", tmp_path / "kube-state"
    bin_dir.mkdir()
    state.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(FAKE_KUBECTL)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    cli.env["PATH"] = f"{bin_dir}{os.pathsep}{cli.env['PATH']}"
    cli.env["KUBE_STATE"] = str(state)
    return state


def _artifacts(cli: Cli, execution: str) -> set[str]:
    listed = cli("artifacts", execution, check=0).stdout.splitlines()
    return {line.split("\t")[0] for line in listed if line.strip()}


def _calls(state: Path) -> list[str]:
    return (state / "calls").read_text().splitlines()


def test_install_templates_prints_valid_definitions(cli: Cli, tmp_path: Path) -> None:
    printed = cli("install", "templates", "--namespace", "testkube", check=0).stdout
    documents = list(yaml.safe_load_all(printed))
    assert sorted(d["metadata"]["name"] for d in documents) == [
        "assay--ensure-namespace",
        "assay--k8s-diagnostics",
        "assay--kubectl-wait",
    ]
    assert {d["metadata"]["namespace"] for d in documents} == {"testkube"}
    path = tmp_path / "templates.yaml"
    path.write_text(printed)
    cli("validate", "-f", str(path), check=0)
    refused = cli("install", "templates", "--namespace", "Not_A_Label", check=2)
    assert "not a DNS label" in refused.stderr and "Traceback" not in refused.stderr


def test_a_passing_run_waits_for_the_object_and_keeps_no_diagnostics(
    cli: Cli, tmp_path: Path
) -> None:
    state = _kubectl(cli, tmp_path)
    (state / "deployment_api").touch()
    (state / "ready").touch()
    path = tmp_path / "preview.yaml"
    path.write_text(WORKFLOW)
    cli("run", "-f", str(path), check=0)
    calls = _calls(state)
    # the namespace value stays one argument: the quote in it is no way into the shell
    assert "create namespace shop'; touch pwned; ' --dry-run=client --output yaml" in calls
    assert not (tmp_path / "pwned").exists() and not (cli.cwd / "pwned").exists()
    assert "label namespace shop'; touch pwned; ' --overwrite team=qa tier=e2e" in calls
    assert (
        "wait deployment/api --namespace shop --for=condition=available --timeout=8s" in calls[-1]
    )
    assert not any(call.startswith("logs") for call in calls)  # diagnostics: failure only
    assert _artifacts(cli, "preview-1") == set()


def test_a_failing_run_keeps_pod_logs_and_events_as_artifacts(cli: Cli, tmp_path: Path) -> None:
    state = _kubectl(cli, tmp_path)
    for name in ("deployment_api", "ready", "pod_api-1", "pod_api-2"):
        (state / name).touch()
    path = tmp_path / "preview.yaml"
    path.write_text(WORKFLOW)
    done = cli("run", "-f", str(path), "-c", "fail=true", check=1)
    assert "kept 7 file(s) of namespace shop" in cli("logs", "preview-1", check=0).stdout, done
    kept = _artifacts(cli, "preview-1")
    assert kept == {
        "shop/objects.txt",
        "shop/events.txt",
        "shop/pods.txt",
        "shop/api-1.log",
        "shop/api-2.log",
        "shop/api-1.previous.log",
        "shop/api-2.previous.log",
    }
    assert "describe pods --namespace shop --selector app=api" in _calls(state)


def test_waiting_for_an_object_that_never_appears_fails_naming_it(cli: Cli, tmp_path: Path) -> None:
    state = _kubectl(cli, tmp_path)
    path = tmp_path / "preview.yaml"
    path.write_text(WORKFLOW.replace("timeout: 8", "timeout: 3"))
    cli("run", "-f", str(path), check=1)
    log = cli("logs", "preview-1", check=0).stdout
    assert "assay/kubectl-wait: no deployment/api in namespace shop after 3s" in log
    polls = [call for call in _calls(state) if call.startswith("get deployment/api")]
    assert len(polls) >= 2  # it polled until its deadline, then gave up
    assert not any(call.startswith("wait ") for call in _calls(state))


def test_an_applied_template_of_the_same_name_wins(cli: Cli, tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text(
        "kind: TestWorkflowTemplate\napiVersion: testworkflows.testkube.io/v1\n"
        "metadata: {name: assay--kubectl-wait}\n"
        "spec:\n  config:\n    resource: {type: string}\n"
        "  steps:\n    - shell: echo own wait for {{ config.resource }}\n"
    )
    cli("apply", "-f", str(own), check=0)
    path = tmp_path / "wait.yaml"
    path.write_text(
        "kind: TestWorkflow\napiVersion: testworkflows.testkube.io/v1\n"
        "metadata: {name: wait}\nspec:\n  steps:\n"
        "    - template: {name: assay/kubectl-wait, config: {resource: deployment/api}}\n"
    )
    cli("run", "-f", str(path), check=0)
    assert "own wait for deployment/api" in cli("logs", "wait-1", check=0).stdout


def test_kubernetes_dry_run_of_the_templates_is_valid(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "preview.yaml"
    path.write_text(WORKFLOW)
    cli.env["ASSAY_KUBERNETES_IMAGE"] = "busybox:1.36"
    done = cli("run", "-f", str(path), "--runner", "kubernetes", "--dry-run", "-o", "json", check=0)
    objects = json.loads(done.stdout)
    objects = objects if isinstance(objects, list) else objects.get("items", objects)
    validate(objects)
    images = {
        container["image"]
        for item in objects
        if item["kind"] == "Job"
        for key in ("initContainers", "containers")
        for container in item["spec"]["template"]["spec"].get(key, [])
    }
    assert "bitnami/kubectl:1.31" in images
