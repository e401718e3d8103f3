"""Process start and end of the ``assay`` command: ``--version`` and a fast exit.

Interpreter shutdown (module teardown and garbage collection of every object the
imports created) costs 0.2-0.4 s. Once the command has finished, its output is
flushed and the store closed, nothing is left to clean up, so the process ends
with :func:`os._exit`. Garbage collection is frozen after start-up for the same
reason: the objects the imports made live until the end.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import threading
from collections.abc import Callable

import typer

__all__ = ["exits_fast", "print_version"]


def print_version(value: bool) -> None:
    """``--version``: print ``assay VERSION`` and stop."""
    if value:
        from assay import __version__

        typer.echo(f"assay {__version__}")
        raise typer.Exit()


def exits_fast(entry: Callable[[], None]) -> Callable[[], None]:
    """Run ``entry`` and end the process with its exit code, skipping interpreter teardown."""

    @functools.wraps(entry)
    def run() -> None:
        gc.freeze()
        try:
            entry()
        except SystemExit as exc:
            _leave(exc.code)
            raise
        _leave(0)

    return run


def _leave(code: object) -> None:
    """Flush, close the store, and ``os._exit``; return (normal exit) if anything still runs."""
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        return
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    _close_store()
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: let the normal exit report it
        return
    os._exit(status)


def _close_store() -> None:
    from assay.cli import common

    instance = common.current_app()
    if instance is not None and "db" in vars(instance):
        instance.db.close()
