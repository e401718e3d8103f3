"""The server's background loops, started and stopped with the app: the cron scheduler,
the webhook sender and retention (:mod:`assay.ops`), each in a thread of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from assay.app import Assay
from assay.server.settings import ServerSettings

__all__ = ["Background"]

log = logging.getLogger("assay.server")


class Background:
    """The loops :class:`ServerSettings` asks for, over ``facade``'s store."""

    def __init__(self, facade: Assay, settings: ServerSettings) -> None:
        self.facade = facade
        self.settings = settings
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._closers: list[Callable[[], None]] = []

    def start(self) -> None:
        """Start every enabled loop."""
        from datetime import timedelta

        settings, facade = self.settings, self.facade
        if settings.scheduler:
            from assay.ops.scheduler import Scheduler

            timezone = settings.timezone or facade.settings.timezone
            scheduler = Scheduler(facade.db, self._enqueue, timezone=timezone)
            self._spawn("assay-scheduler", scheduler.run)
        if settings.webhooks:
            from assay.ops.webhooks import Sender
            from assay.store import SecretStore

            sender = Sender(  # the secret store as is: ASSAY_HOME was made private at start
                facade.db,
                secret=SecretStore(facade.settings.secrets_dir).get,
                max_attempts=settings.webhook_max_attempts,
                backoff=timedelta(seconds=settings.webhook_backoff_seconds),
            )
            self._closers.append(sender.close)
            self._spawn("assay-webhooks", sender.run)
        if settings.retention:
            from assay.ops.retention import Pruner, parse_age

            pruner = Pruner(facade.db, facade.settings.executions_dir)
            age = parse_age(settings.retention)

            def prune(stop: threading.Event) -> None:
                pruner.run(
                    stop,
                    age,
                    keep=settings.retention_keep,
                    interval=settings.retention_interval_seconds,
                )

            self._spawn("assay-retention", prune)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loops and wait for them (``timeout`` seconds each at most)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        for close in self._closers:
            close()

    def _enqueue(self, name: str, config: dict[str, Any], tags: dict[str, str]) -> str:
        values = {key: _text(value) for key, value in config.items()}
        return self.facade.enqueue(name, config=values, tags=tags).id

    def _spawn(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=loop, args=(self.stop_event,), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)
        log.info("%s started", name)


def _text(value: Any) -> str:
    """A config value as `--config` would give it (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
