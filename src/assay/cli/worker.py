"""``assay worker``: run queued executions from the store until stopped.

SIGINT or SIGTERM stops it: no more claims, running executions are aborted ("worker
stopped"; their `after` steps with ``condition: always`` still run, within the engine's
grace) and recorded. It exits 0 when nothing was running, else 130 (SIGINT) or 143
(SIGTERM), as `assay run` does; a second signal stops the clean-up steps too.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime

from assay.errors import DefinitionError, Interrupted

__all__ = ["run_workers"]


def _log(line: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stdout.write(f"{stamp} {line}\n")
    sys.stdout.flush()


def run_workers(*, count: int, max_running: int | None, lease_ttl: float, heartbeat: float) -> None:
    """Start ``count`` workers in this process and run until a signal stops them."""
    from assay.engine.worker import STOPPED, WorkerPool, WorkerTiming
    from assay.kube.live import engine_for
    from assay.kube.orphans import CLEANERS
    from assay.settings import Settings

    if count < 1:
        raise DefinitionError(f"--count {count}: at least 1")
    if max_running is not None and max_running < 1:
        raise DefinitionError(f"--max-running {max_running}: at least 1")
    try:
        timing = WorkerTiming(
            lease_ttl=lease_ttl, heartbeat=heartbeat, reconcile=max(0.5, lease_ttl / 3)
        )
    except ValueError as exc:
        raise DefinitionError(f"--lease-ttl {lease_ttl} / --heartbeat {heartbeat}: {exc}") from None
    pool = WorkerPool(
        Settings.from_env(),
        count,
        max_running=max_running,
        timing=timing,
        log=_log,
        engine_for=engine_for,
        cleaners=CLEANERS,
    )
    received: list[signal.Signals] = []
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum))
        if len(received) == 1:
            stopping.set()
        else:  # a second signal: stop the clean-up steps too (a thread: no locks in a handler)
            for worker in pool.workers:
                threading.Thread(target=worker.stop, args=(STOPPED,), daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    pool.start()
    limit = f", at most {max_running} running in all" if max_running else ""
    _log(f"{count} worker(s) {pool.prefix}/0..{count - 1} waiting for queued runs{limit}")
    while not stopping.wait(0.5):
        pass
    _log(f"{received[0].name}: stopping (no more claims; running executions are aborted)")
    aborted = pool.stop()
    if aborted:
        raise Interrupted(
            f"stopped by {received[0].name}: {len(aborted)} execution(s) aborted "
            f"({', '.join(aborted)})",
            received[0],
        )
    _log("stopped")
