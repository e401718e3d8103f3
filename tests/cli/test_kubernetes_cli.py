"""`assay run --runner kubernetes --dry-run` and `assay install kubernetes`, as a user runs
them: the real console script, no cluster."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import yaml
from cli_support import Cli

from seed_support import SEED_TESTS

SECRET_FREE_WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: hello}
spec:
  config:
    token: {type: string, sensitive: true}
  container: {image: busybox}
  steps:
  - shell: echo {{ config.token }}
"""


def validate(objects: list[dict[str, object]]) -> None:
    for item in objects:
        for version in ("1.31.0", kubernetes_validate.latest_version()):
            kubernetes_validate.validate(item, version, strict=True)


def test_dry_run_of_seed_000_prints_a_valid_job_and_records_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    definitions = tmp_path / "backend-e2e.yaml"
    definitions.write_text(SEED_TESTS)
    done = cli(
        "run", "backend-auth-e2e", "-f", str(definitions), "--runner", "kubernetes",
        "--dry-run", "-o", "yaml", "--namespace", "testkube", check=0,
    )  # fmt: skip
    objects = list(yaml.safe_load_all(done.stdout))
    assert [o["kind"] for o in objects] == ["ConfigMap", "Job"]
    validate(objects)
    job = objects[1]
    assert job["metadata"]["name"] == "backend-auth-e2e-dry-run"
    assert job["metadata"]["namespace"] == "testkube"
    steps = job["spec"]["template"]["spec"]["initContainers"]
    assert {c["image"] for c in steps[1:]} == {"ghcr.io/astral-sh/uv:python3.13-bookworm-slim"}
    env = {v["name"]: v for v in steps[-1]["env"]}
    assert env["SUPABASE_SERVICE_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "testkube-secrets",
        "key": "supabase-service-key",
    }
    assert env["TEST_MODE"]["value"] == "true"
    assert cli.json("get", "executions") == []
    # an applied definition renders by name alike
    cli("apply", "-f", str(definitions), check=0)
    by_name = cli("run", "backend-auth-e2e", "--runner", "kubernetes", "--dry-run", check=0)
    applied = list(yaml.safe_load_all(by_name.stdout))
    assert applied[1]["metadata"]["namespace"] == "assay"
    assert applied[1]["spec"] == {**job["spec"], "template": applied[1]["spec"]["template"]}
    assert len(applied[1]["spec"]["template"]["spec"]["initContainers"]) == len(steps)
    assert cli.json("get", "executions") == []


def test_dry_run_masks_sensitive_config_and_prints_json(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text(SECRET_FREE_WORKFLOW)
    done = cli(
        "run", "-f", str(path), "--runner", "kubernetes", "--dry-run", "-o", "json",
        "--config", "token=tok-9a8b7c6d5e", check=0,
    )  # fmt: skip
    assert "tok-9a8b7c6d5e" not in done.stdout + done.stderr
    listing = json.loads(done.stdout)
    assert listing["kind"] == "List" and listing["items"][1]["kind"] == "Job"
    assert (
        "echo ***"
        in listing["items"][1]["spec"]["template"]["spec"]["initContainers"][0]["args"][-1]
    )


def test_kubernetes_runner_needs_a_cluster_and_dry_run_needs_the_runner(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text(SECRET_FREE_WORKFLOW)
    cli.env["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")
    alone = cli("run", "-f", str(path), "--runner", "kubernetes", "-c", "token=x", check=3)
    assert "no kubeconfig" in alone.stderr and "no-kubeconfig" in alone.stderr
    assert "Traceback" not in alone.stderr and len(alone.stderr.strip().splitlines()) == 1
    local = cli("run", "-f", str(path), "--dry-run", "-c", "token=x", check=2)
    assert "--runner kubernetes" in local.stderr
    yaml_run = cli("run", "-f", str(path), "-o", "yaml", "-c", "token=x", check=2)
    assert "only with --dry-run" in yaml_run.stderr
    missing = cli("run", "-f", str(path), "--runner", "kubernetes", "--dry-run", check=2)
    assert "config.token is required" in missing.stderr
    assert cli.json("get", "executions") == []


def test_install_prints_valid_manifests(cli: Cli) -> None:
    done = cli("install", "kubernetes", "--namespace", "qa", "--database-url-secret", "db", check=0)
    objects = list(yaml.safe_load_all(done.stdout))
    validate(objects)
    assert all(o["metadata"].get("namespace") in (None, "qa") for o in objects)
    assert "Role" in {o["kind"] for o in objects}
    refused = cli("install", "kubernetes", check=2)
    assert "--database-url-secret" in refused.stderr and "Traceback" not in refused.stderr


def test_steps_without_an_image_take_assay_kubernetes_image(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(SECRET_FREE_WORKFLOW.replace("  container: {image: busybox}\n", ""))
    args = ("run", "-f", str(path), "--runner", "kubernetes", "--dry-run", "-c", "token=x")
    assert "ASSAY_KUBERNETES_IMAGE" in cli(*args, check=2).stderr
    cli.env["ASSAY_KUBERNETES_IMAGE"] = "python:3.12-slim"
    job = list(yaml.safe_load_all(cli(*args, check=0).stdout))[-1]
    (step,) = job["spec"]["template"]["spec"]["initContainers"]
    assert step["image"] == "python:3.12-slim"
