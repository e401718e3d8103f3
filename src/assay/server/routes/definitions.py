"""``/v1/test-workflows``, ``/v1/test-workflow-templates`` and the legacy ``/v1/tests``,
``/v1/test-suites``: list, get, create or replace (apply), delete.

A definition is answered as its stored document (``apiVersion``, ``kind``, ``metadata``,
``spec``) with Testkube's flat ``name``, ``labels``, ``created`` and ``updated`` beside it.
A body may be that same document (JSON, or YAML with a YAML content type) or Testkube's
flat form (``name``, ``labels``, ``spec``); the keys added in answers are ignored.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from assay.app import Assay
from assay.errors import DefinitionError
from assay.server.deps import Admin, App, Reader
from assay.server.errors import ERROR_RESPONSES
from assay.store.tables import WorkflowRow

__all__ = ["KIND_PATHS", "routers"]

KIND_PATHS = {
    "TestWorkflow": ("test-workflows", "testworkflows.testkube.io/v1"),
    "TestWorkflowTemplate": ("test-workflow-templates", "testworkflows.testkube.io/v1"),
    "Test": ("tests", "tests.testkube.io/v3"),
    "TestSuite": ("test-suites", "tests.testkube.io/v3"),
}
"""Path and apiVersion of each kind."""

_ANSWER_ONLY = ("name", "namespace", "labels", "annotations", "created", "updated", "source")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/yaml": {"schema": {"type": "string"}},
        },
    }
}


def definition_json(row: WorkflowRow) -> dict[str, Any]:
    """A stored definition as answered."""
    return {
        **row.definition,
        "name": row.name,
        "labels": row.labels or {},
        "created": row.created_at.isoformat(),
        "updated": row.updated_at.isoformat(),
    }


def _document(data: Any, kind: str) -> dict[str, Any]:
    """The definition document of a JSON body (a document, or Testkube's flat form)."""
    if not isinstance(data, dict):
        raise DefinitionError(f"body: expected a {kind} object, got {type(data).__name__}")
    if "metadata" in data or "apiVersion" in data or "kind" in data:
        return {key: value for key, value in data.items() if key not in _ANSWER_ONLY}
    metadata = {
        key: data[key] for key in ("name", "namespace", "labels", "annotations") if key in data
    }
    flat = {key: value for key, value in data.items() if key not in _ANSWER_ONLY}
    return {"apiVersion": KIND_PATHS[kind][1], "kind": kind, "metadata": metadata, **flat}


async def _body_text(request: Request, kind: str) -> str:
    """The body as YAML text for the loader (JSON documents are YAML too)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"body: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in _YAML_TYPES:
        return text
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(f"body: not JSON ({exc}); send YAML as text/yaml") from None
    return json.dumps(_document(data, kind))


def _apply(assay: Assay, text: str, kind: str, name: str | None) -> list[dict[str, Any]]:
    applied = assay.apply_text(text, source="body", kind=kind, name=name)
    return [definition_json(assay.definitions.row(k, n)) for k, n in applied]


def _router(kind: str) -> APIRouter:
    path, _version = KIND_PATHS[kind]
    router = APIRouter(prefix=f"/v1/{path}", tags=[path], responses=ERROR_RESPONSES)

    @router.get("", summary=f"List {kind} definitions")
    def list_definitions(assay: App, _caller: Reader) -> list[dict[str, Any]]:
        return [definition_json(row) for row in assay.definitions.all(kind)]

    @router.get("/{name}", summary=f"Get a {kind}")
    def get_definition(name: str, assay: App, _caller: Reader) -> dict[str, Any]:
        return definition_json(assay.definitions.row(kind, name))

    @router.post("", summary=f"Create or replace {kind} definitions", openapi_extra=_BODY)
    async def apply_definitions(
        request: Request, assay: App, _caller: Admin
    ) -> list[dict[str, Any]]:
        text = await _body_text(request, kind)
        return await run_in_threadpool(_apply, assay, text, kind, None)

    @router.put("/{name}", summary=f"Replace a {kind}", openapi_extra=_BODY)
    async def replace_definition(
        name: str, request: Request, assay: App, _caller: Admin
    ) -> dict[str, Any]:
        text = await _body_text(request, kind)
        return (await run_in_threadpool(_apply, assay, text, kind, name))[0]

    @router.delete("/{name}", status_code=204, summary=f"Delete a {kind}")
    def delete_definition(name: str, assay: App, _caller: Admin) -> None:
        assay.delete_definition(kind, name)

    return router


def routers() -> list[APIRouter]:
    """A router for each kind."""
    return [_router(kind) for kind in KIND_PATHS]
