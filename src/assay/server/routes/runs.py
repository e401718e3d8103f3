"""``POST /v1/test-workflows/{name}/executions``: queue a run (JSON body: ``config``,
``tags``, ``name``, ``sourceUpload``); a worker of the server (or an ``assay worker``) runs it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from assay.server.deps import App, Runner
from assay.server.errors import ERROR_RESPONSES

__all__ = ["RunRequestBody", "router", "wake_workers"]

router = APIRouter(prefix="/v1/test-workflows", tags=["test-workflows"], responses=ERROR_RESPONSES)

ConfigValue = str | int | float | bool


class RunRequestBody(BaseModel):
    """A run to queue, as Testkube's ``TestWorkflowExecutionRequest`` names it."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="Values of the parameters the workflow declares"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags of the execution")
    name: str | None = Field(
        default=None,
        max_length=253,
        description="The execution's name (unique; default WORKFLOW-N): letters, digits, "
        "'.', '_', '-', not ending in -NUMBER",
    )
    source_upload: str | None = Field(
        default=None,
        alias="sourceUpload",
        description="The id of a POST /v1/uploads: that checkout is the run's /data/repo",
    )


def config_text(config: dict[str, ConfigValue]) -> dict[str, str]:
    """Config values as the text ``--config KEY=VALUE`` would give (true/false for booleans);
    the workflow's declared types are checked by :meth:`assay.app.Assay.enqueue`."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in config.items()
    }


def wake_workers(request: Request) -> None:
    """Have the server's idle workers look for the new run now."""
    pool = getattr(request.app.state, "workers", None)
    if pool is not None:
        pool.wake()


@router.post("/{name}/executions", summary="Queue a run of a workflow (or legacy Test, TestSuite)")
def run_workflow(
    name: str, body: RunRequestBody, request: Request, assay: App, _caller: Runner
) -> dict[str, Any]:
    """The queued execution. Config is checked against the parameters the workflow
    declares (names, types, enums) before anything is stored: 422 naming the problem; a
    ``name`` another execution has is a 409."""
    from assay.server.routes.uploads import claim

    source = claim(assay.settings.home, body.source_upload) if body.source_upload else None
    try:
        row = assay.enqueue(
            name,
            config=config_text(body.config),
            tags=body.tags,
            source_archive=source,
            execution_name=body.name,
        )
    finally:  # enqueue keeps its own copy; a refused run needs a new upload
        if source is not None:
            source.unlink(missing_ok=True)
    wake_workers(request)
    return assay.execution_json(row)
