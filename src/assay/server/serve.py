"""Running the API with uvicorn (``assay server``)."""

from __future__ import annotations

import logging.config

from assay.server.settings import ServerSettings

__all__ = ["serve"]


def serve(settings: ServerSettings) -> None:
    """Serve until SIGINT or SIGTERM; the store is opened (and migrated) first, so a bad
    ``ASSAY_DATABASE_URL`` fails before the port is taken."""
    import uvicorn

    from assay.server.app import create_app
    from assay.server.logs import log_config

    config = log_config(settings.log_format)
    logging.config.dictConfig(config)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=config,
        log_level="warning",
        http="httptools",
        loop="uvloop",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
