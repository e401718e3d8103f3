"""``content`` in a Pod: git check-out settings, files from the ConfigMap or references."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from assay.errors import DefinitionError, ExpressionError
from assay.kube.model import DATA, FilePlan, Plan, PodPlan, under_data
from assay.kube.values import KubeEnv
from assay.spec.expressions import render
from assay.spec.workflow import ContentFile, EnvVar, EnvVarSource, GitContent, SecretKeyRef

__all__ = ["add_file", "git_env"]


def git_env(git: GitContent, env: KubeEnv, plan: Plan, secret_name: str) -> KubeEnv:
    """The ``ASSAY_GIT_*`` variables of ``entry.sh clone``; literal credentials go into the
    Secret ``secret_name`` that the runner creates (recorded in ``plan``)."""
    dest = posixpath.normpath(env.text(git.mount_path or f"{DATA}/repo"))
    if not under_data(dest):
        raise DefinitionError(f"content.git.mountPath {dest!r}: must lie under {DATA}")
    if git.ssh_key or git.ssh_key_from:
        raise DefinitionError(
            "content.git.sshKey: the Kubernetes runner clones over HTTPS only for now"
        )
    variables = [
        EnvVar(name="ASSAY_GIT_URI", value=git.uri),
        EnvVar(name="ASSAY_GIT_DEST", value=dest),
    ]
    if git.revision:
        variables.append(EnvVar(name="ASSAY_GIT_REVISION", value=git.revision))
    if git.paths:
        variables.append(EnvVar(name="ASSAY_GIT_PATHS", value="\n".join(git.paths)))
        variables.append(EnvVar(name="ASSAY_GIT_CONE", value=str(git.cone).lower()))
    result = KubeEnv(env.context, variables)
    for key, value, source in (
        ("username", git.username, git.username_from),
        ("token", git.token, git.token_from),
    ):
        if source is None and value is not None:
            literal = KubeEnv(env.context).text(value).replace("$$(", "$(")
            plan.credentials.setdefault(secret_name, {})[key] = literal
            if key == "token":
                plan.sensitive.append(literal)
            source = EnvVarSource(secret_key_ref=SecretKeyRef(name=secret_name, key=key))
        if source is not None:
            result.add(EnvVar(name=f"ASSAY_GIT_{key.upper()}", value_from=source))
    return result


def add_file(pod: PodPlan, item: ContentFile, env: KubeEnv, listing: str) -> None:
    """One ``content.files`` entry: its text in the ConfigMap (or a Secret/ConfigMap item
    projected), copied under /data by ``entry.sh files``, mounted read-only elsewhere."""
    key = f"file-{len(pod.files)}"
    target = posixpath.normpath(env.text(item.path))
    where = f"content.files {item.path!r}"
    if not target.startswith("/") or "\n" in target:
        raise DefinitionError(f"{where}: the path must be absolute, on one line")
    projected: dict[str, Any] | None = None
    text: str | None = None
    source = item.content_from
    if source is not None:
        if source.secret_key_ref is not None:
            kind, name, ref_key = "secret", source.secret_key_ref.name, source.secret_key_ref.key
        elif source.config_map_key_ref is not None:
            reference = source.config_map_key_ref
            kind, name, ref_key = "configMap", reference["name"], reference["key"]
        else:
            raise DefinitionError(f"{where}: contentFrom needs secretKeyRef or configMapKeyRef")
        projection = {"key": ref_key, "path": f"files/{key}"}
        projected = {kind: {"name": name, "items": [projection]}}
    else:
        text = _render_plain(item.content or "", {**env.context, "env": env.literal}, where)
    pod.files.append(FilePlan(key, target, item.mode, listing, text, projected))
    if not under_data(target):
        mount = {"name": "assay", "mountPath": target, "subPath": f"files/{key}"}
        pod.file_mounts.append({**mount, "readOnly": True})


def _render_plain(text: str, context: Mapping[str, Any], where: str) -> str:
    """File content: rendered, but not escaped for Kubernetes (it is never expanded)."""
    try:
        return render(text, dict(context))
    except ExpressionError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
