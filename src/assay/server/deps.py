"""Dependencies shared by the routers: the application and the callers' scopes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assay.app import Assay
from assay.server.auth import Principal, require
from assay.server.settings import ServerSettings
from assay.store.tokens import Scope

__all__ = ["Admin", "App", "Reader", "Runner", "Settings", "StreamReader"]


async def _assay(request: Request) -> Assay:  # async: no thread hop for a lookup
    app: Assay = request.app.state.assay
    return app


async def _settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


App = Annotated[Assay, Depends(_assay)]
"""The application (one per server process)."""
Settings = Annotated[ServerSettings, Depends(_settings)]
"""The server's settings."""
Reader = Annotated[Principal, Depends(require(Scope.READ))]
"""A caller that may read: definitions, executions, logs, artifacts, reports."""
Runner = Annotated[Principal, Depends(require(Scope.RUN))]
"""A caller that may also run, abort and re-run."""
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
"""A caller that may also apply and delete definitions, manage tokens and quarantine."""
StreamReader = Annotated[Principal, Depends(require(Scope.READ, session_cookie=True))]
"""A caller that may read, by bearer token or the dashboard's session cookie (event
streams)."""
