"""Run requests: what a queued execution records for the worker that will run it.

``executions.request`` holds, as JSON: the resolved workflow (templates applied, legacy
kinds converted, as it was when queued), the config values given with the run (those of
``sensitive`` parameters sealed, :mod:`assay.store.sealing`; defaults are taken from the
workflow again when it runs), the runner asked for (None: the worker's default) and the
stored source archive, if any (``sources/<sha256>.tar.gz`` under ``ASSAY_HOME``, kept for
reruns).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from assay.errors import DefinitionError, InfrastructureError
from assay.faults import os_fault
from assay.spec.workflow import Step, TestWorkflow
from assay.store.sealing import Sealer

__all__ = ["RunRequest", "concurrency_limit", "store_archive", "workflow_json"]

VERSION = 1
_SEALED = "sealed"
_STOP_ON_FAILURE = Step.model_fields["stop_on_failure"].alias or "stop_on_failure"
_SOURCE = re.compile(r"^sources/[0-9a-f]{64}\.tar\.gz$")


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A queued run, as the worker needs it."""

    workflow: TestWorkflow
    config: dict[str, Any]
    """Given values by name: a string, or ``{"sealed": token}`` for a sensitive one."""
    runner: str | None = None
    source: str | None = None
    """The source archive, relative to ``ASSAY_HOME``."""

    @classmethod
    def create(
        cls,
        workflow: TestWorkflow,
        given: Mapping[str, Any],
        sealer: Sealer,
        *,
        runner: str | None = None,
        source: str | None = None,
    ) -> RunRequest:
        """A request for ``workflow`` with the ``given`` config values, the sensitive ones
        sealed (names checked already)."""
        params = workflow.spec.config
        config: dict[str, Any] = {
            name: {_SEALED: sealer.seal(str(value))}
            if name in params and params[name].sensitive
            else str(value)
            for name, value in given.items()
        }
        return cls(workflow, config, runner, source)

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in ``executions.request``."""
        return {
            "version": VERSION,
            "workflow": workflow_json(self.workflow),
            "config": dict(self.config),
            "runner": self.runner,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRequest:
        """Read a stored request (DefinitionError when it is not one this version reads)."""
        from pydantic import ValidationError

        if data.get("version") != VERSION:
            raise DefinitionError(f"run request of version {data.get('version')!r}: not {VERSION}")
        try:
            workflow = TestWorkflow.model_validate(data["workflow"])
        except (KeyError, ValidationError) as exc:
            raise DefinitionError(f"run request: its workflow does not load ({exc})") from None
        source = data.get("source")
        if source is not None and not _SOURCE.match(str(source)):
            raise DefinitionError(f"run request: source {source!r} is not a stored archive")
        return cls(workflow, dict(data.get("config") or {}), data.get("runner"), source)

    def config_values(self, sealer: Sealer) -> dict[str, str]:
        """The given config values, sealed ones opened."""
        return {
            name: sealer.unseal(str(value[_SEALED])) if isinstance(value, dict) else str(value)
            for name, value in self.config.items()
        }


def workflow_json(workflow: TestWorkflow) -> dict[str, Any]:
    """``workflow`` as JSON that loads back to an equal model: the dump, plus the internal
    fields a dump leaves out (a step's ``stop_on_failure``, set by TestSuite conversion)."""
    data = workflow.model_dump(mode="json", by_alias=True, exclude_none=True)
    _add_internal(workflow, data)
    return data


def _add_internal(value: Any, data: Any) -> None:
    if isinstance(value, list) and isinstance(data, list):
        for item, dumped in zip(value, data, strict=False):
            _add_internal(item, dumped)
    elif isinstance(value, dict) and isinstance(data, dict):
        for key, item in value.items():
            if key in data:
                _add_internal(item, data[key])
    elif isinstance(value, BaseModel) and isinstance(data, dict):
        if isinstance(value, Step) and not value.stop_on_failure:
            data[_STOP_ON_FAILURE] = False
        for name, info in type(value).model_fields.items():
            key = info.alias or name
            if key in data:
                _add_internal(getattr(value, name), data[key])


def concurrency_limit(
    workflow: TestWorkflow, config: Mapping[str, Any]
) -> tuple[str | None, int | None]:
    """``spec.concurrency`` as (group, max): the group defaults to the workflow's name, max
    to 1; ``{{ }}`` expressions in the group are evaluated over ``config`` and ``workflow``
    (a sensitive parameter is refused: the group is stored and shown in clear)."""
    raw = workflow.spec.concurrency
    if not raw:
        return None, None
    unknown = sorted(set(raw) - {"group", "max"})
    if unknown:
        raise DefinitionError(f"spec.concurrency: unknown field(s) {', '.join(unknown)}")
    limit = raw.get("max", 1)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DefinitionError(f"spec.concurrency.max: {limit!r} is not an integer of at least 1")
    group = raw.get("group", workflow.metadata.name)
    if not isinstance(group, str) or not group.strip():
        raise DefinitionError(f"spec.concurrency.group: {group!r} is not a non-empty string")
    if "{{" in group:
        from assay.spec.expressions.rendering import references, render

        params = workflow.spec.config
        secret = sorted(
            name
            for name in references(group)
            if name.startswith("config.") and getattr(params.get(name[7:]), "sensitive", False)
        )
        if secret:
            raise DefinitionError(
                f"spec.concurrency.group uses sensitive {', '.join(secret)}: the group is "
                "stored and shown in clear"
            )
        context = {"config": dict(config), "workflow": {"name": workflow.metadata.name}}
        try:
            group = render(group, context)
        except DefinitionError as exc:
            raise DefinitionError(f"spec.concurrency.group: {exc}") from None
    return group[:300], limit


def store_archive(archive: Path, home: Path) -> str:
    """Copy the source archive into ``home/sources/<sha256>.tar.gz`` (mode 0600; one copy
    per content); return that path relative to ``home``."""
    sources = home / "sources"
    digest = hashlib.sha256()
    tmp = sources / f".{uuid.uuid4().hex}.tmp"
    try:
        sources.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (
            archive.open("rb") as src,
            os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as dst,
        ):
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        name = f"sources/{digest.hexdigest()}.tar.gz"
        os.replace(tmp, home / name)
    except OSError as exc:
        raise InfrastructureError(f"cannot keep source archive {archive}: {os_fault(exc)}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return name
