"""PATCH of Pods, as the API server answers it for the part the runner uses: a JSON merge
patch (``application/merge-patch+json``, RFC 7386) or a strategic merge patch
(``application/strategic-merge-patch+json``; without ``$`` directives, where it merges maps as
a merge patch does) of ``metadata.labels`` and ``metadata.annotations``.

The patched Pod is checked as the API server's Pod update validation does for those fields:
label and annotation keys are qualified names (an optional DNS-subdomain prefix and ``/``,
then at most 63 characters of ``[-A-Za-z0-9_.]`` starting and ending alphanumeric),
annotations at most 256 KiB in all, the metadata valid against the official ObjectMeta
schema; the Pod's spec and identity are immutable here (``pod updates may not change fields
other than ...``), its status is the stored one (a patch of the main resource never sets it).
A ``metadata.resourceVersion`` in the patch is a precondition (409 when stale).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from standin.api import ApiError, validate

__all__ = ["PATCH_TYPES", "merge_patch", "patched_pod"]

PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
ANNOTATIONS_LIMIT = 256 * 1024
"""Bytes of all annotations' keys and values (the API server's TotalAnnotationSizeLimitB)."""
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_PREFIX = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_MUTABLE_METADATA = frozenset({"labels", "annotations", "resourceVersion"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``patch`` applied to ``target`` (a null removes a key; lists are replaced)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def qualified_name(key: str) -> bool:
    """A label or annotation key: ``[prefix/]name``."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not _PREFIX.fullmatch(prefix):
        return False
    return bool(_NAME.fullmatch(name))


def patched_pod(stored: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The Pod ``stored`` with ``patch`` applied, validated; an :class:`ApiError` if refused."""
    name = stored["metadata"]["name"]
    if content_type not in PATCH_TYPES:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({content_type or 'none'}) - "
            f"accepted media types include: {', '.join(PATCH_TYPES)}",
        )
    if not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", "the patch is not a JSON object")
    if content_type.startswith("application/strategic") and _directive(patch):
        raise ApiError(422, "Invalid", "strategic merge directives: not served by the stand-in")
    meta = patch.get("metadata") or {}
    wanted = meta.get("resourceVersion")
    if wanted is not None and wanted != stored["metadata"]["resourceVersion"]:
        raise ApiError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on pods "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
        )
    body: dict[str, Any] = merge_patch(stored, patch)
    if body.get("spec") != stored.get("spec") or any(
        body.get(key) != stored.get(key) for key in ("apiVersion", "kind")
    ):
        raise ApiError(
            422,
            "Invalid",
            f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not change fields '
            "other than `spec.containers[*].image`, `spec.initContainers[*].image`, "
            "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
            "tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
            "it was previously negative)",
        )
    for key in set(body["metadata"]) | set(stored["metadata"]):
        if key not in _MUTABLE_METADATA and body["metadata"].get(key) != stored["metadata"].get(
            key
        ):
            raise ApiError(
                422,
                "Invalid",
                f'Pod "{name}" is invalid: metadata.{key}: Invalid value: field is immutable',
            )
    _check_metadata(body["metadata"], name)
    body["status"] = copy.deepcopy(stored.get("status"))
    if body["status"] is None:
        body.pop("status")
    return body


def _check_metadata(meta: dict[str, Any], name: str) -> None:
    try:
        validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
    except ApiError as exc:
        raise ApiError(422, "Invalid", exc.message.replace("ConfigMap", "Pod", 1)) from None
    for field in ("labels", "annotations"):
        for key in meta.get(field) or {}:
            if not qualified_name(key):
                raise ApiError(
                    422,
                    "Invalid",
                    f'Pod "{name}" is invalid: metadata.{field}: Invalid value: "{key}": name '
                    "part must consist of alphanumeric characters, '-', '_' or '.', and must "
                    "start and end with an alphanumeric character",
                )
    size = sum(len(k) + len(str(v)) for k, v in (meta.get("annotations") or {}).items())
    if size > ANNOTATIONS_LIMIT:
        raise ApiError(
            422,
            "Invalid",
            f'Pod "{name}" is invalid: metadata.annotations: Too long: must have at most '
            f"{ANNOTATIONS_LIMIT} bytes",
        )


def _directive(value: Any) -> bool:
    """Whether a strategic merge patch holds a ``$`` directive anywhere."""
    if isinstance(value, dict):
        return any(str(key).startswith("$") or _directive(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_directive(item) for item in value)
    return False
