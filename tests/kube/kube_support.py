"""Helpers for the Kubernetes tests: render a workflow, validate objects against the official
OpenAPI schemas, and run a rendered Pod's containers for real on this machine.

:func:`run_pod` plays the kubelet for one Job's Pod: it writes the projected volume (the
ConfigMap's items, Secret items from ``secrets``) into a directory, then runs the init
containers one after the other and the result container, each as a real process with
``/bin/sh``, its env resolved (``secretKeyRef`` from ``secrets``, ``$(VAR)`` expanded as the
kubelet does), ``/data`` and ``/.assay`` mapped to directories. Images are not used: the
commands run with this machine's tools.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from assay.kube.model import PlanOptions
from assay.kube.names import ExecutionIdentity
from assay.kube.render import Rendered, render_workflow
from assay.spec.loader import load_text

SCHEMA_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
"""Kubernetes 1.31 and the newest version whose schemas kubernetes-validate ships."""
IDENTITY = ExecutionIdentity("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "wf-7", 7, "wf")
_EXPANSION = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def render_yaml(
    text: str,
    config: Mapping[str, Any] | None = None,
    *,
    namespace: str = "tests",
) -> Rendered:
    """Load the one runnable definition of ``text`` (templates resolved) and render it as
    execution :data:`IDENTITY` of its workflow (Job :func:`job_name`)."""
    from assay.engine.resolve import Catalog

    loaded = load_text(text, Path("test.yaml"))
    catalog = Catalog(loaded=loaded)
    runnable = [item for item in loaded if item.kind in ("TestWorkflow", "Test", "TestSuite")]
    assert len(runnable) == 1
    workflow = catalog.to_workflow(runnable[0].model)
    name = workflow.metadata.name
    identity = ExecutionIdentity(IDENTITY.id, f"{name}-7", 7, name)
    return render_workflow(workflow, identity, config or {}, PlanOptions(namespace=namespace))


def job_name(workflow_name: str) -> str:
    """The main Job of :func:`render_yaml`'s execution of ``workflow_name``."""
    return ExecutionIdentity(IDENTITY.id, "", 7, workflow_name).job_name


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [item for item in of_kind(objects, kind) if item["metadata"]["name"] == name]
    return found


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(rf"{_DNS_LABEL.pattern}(\.{_DNS_LABEL.pattern})*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")
_LABEL_KEY = re.compile(rf"({_SUBDOMAIN.pattern}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


def validate_strictly(item: dict[str, Any]) -> None:
    """``item`` against the official schema of every version in :data:`SCHEMA_VERSIONS`:
    no unknown field, every required field (raises kubernetes_validate's ValidationError);
    then the formats the schemas leave to the API server: names, labels, keys."""
    plain = json.loads(json.dumps(item))  # what the API server gets: JSON types only
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(plain, version, strict=True)
    check_formats(plain)


def check_formats(item: dict[str, Any]) -> None:
    """What the API server's validation adds to the schema, for the objects assay makes."""
    meta = item["metadata"]
    name = meta["name"]
    assert _SUBDOMAIN.fullmatch(name) and len(name) <= 253, name
    if item["kind"] in ("Service", "Namespace"):
        assert _DNS_1035.fullmatch(name), name
    if item["kind"] == "Job":  # its Pods' `job-name` label and generated names
        assert len(name) <= 63, name
    for key, value in meta.get("labels", {}).items():
        assert _LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value), (key, value)
    if item["kind"] == "ConfigMap":
        assert all(_CONFIG_KEY.fullmatch(key) for key in item["data"]), list(item["data"])
    pod = None
    if item["kind"] == "Pod":
        pod = item["spec"]
    elif item["kind"] in ("Job", "Deployment", "StatefulSet"):
        pod = item["spec"]["template"]["spec"]
        for key, value in item["spec"]["template"]["metadata"].get("labels", {}).items():
            assert _LABEL_KEY.fullmatch(key) and _LABEL_VALUE.fullmatch(value), (key, value)
    if pod is not None:
        containers = [*pod.get("initContainers", []), *pod["containers"]]
        names = [c["name"] for c in containers]
        assert len(set(names)) == len(names), names
        assert all(_DNS_LABEL.fullmatch(n) for n in names), names
        volumes = {v["name"] for v in pod.get("volumes", [])}
        claims = item["spec"].get("volumeClaimTemplates", []) if item["kind"] != "Pod" else []
        volumes |= {claim["metadata"]["name"] for claim in claims}
        for container in containers:
            mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
            assert len(set(mounts)) == len(mounts), mounts
            assert {m["name"] for m in container.get("volumeMounts", [])} <= volumes
            env = [v["name"] for v in container.get("env", [])]
            assert len(set(env)) == len(env), env
        for field in ("hostname", "subdomain"):
            if field in pod:
                assert _DNS_LABEL.fullmatch(pod[field]), pod[field]


@dataclass
class PodRun:
    """What happened to a Pod run by :func:`run_pod`."""

    result: dict[str, Any] | None
    """The result container's JSON line (None if an init container failed)."""
    returncode: int
    """The result container's exit status (or the failing init container's)."""
    logs: dict[str, str]
    """Each container's output (stdout and stderr)."""
    data: Path
    """The Pod's /data."""

    def status(self, ref: str) -> str:
        assert self.result is not None, self.logs
        return str(self.result["steps"][ref]["status"])


def _expand(text: str, env: Mapping[str, str]) -> str:
    def one(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        return env.get(found.group(1), found.group(0))

    return _EXPANSION.sub(one, text)


def run_pod(
    objects: list[dict[str, Any]],
    job_name: str,
    root: Path,
    secrets: Mapping[tuple[str, str], str] | None = None,
    timeout: float = 60,
    data: Path | None = None,
    shell: tuple[str, ...] = ("/bin/sh",),
    pod_info: Path | None = None,
) -> PodRun:
    """Run the Pod of Job ``job_name`` under ``root`` (see the module's doc); each container
    runs entry.sh with ``shell`` (images have dash, busybox ash, bash...); ``pod_info``: the
    file of the Pod's annotations (its downwardAPI volume's)."""
    secrets = secrets or {}
    job = named(objects, "Job", job_name)
    pod = job["spec"]["template"]["spec"]
    data = data or root / "data"
    scripts = root / "assay"
    data.mkdir(parents=True, exist_ok=True)

    def mapped(text: str) -> str:
        return text.replace("/.assay", str(scripts)).replace("/data", str(data))

    (volume,) = [v for v in pod["volumes"] if v["name"] == "assay"]
    for source in volume["projected"]["sources"]:
        if "configMap" in source:
            config_map = named(objects, "ConfigMap", source["configMap"]["name"])
            for item in source["configMap"]["items"]:
                text = config_map["data"][item["key"]]
                listing = item["path"].endswith(".list")  # paths under /data
                _write(scripts / item["path"], mapped(text) if listing else text)
        else:
            secret = source["secret"]
            for item in secret["items"]:
                _write(scripts / item["path"], secrets[(secret["name"], item["key"])])
    logs: dict[str, str] = {}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        env = {"PATH": os.environ["PATH"], "ASSAY_STATE_DIR": str(data / ".assay")}
        if pod_info is not None:
            env["ASSAY_POD_INFO"] = str(pod_info)
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = mapped(_expand(variable["value"], env))
            else:
                reference = variable["valueFrom"]["secretKeyRef"]
                env[variable["name"]] = secrets[(reference["name"], reference["key"])]
        command = [*container["command"], *container["args"]]
        assert command[0] == "/bin/sh"
        argv = [*shell, *(mapped(_expand(part, env)) for part in command[1:])]
        done = subprocess.run(
            argv,
            env=env,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        logs[container["name"]] = done.stdout
        if container in pod["containers"]:
            line = done.stdout.strip().splitlines()[-1]
            return PodRun(json.loads(line), done.returncode, logs, data)
        if done.returncode != 0:
            return PodRun(None, done.returncode, logs, data)
    raise AssertionError("the Pod has no result container")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def workflow(steps: str, *, spec: str = "", name: str = "wf") -> str:
    """A TestWorkflow document: ``spec`` (YAML lines at spec level; a busybox container
    unless it has one) and ``steps``."""
    if not re.search(r"^container:", spec, re.M):
        spec = f"container: {{image: busybox}}\n{spec}"
    return (
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        f"metadata: {{name: {name}}}\nspec:\n{_indent(spec)}  steps:\n{_indent(steps, 2)}"
    )


def _indent(text: str, extra: int = 0) -> str:
    prefix = " " * (2 + extra)
    return "".join(prefix + line + "\n" for line in text.strip("\n").splitlines()) if text else ""


def dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects)
