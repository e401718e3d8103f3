"""The server's background loops, started and stopped with the app: the cron scheduler,
the webhook sender and retention (:mod:`assay.ops`), the sync of a namespace's custom
resources (:mod:`assay.server.kube_sync`), each in a thread of its own."""

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
        self._interrupts: list[Callable[[], None]] = []
        """Called at stop before the threads are waited for (to end blocking reads)."""

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
        if settings.watch_namespace:
            self._watch_definitions(settings.watch_namespace)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loops and wait for them (``timeout`` seconds each at most)."""
        self.stop_event.set()
        for interrupt in self._interrupts:
            interrupt()
        for thread in self.threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.0f s", thread.name, timeout)
        for close in self._closers:
            close()
        log.info("background loops stopped")

    def _watch_definitions(self, namespace: str) -> None:
        """A loop per Testkube kind keeping the definitions of ``namespace``'s custom
        resources in the store."""
        from functools import partial

        from assay.kube.install import CRDS
        from assay.server.kube_sync import DefinitionSync

        sync = DefinitionSync(
            self.facade, namespace, watch_seconds=self.settings.watch_timeout_seconds
        )
        self._interrupts.append(sync.interrupt)
        for kind in CRDS:
            self._spawn(f"assay-sync-{kind.plural}", partial(sync.run, kind))

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
