"""The FastAPI application: routers, error answers, the application facade and the
authenticator kept on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import assay
from assay.app import Assay
from assay.kube.orphans import CLEANERS
from assay.server.auth import Authenticator, authenticator_for
from assay.server.errors import install_error_handlers
from assay.server.listcache import ListCache
from assay.server.settings import ServerSettings
from assay.store.revision import StoreRevision

__all__ = ["ROUTERS", "create_app"]


def _routers() -> list[APIRouter]:
    from assay.server import dashboard
    from assay.server.routes import (
        analytics,
        definitions,
        executions,
        health,
        metrics,
        notifications,
        runs,
        tokens,
        uploads,
    )

    return [
        health.router,
        metrics.router,
        *definitions.routers(),
        runs.router,
        notifications.router,  # before executions': /notifications is not an execution
        executions.router,
        analytics.router,
        tokens.router,
        uploads.router,
        dashboard.router,  # the web dashboard, at / (docs/dashboard.md)
    ]


ROUTERS: list[Callable[[], list[APIRouter]]] = [_routers]
"""Functions giving the routers of the API (a module adding endpoints appends its own)."""


def create_app(
    settings: ServerSettings,
    application: Assay | None = None,
    *,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The API over ``application`` (default: settings from the environment); the store is
    opened (and migrated) here, before the first request."""
    facade = application or Assay(cleaners=CLEANERS)
    # opened (migrated, reconciled) before serving; each store made once here, not raced
    # for by the threads of the first requests
    _ = (facade.db, facade.executions, facade.definitions, facade.tokens, facade.quarantine)
    revision = StoreRevision(facade.db)  # what list answers are cached under

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        pool = None
        if settings.workers:
            from assay.engine.worker import WorkerPool
            from assay.kube.live import engine_for

            pool = WorkerPool(
                facade.settings,
                settings.workers,
                db=facade.db,
                engine_for=engine_for,
                cleaners=CLEANERS,
            )
            await run_in_threadpool(pool.start)
        app.state.workers = pool
        from assay.server.background import Background

        background = Background(facade, settings)  # scheduler, webhook sender, retention
        await run_in_threadpool(background.start)
        app.state.background = background
        try:
            yield
        finally:
            await run_in_threadpool(background.stop)
            if pool is not None:  # running executions are aborted ("worker stopped")
                await run_in_threadpool(pool.stop, 15.0)
            revision.close()
            facade.db.close()

    app = FastAPI(
        title="assay",
        version=assay.__version__,
        summary="Test orchestration: workflows, executions, logs, results, analytics.",
        lifespan=lifespan,
    )
    app.state.assay = facade
    app.state.settings = settings
    app.state.authenticator = authenticator or authenticator_for(settings, facade.tokens)
    app.state.list_cache = ListCache(revision.current)
    install_error_handlers(app)
    for routers in ROUTERS:
        for router in routers():
            app.include_router(router)
    return app
