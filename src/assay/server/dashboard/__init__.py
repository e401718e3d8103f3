"""The web dashboard of ``assay server``: server-rendered pages over the application facade
(docs/dashboard.md)."""

from __future__ import annotations

from assay.server.dashboard.pages import router

__all__ = ["router"]
