"""Before a run: paths a workflow relies on, checked before anything is recorded.

``/data/repo`` is where ``content.git`` checks out and where ``--source DIR`` is
mounted. A working directory in it, with neither, and no step that could create it
(a command, script or inline file naming ``/data/repo``), is bad input. So is content
written outside ``/data`` (a ``content.files`` path or ``content.git.mountPath`` that is
absolute elsewhere or climbs out with ``..``); links are judged when the content is
written (:meth:`assay.engine.workspace.Workspace.resolve_inside`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay.errors import DefinitionError
from assay.spec.workflow import TestWorkflow

__all__ = ["check_paths"]

REPO = "/data/repo"
_IN_REPO = re.compile(r"^/data/repo(?:/|$)")
_CONTENT_PATH = re.compile(r"\.content\.(?:files\[\d+\]\.path|git\.mountPath)$")


def check_paths(workflow: TestWorkflow, source: Path | None) -> None:
    """Raise :class:`DefinitionError` for content written outside ``/data``, or a working
    directory in a ``/data/repo`` nothing fills."""
    tree = workflow.model_dump(by_alias=True, exclude_none=True)
    fields = list(_fields("spec", tree.get("spec", {})))
    _check_content_paths(fields)
    if source is None:
        _check_repo(fields)


def _check_repo(fields: list[tuple[str, str, Any]]) -> None:
    if any(key == "git" for _, key, _ in fields):
        return
    creators = ("shell", "command", "args", "path")
    if any(key in creators and REPO in str(value) for _, key, value in fields):
        return
    for where, key, value in fields:
        if key == "workingDir" and isinstance(value, str) and _IN_REPO.match(value):
            raise DefinitionError(
                f"{where}: {value} will not exist: {REPO} holds `content.git` or the "
                "`--source` checkout, and this run has neither; pass --source DIR or add "
                "content.git"
            )


def _check_content_paths(fields: list[tuple[str, str, Any]]) -> None:
    for where, _key, value in fields:
        if not _CONTENT_PATH.search(where):  # a probe's httpGet.path, a volumeMount...
            continue
        if isinstance(value, str) and _outside_data(value):
            raise DefinitionError(
                f"{where}: {value} is outside /data: content is written only into the "
                "execution's workspace"
            )


def _outside_data(path: str) -> bool:
    if "{{" in path:
        return False  # judged when written, once rendered
    full = posixpath.normpath(posixpath.join("/data", path))
    return full != "/data" and not full.startswith("/data/")


def _fields(where: str, node: Any) -> Iterator[tuple[str, str, Any]]:
    """(field path, key, value) of every field under ``node``, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}"
            yield path, str(key), value
            yield from _fields(path, value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _fields(f"{where}[{index}]", value)
