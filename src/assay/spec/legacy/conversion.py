"""What converting a ``Test`` and a ``TestSuite`` share: the workspace paths, the executors,
the environment, working-directory arithmetic, metadata with the conversion notes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from assay.errors import DefinitionError
from assay.spec.base import SpecModel, parse_duration
from assay.spec.legacy.models import (
    LEGACY_API_VERSION,
    LegacyExecutionRequest,
    LegacyVariable,
    SecretEnvRef,
)
from assay.spec.workflow import Metadata, TestWorkflow

WORKFLOW_API_VERSION = "testworkflows.testkube.io/v1"
DATA_DIR = "/data"
REPO_DIR = "/data/repo"
ARTIFACTS_DIR = "/data/artifacts"
JUNIT_DIR = "/data/artifacts/junit"
CONTENT_FILE = "/data/test-content"
VARIABLES_FILE = "/data/variables-file"
NOTES_ANNOTATION = "assay.dev/conversion-notes"
SOURCE_ANNOTATION = "assay.dev/converted-from"


class _Executor:
    def __init__(self, command: list[str], *, target: bool, junit: bool = False) -> None:
        self.command = command
        self.target = target
        self.junit = junit


EXECUTORS: dict[str, _Executor] = {
    "pytest": _Executor(["pytest"], target=True, junit=True),
    "k6": _Executor(["k6", "run"], target=True),
    "postman": _Executor(["newman", "run"], target=True),
    "cypress": _Executor(["npx", "cypress", "run"], target=False),
    "playwright": _Executor(["npx", "playwright", "test"], target=False),
    "maven": _Executor(["mvn", "test"], target=False),
    "gradle": _Executor(["gradle", "test"], target=False),
    "artillery": _Executor(["artillery", "run"], target=True),
    "jmeter": _Executor(["jmeter", "-n", "-t"], target=True),
    "jmeterd": _Executor(["jmeter", "-n", "-t"], target=True),
    "curl": _Executor(["curl"], target=False),
    "ginkgo": _Executor(["ginkgo"], target=False),
}
_CONTENT_SUFFIX = {"pytest": ".py"}


def _secret_source(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _under(base: str, rel: str | None) -> str:
    if not rel:
        return base
    if rel.startswith("/"):
        return posixpath.normpath(rel)
    return posixpath.normpath(posixpath.join(base, rel))


def _clean(rel: str | None) -> str | None:
    if rel is None:
        return None
    text = rel.strip()
    if text in ("", ".", "./"):
        return None
    if text.startswith("/"):
        return posixpath.normpath(text)
    return posixpath.normpath(text).lstrip("/")


def _looks_like_file(path: str) -> bool:
    last = posixpath.basename(path.rstrip("/"))
    return "." in last.lstrip(".")


def _env_list(pairs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dedupe by name: later entries win, first position kept."""
    merged: dict[str, dict[str, Any]] = {}
    for entry in pairs:
        merged[entry["name"]] = entry
    return list(merged.values())


def _variable_env(
    key: str, variable: LegacyVariable, where: str, notes: list[str]
) -> dict[str, Any]:
    name = variable.name or key
    if variable.secret_ref is not None:
        ref = variable.secret_ref
        return {"name": name, "valueFrom": _secret_source(ref.name, ref.key)}
    if variable.config_map_ref is not None:
        cm = variable.config_map_ref
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": cm.name, "key": cm.key}}}
    source = variable.value_from.dump() if variable.value_from is not None else {}
    if source:
        return {"name": name, "valueFrom": source}
    if variable.type == "secret" and variable.value is None:
        raise DefinitionError(
            f"{where}.variables.{key}: a secret variable needs secretRef {{name, key}}"
        )
    return {"name": name, "value": variable.value or ""}


def _request_env(req: LegacyExecutionRequest, where: str, notes: list[str]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in req.envs.items()]
    for key, variable in req.variables.items():
        env.append(_variable_env(key, variable, where, notes))
    for key, value in req.secret_envs.items():
        if isinstance(value, SecretEnvRef):
            env.append(
                {"name": key, "valueFrom": _secret_source(value.secret_name, value.secret_key)}
            )
        else:
            env.append({"name": value, "valueFrom": _secret_source(key, value)})
    if req.http_proxy:
        env.append({"name": "HTTP_PROXY", "value": req.http_proxy})
    if req.https_proxy:
        env.append({"name": "HTTPS_PROXY", "value": req.https_proxy})
    return _env_list(env)


def _env_from(req: LegacyExecutionRequest, notes: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for refs, kind, field in (
        (req.env_config_maps, "configMapRef", "envConfigMaps"),
        (req.env_secrets, "secretRef", "envSecrets"),
    ):
        for ref in refs:
            name = ref.reference.get("name")
            if ref.map_to_variables and name:
                result.append({kind: {"name": name}})
            if ref.mount:
                notes.append(f"executionRequest.{field}: mounting {name!r} is not supported")
    return result


def _junit_target(args: list[str]) -> str | None:
    """The junit path named in pytest args, if any."""
    for i, arg in enumerate(args):
        for flag in ("--junit-xml", "--junitxml"):
            if arg == flag and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def _seconds(value: int | str | None) -> int | None:
    if value is None:
        return None
    return max(1, int(parse_duration(value) + 0.999))


def _note_unsupported(obj: SpecModel, fields: Iterable[str], prefix: str, notes: list[str]) -> None:
    data = obj.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
    for alias in fields:
        if alias in data:
            notes.append(f"{prefix}.{alias} is not supported and was ignored")


_UNSUPPORTED_REQUEST = (
    "jobTemplate",
    "jobTemplateReference",
    "cronJobTemplate",
    "cronJobTemplateReference",
    "scraperTemplate",
    "scraperTemplateReference",
    "pvcTemplate",
    "pvcTemplateReference",
    "slavePodRequest",
    "uploads",
    "bucketName",
    "contentRequest",
    "sourceScripts",
)


def _metadata(
    meta: Metadata, description: str | None, kind: str, notes: list[str]
) -> dict[str, Any]:
    annotations = dict(meta.annotations)
    annotations[SOURCE_ANNOTATION] = f"{kind}/{LEGACY_API_VERSION}"
    if notes:
        annotations[NOTES_ANNOTATION] = "; ".join(notes)
    out: dict[str, Any] = {
        "name": meta.name,
        "labels": dict(meta.labels),
        "annotations": annotations,
    }
    if meta.namespace:
        out["namespace"] = meta.namespace
    desc = description or meta.description
    if desc:
        out["description"] = desc
    return out


def _validated(data: dict[str, Any], what: str) -> TestWorkflow:
    try:
        return TestWorkflow.model_validate(data)
    except ValidationError as exc:  # pragma: no cover - a conversion bug, not user input
        raise DefinitionError(f"{what}: conversion produced an invalid workflow: {exc}") from exc
