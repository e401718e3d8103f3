"""``/metrics``: Prometheus metrics of the store (:mod:`assay.ops.metrics`); no token, like
``/health``, so a scraper needs none (it names workflows and webhooks, never secrets)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from assay.server.deps import App

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(assay: App) -> Response:
    from assay.ops.metrics import CONTENT_TYPE, render

    return Response(render(assay.db), media_type=CONTENT_TYPE)
