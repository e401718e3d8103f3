"""Running the API with uvicorn (``assay server``)."""

from __future__ import annotations

import logging.config
import os
import signal
from typing import TYPE_CHECKING, Any

from assay.server.settings import ServerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["app_from_environment", "serve"]

_PR_SET_PDEATHSIG = 1


def serve(settings: ServerSettings) -> None:
    """Serve until SIGINT or SIGTERM; the store is opened (and migrated) first, so a bad
    ``ASSAY_DATABASE_URL`` fails before the port is taken. With ``processes`` > 1, uvicorn
    supervises that many server processes on one socket, each made by
    :func:`app_from_environment` from the settings passed down as ``ASSAY_SERVER_*``."""
    import uvicorn

    from assay.server.app import create_app
    from assay.server.logs import log_config

    config = log_config(settings.log_format)
    logging.config.dictConfig(config)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": config,
        "log_level": "warning",
        "http": "httptools",
        "loop": "uvloop",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
    }
    if settings.processes == 1:
        uvicorn.run(create_app(settings), **options)
        return
    from assay.app import Assay

    Assay().db.close()  # opened and migrated once, before the processes race for it
    os.environ.update(_environment(settings))
    uvicorn.run(
        "assay.server.serve:app_from_environment",
        factory=True,
        workers=settings.processes,
        **options,
    )


def app_from_environment() -> FastAPI:
    """The API in one of several server processes. The process is ended (SIGTERM, so its
    executions are closed as on any shutdown) when its supervisor dies, even by kill -9."""
    _end_with_parent()
    from assay.server.app import create_app

    return create_app(ServerSettings())


def _environment(settings: ServerSettings) -> dict[str, str]:
    """``settings`` as the ``ASSAY_SERVER_*`` variables that rebuild them."""
    return {
        f"ASSAY_SERVER_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def _end_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent process dies (``PR_SET_PDEATHSIG``); a parent
    already gone is handled at once. Elsewhere: nothing."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)
