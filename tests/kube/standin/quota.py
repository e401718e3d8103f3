"""The stand-in's ResourceQuota admission: object counts, as the API server's ``ResourceQuota``
plugin enforces them on every create (a client's or a controller's).

A ResourceQuota's ``spec.hard`` may name the object counts of :data:`COUNTED`; a create that
would take a count past its limit is refused with the API server's answer: ``403 Forbidden``,
``<resource> "<name>" is forbidden: exceeded quota: <quota>, requested: <r>=1, used: <r>=<n>,
limited: <r>=<limit>``. Pods in a terminal phase do not count (as in the API server). Compute
resources (``requests.cpu``...) are refused when the quota is created: not enforced here.
``status`` (``hard``/``used``, the quota controller's) is not kept.
"""

from __future__ import annotations

from typing import Any

from standin.api import ApiError, Store

__all__ = ["COUNTED", "admit", "check_quota"]

COUNTED = {
    "pods": "Pod",
    "count/pods": "Pod",
    "configmaps": "ConfigMap",
    "count/configmaps": "ConfigMap",
    "secrets": "Secret",
    "count/secrets": "Secret",
    "count/jobs.batch": "Job",
}
"""Quota resource name -> the kind whose objects it counts."""
_RESOURCE = {"Pod": ("pods", ""), "ConfigMap": ("configmaps", ""), "Secret": ("secrets", "")}
_RESOURCE["Job"] = ("jobs", "batch")
_TERMINAL = ("Succeeded", "Failed")


def check_quota(body: dict[str, Any]) -> None:
    """Refuse a ResourceQuota naming what the stand-in does not enforce."""
    for resource, limit in body.get("spec", {}).get("hard", {}).items():
        if resource not in COUNTED:
            raise ApiError(400, "BadRequest", f"quota {resource}: not enforced by the stand-in")
        if not str(limit).isdigit():
            raise ApiError(400, "BadRequest", f"quota {resource}={limit}: not a whole count")


def _counts(kind: str, item: dict[str, Any]) -> bool:
    return kind != "Pod" or (item.get("status") or {}).get("phase") not in _TERMINAL


def admit(store: Store, kind: str, namespace: str, body: dict[str, Any]) -> None:
    """Refuse creating ``body`` (a ``kind`` in ``namespace``) past a quota; ``store`` locked."""
    if kind == "ResourceQuota":
        check_quota(body)
        return
    for (quota_kind, where, quota), item in sorted(store.objects.items()):
        if quota_kind != "ResourceQuota" or where != namespace:
            continue
        over: dict[str, tuple[int, str]] = {}
        for resource, limit in item["spec"].get("hard", {}).items():
            if COUNTED[resource] != kind:
                continue
            used = sum(
                1
                for (k, ns, _), other in store.objects.items()
                if k == kind and ns == namespace and _counts(kind, other)
            )
            if used + 1 > int(limit):
                over[resource] = (used, str(limit))
        if over:
            plural, group = _RESOURCE[kind]
            name = body["metadata"]["name"]

            def listed(values: dict[str, Any]) -> str:
                return ",".join(f"{key}={values[key]}" for key in sorted(values))

            raise ApiError(
                403,
                "Forbidden",
                f'{plural}{"." + group if group else ""} "{name}" is forbidden: exceeded quota: '
                f"{quota}, requested: {listed(dict.fromkeys(over, 1))}, used: "
                f"{listed({r: u for r, (u, _) in over.items()})}, limited: "
                f"{listed({r: limit for r, (_, limit) in over.items()})}",
                {"name": name, "kind": plural, **({"group": group} if group else {})},
            )
