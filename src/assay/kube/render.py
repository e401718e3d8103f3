"""The Kubernetes objects of one execution, made from its :class:`~assay.kube.plan.Plan`.

In creation order: Secrets (literal git credentials), one ConfigMap per Job (the entry script,
``content.files``), a headless Service and Pods per ``services`` entry, a Job per ``parallel``
worker, then the execution's Job. Every object carries ``assay.io/execution`` and
``assay.io/workflow`` labels (and ``assay.io/step`` when it belongs to a step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from assay.engine.masking import Masker
from assay.errors import DefinitionError
from assay.kube.model import DATA, ENTRY, HELPER_SECURITY, Plan, PlanOptions, PodPlan, PodStep
from assay.kube.names import EXECUTION_LABEL, ExecutionIdentity, label_value
from assay.kube.plan import make_plan
from assay.kube.signals import POD_INFO, POD_INFO_VOLUME, pod_info_volume
from assay.spec.workflow import Execute, TestWorkflow

__all__ = [
    "LOGS_ANNOTATION",
    "POD_FIELDS",
    "READY_TIMEOUT_ANNOTATION",
    "SERVICE_ANNOTATION",
    "SERVICE_INDEX_LABEL",
    "Rendered",
    "entry_script",
    "render_plan",
    "render_workflow",
]

POD_FIELDS = frozenset(
    {
        "activeDeadlineSeconds",
        "affinity",
        "automountServiceAccountToken",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "hostAliases",
        "imagePullSecrets",
        "nodeName",
        "nodeSelector",
        "preemptionPolicy",
        "priority",
        "priorityClassName",
        "resourceClaims",
        "runtimeClassName",
        "schedulerName",
        "schedulingGates",
        "securityContext",
        "serviceAccountName",
        "terminationGracePeriodSeconds",
        "tolerations",
        "topologySpreadConstraints",
        "volumes",
    }
)
"""``pod`` settings passed on to the Pod spec (host namespaces are never)."""
SERVICE_LABEL = "assay.io/service"
SERVICE_INDEX_LABEL = "assay.io/service-index"
SERVICE_ANNOTATION = "assay.io/service"
"""On a service's Pod: the ``services`` entry's name, as written (labels may shorten it)."""
READY_TIMEOUT_ANNOTATION = "assay.io/ready-timeout"
"""On a service's Pod: seconds within which it must be Ready (its ``timeout``)."""
LOGS_ANNOTATION = "assay.io/logs"
"""On a service's Pod: ``never`` when no log artifact is kept (``logs: never``)."""
WORKER_LABEL = "assay.io/worker"
CONFIGMAP_LIMIT = 1024 * 1024
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_RESERVED_VOLUMES = ("assay", "assay-data", POD_INFO_VOLUME)
_RESULT_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}


def entry_script() -> str:
    """The text of ``entry.sh``, which every container runs."""
    return resources.files("assay.kube").joinpath("entry.sh").read_text(encoding="utf-8")


@dataclass
class Rendered:
    """The objects of an execution, and what must never be printed from them."""

    objects: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    executes: dict[str, Execute] = field(default_factory=dict)
    """``execute`` steps by the ref the main Pod waits on (:attr:`Plan.executes`)."""

    def masked(self) -> list[dict[str, Any]]:
        """The objects with sensitive values (and their encodings) as ``***``."""
        masker = Masker()
        for value in self.sensitive:
            masker.add(value)
        return [_mask(item, masker) for item in self.objects]


def render_workflow(
    workflow: TestWorkflow,
    identity: ExecutionIdentity,
    config: Mapping[str, Any],
    options: PlanOptions | None = None,
) -> Rendered:
    """Plan and render an execution of ``workflow``; bad input raises DefinitionError."""
    options = options or PlanOptions()
    job = workflow.spec.job
    if job is not None and job.namespace:
        options = replace(options, namespace=job.namespace)
    return render_plan(make_plan(workflow, identity, config, options))


def render_plan(plan: Plan) -> Rendered:
    objects: list[dict[str, Any]] = []
    for name, data in plan.credentials.items():
        objects.append(_secret(plan, name, data))
    for pod in plan.pods():
        objects.append(_config_map(plan, pod))
    objects.extend(_services(plan))
    for pod in plan.pods():
        objects.append(_job(plan, pod))
    return Rendered(objects, list(plan.notes), list(plan.sensitive), dict(plan.executes))


def _metadata(
    plan: Plan, name: str, step: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, Any]:
    labels = {**(extra or {}), **plan.identity.labels(step)}
    return {"name": name, "namespace": plan.options.namespace, "labels": labels}


def _secret(plan: Plan, name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(plan, name),
        "type": "Opaque",
        "stringData": dict(data),
    }


def _config_map_name(pod: PodPlan) -> str:
    return f"{pod.name}-assay"


def _config_map(plan: Plan, pod: PodPlan) -> dict[str, Any]:
    data = {"entry.sh": entry_script()}
    listings: dict[str, list[str]] = {}
    for item in pod.files:
        if item.text is not None:
            data[item.key] = item.text
        if item in pod.copied_files:
            mode = "-" if item.mode is None else f"{item.mode:o}"
            listings.setdefault(item.listing, []).append(f"files/{item.key} {mode} {item.path}")
    data.update({name: "\n".join(lines) + "\n" for name, lines in listings.items()})
    size = sum(len(key) + len(value.encode()) for key, value in data.items())
    if size > CONFIGMAP_LIMIT:
        raise DefinitionError(
            f"content.files: {size} bytes; a ConfigMap holds at most {CONFIGMAP_LIMIT} bytes"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(plan, _config_map_name(pod), pod.step_ref),
        "data": data,
    }


def _split_pod(
    settings: Mapping[str, Any], where: str
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """``pod`` settings -> (labels, annotations, Pod spec fields), unknown fields refused."""
    unknown = sorted(set(settings) - POD_FIELDS - {"labels", "annotations"})
    if unknown:
        raise DefinitionError(
            f"{where}.{unknown[0]}: not a Pod setting the Kubernetes runner passes on "
            f"(known: labels, annotations, {', '.join(sorted(POD_FIELDS))})"
        )
    spec = {key: value for key, value in settings.items() if key in POD_FIELDS}
    for volume in spec.get("volumes", []):
        if volume.get("name") in _RESERVED_VOLUMES:
            raise DefinitionError(f"{where}.volumes: the name {volume['name']!r} is assay's own")
    return dict(settings.get("labels", {})), dict(settings.get("annotations", {})), spec


def _mounts(step_mounts: Sequence[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "assay-data", "mountPath": DATA},
        {"name": "assay", "mountPath": "/.assay", "readOnly": True},
        {"name": POD_INFO_VOLUME, "mountPath": POD_INFO, "readOnly": True},
    ]
    by_path: dict[str, dict[str, Any]] = {}  # a step's mount replaces an inherited one
    for mount in step_mounts:
        path = str(mount.get("mountPath", ""))
        if path in (DATA, "/.assay", POD_INFO) or path.startswith(("/.assay/", f"{POD_INFO}/")):
            raise DefinitionError(f"{where}: volumeMounts: {path} is assay's own")
        by_path.pop(path, None)
        by_path[path] = dict(mount)
    return [*mounts, *by_path.values()]


def _step_container(step: PodStep, file_mounts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    where = f"step {step.name!r}"
    settings = step.settings
    container: dict[str, Any] = {
        "name": step.container_name,
        "image": step.image,
        "command": ["/bin/sh", ENTRY],
        "args": step.entry_args(),
    }
    if settings.pull_policy is not None:
        if settings.pull_policy not in _PULL_POLICIES:
            raise DefinitionError(
                f"{where}: imagePullPolicy {settings.pull_policy!r} is not one of "
                f"{', '.join(_PULL_POLICIES)}"
            )
        container["imagePullPolicy"] = settings.pull_policy
    if step.env:
        container["env"] = step.env
    if settings.env_from:
        container["envFrom"] = list(settings.env_from)
    if settings.resources:
        container["resources"] = settings.resources
    if settings.security:
        container["securityContext"] = settings.security
    container["volumeMounts"] = _mounts([*file_mounts, *settings.mounts], where)
    return container


def _result_container(pod: PodPlan) -> dict[str, Any]:
    last = pod.steps[-1]
    container: dict[str, Any] = {
        "name": "result",
        "image": last.image,
        "command": ["/bin/sh", ENTRY],
        "args": ["finish", *(step.ref for step in pod.steps)],
        "resources": _RESULT_RESOURCES,
        "volumeMounts": _mounts([], "result"),
        "securityContext": last.settings.security or HELPER_SECURITY,
    }
    return container


def _projection(pod: PodPlan) -> dict[str, Any]:
    items = [{"key": "entry.sh", "path": "entry.sh"}]
    items.extend(
        {"key": name, "path": name} for name in sorted({f.listing for f in pod.copied_files})
    )
    for item in pod.files:
        if item.text is not None:
            entry: dict[str, Any] = {"key": item.key, "path": f"files/{item.key}"}
            if item.mode is not None:
                entry["mode"] = item.mode
            items.append(entry)
    sources: list[dict[str, Any]] = [{"configMap": {"name": _config_map_name(pod), "items": items}}]
    sources.extend(item.source for item in pod.files if item.source is not None)
    return {"sources": sources}


def _job(plan: Plan, pod: PodPlan) -> dict[str, Any]:
    where = "spec.pod" if pod.worker is None else f"parallel {pod.step_ref}: pod"
    labels, annotations, spec_fields = _split_pod(pod.pod, where)
    own = plan.identity.labels(pod.step_ref)
    if pod.worker is not None:
        own[WORKER_LABEL] = str(pod.worker)
    steps = [
        {"ref": step.ref, "name": step.name, "container": step.container_name} for step in pod.steps
    ]
    user_volumes = list(spec_fields.pop("volumes", []))
    pod_spec = {
        **spec_fields,
        "restartPolicy": "Never",
        "initContainers": [_step_container(step, pod.file_mounts) for step in pod.steps],
        "containers": [_result_container(pod)],
        "volumes": [
            {"name": "assay-data", "emptyDir": {}},
            {"name": "assay", "projected": _projection(pod)},
            pod_info_volume(),
            *user_volumes,
        ],
    }
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {
            "metadata": {
                "labels": {**labels, **own},
                "annotations": {**annotations, "assay.io/steps": json.dumps(steps)},
            },
            "spec": pod_spec,
        },
    }
    if pod.deadline:
        always = sum(step.condition == "always" and not step.content for step in pod.steps)
        job_spec["activeDeadlineSeconds"] = pod.deadline + plan.options.cleanup_grace * always + 30
    metadata = _metadata(plan, pod.name, pod.step_ref, pod.job_labels)
    metadata["labels"].update(own)
    if pod.job_annotations:
        metadata["annotations"] = dict(pod.job_annotations)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


def _services(plan: Plan) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    seen: set[str] = set()
    for service in plan.services:
        selector = {
            EXECUTION_LABEL: label_value(plan.identity.id),
            SERVICE_LABEL: label_value(service.name),
        }
        if service.service_name not in seen:
            seen.add(service.service_name)
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": _metadata(plan, service.service_name, service.step_ref),
                    "spec": {"clusterIP": "None", "selector": selector},
                }
            )
        where = f"services.{service.name}"
        labels, annotations, spec_fields = _split_pod(service.pod, f"{where}.pod")
        settings = service.settings
        container = dict(service.container)
        if settings.pull_policy is not None:
            container["imagePullPolicy"] = settings.pull_policy
        if settings.env_from:
            container["envFrom"] = list(settings.env_from)
        if settings.resources:
            container["resources"] = settings.resources
        if settings.security:
            container["securityContext"] = settings.security
        if service.readiness_probe:
            container["readinessProbe"] = service.readiness_probe
        if settings.mounts:
            container["volumeMounts"] = [dict(mount) for mount in settings.mounts]
        metadata = _metadata(plan, service.pod_name, service.step_ref, labels)
        metadata["labels"].update({**selector, SERVICE_INDEX_LABEL: str(service.index)})
        own = {SERVICE_ANNOTATION: service.name}
        if service.timeout is not None:
            own[READY_TIMEOUT_ANNOTATION] = str(service.timeout)
        if not service.keep_logs:
            own[LOGS_ANNOTATION] = "never"
        metadata["annotations"] = {**annotations, **own}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": metadata,
                "spec": {
                    **spec_fields,
                    "hostname": service.hostname,
                    "subdomain": service.service_name,
                    "restartPolicy": service.restart_policy,
                    "containers": [container],
                },
            }
        )
    return objects


def _mask(value: Any, masker: Masker) -> Any:
    """``value`` with every string masked, at any depth."""
    if isinstance(value, str):
        return masker(value)
    if isinstance(value, dict):
        return {key: _mask(item, masker) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, masker) for item in value]
    return value
