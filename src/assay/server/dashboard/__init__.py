"""The web dashboard of ``assay server``: server-rendered pages over the application facade
(docs/dashboard.md)."""

from __future__ import annotations

from assay.server.dashboard.auth import Authenticate, Viewer
from assay.server.dashboard.routes import RunActions, dashboard_router

__all__ = ["Authenticate", "RunActions", "Viewer", "dashboard_router"]
