"""Before a run: a workflow that works in ``/data/repo`` must have something there.

``/data/repo`` is where ``content.git`` checks out and where ``--source DIR`` is
mounted. A working directory in it, with neither, and no step that could create it
(a command, script or inline file naming ``/data/repo``), is bad input: the run is
refused before anything is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay.errors import DefinitionError
from assay.spec.workflow import TestWorkflow

__all__ = ["check_repo"]

REPO = "/data/repo"
_IN_REPO = re.compile(r"^/data/repo(?:/|$)")


def check_repo(workflow: TestWorkflow, source: Path | None) -> None:
    """Raise :class:`DefinitionError` when a working directory is in an empty ``/data/repo``."""
    if source is not None:
        return
    tree = workflow.model_dump(by_alias=True, exclude_none=True)
    fields = list(_fields("spec", tree.get("spec", {})))
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
