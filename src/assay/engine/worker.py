"""Workers: claim queued runs from the store and run them (``assay worker``, ``assay server``).

A :class:`Worker` is one claiming loop: it claims the oldest queued run there is room for
(:meth:`assay.store.queue.QueueStore.claim`), runs it with a fresh :class:`Engine` through
:meth:`Engine.run_queued`, and claims again. While it runs one, a watcher thread renews the
lease every ``heartbeat`` seconds and reads every ``abort_poll`` seconds whether an abort was
requested; either an abort request or a lost lease cancels the engine (the `after` steps
with ``condition: always`` still run, as on Ctrl-C). A :class:`WorkerPool` runs ``count``
workers as threads of one process, and a reconciler thread that closes, at start and every
``reconcile`` seconds, the executions whose lease ran out (any host's) and those whose
process died on this host (:class:`assay.engine.recovery.Reconciler`).

An execution whose worker was lost is aborted, not resumed: where its step walker was lived
in that worker's memory. Except when its work outlives the worker (a Job in a cluster, whose
Pod walks the steps): the pool's reconciler then adopts it (:meth:`WorkerPool.adopt`), and a
worker of its own follows it to its end through :meth:`ResumableEngine.resume_queued`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from assay.content.archive import extract_archive
from assay.engine.execution import Engine, RunOptions
from assay.engine.recovery import SOURCE_SUFFIX, ObjectCleaner, Reconciler
from assay.engine.requests import RunRequest
from assay.engine.resolve import Catalog
from assay.errors import AssayError
from assay.faults import os_fault
from assay.runners import get_runner
from assay.settings import Settings
from assay.spec.workflow import TestWorkflow
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.definitions import DefinitionStore
from assay.store.executions import ExecutionStore
from assay.store.queue import QueueStore
from assay.store.sealing import Sealer
from assay.store.tables import ExecutionRow

__all__ = [
    "STOPPED",
    "EngineFactory",
    "QueuedEngine",
    "ResumableEngine",
    "Worker",
    "WorkerPool",
    "WorkerTiming",
    "local_engine",
]

STOPPED = "worker stopped"
"""The error of an execution aborted because its worker was stopped."""
ABORT_REQUESTED = "aborted on request"
"""The error of an execution aborted through :meth:`assay.app.Assay.abort`."""

Log = Callable[[str], None]


def _quiet(_line: str) -> None:
    """The default log: nothing."""


class QueuedEngine(Protocol):
    """What a worker needs of an engine: run a claimed execution, abort it."""

    def run_queued(
        self, row: ExecutionRow, workflow: TestWorkflow, options: RunOptions
    ) -> ExecutionRow: ...

    def cancel(self, reason: str = ...) -> None: ...


@runtime_checkable
class ResumableEngine(QueuedEngine, Protocol):
    """An engine whose executions outlive the worker running them (Jobs in a cluster)."""

    def resume_queued(
        self, row: ExecutionRow, workflow: TestWorkflow, options: RunOptions, why: str
    ) -> ExecutionRow:
        """Follow ``row``, started by a worker that is gone (``why``), to its end."""
        ...

    def detach(self) -> None:
        """Stop following the running execution without stopping it: another worker
        adopted it."""
        ...


EngineFactory = Callable[[Settings, Database, ExecutionRow], QueuedEngine]
"""The engine of a claimed execution's runner; layers above the engine add runners it cannot
import (:func:`assay.kube.live.engine_for`)."""


def local_engine(settings: Settings, db: Database, row: ExecutionRow) -> Engine:
    """An :class:`Engine` with ``row``'s runner (local, docker)."""
    return Engine(settings, db, get_runner(row.runner), Catalog(store=DefinitionStore(db)))


@dataclass(frozen=True, slots=True)
class WorkerTiming:
    """Seconds: lease length, renewal and polling intervals."""

    lease_ttl: float = 30.0
    """A claim lapses unless renewed within this."""
    heartbeat: float = 5.0
    """How often a running execution's lease is renewed."""
    poll: float = 1.0
    """How often an idle worker looks for queued runs (:meth:`WorkerPool.wake` is sooner)."""
    abort_poll: float = 0.5
    """How often a running execution's abort request is looked for."""
    reconcile: float = 10.0
    """How often a pool closes expired leases and this host's dead owners' executions."""

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat < self.lease_ttl:
            raise ValueError("the heartbeat must be positive and shorter than the lease")


class Worker:
    """Claims queued runs one at a time and runs them (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        worker_id: str,
        *,
        timing: WorkerTiming | None = None,
        max_running: int | None = None,
        log: Log = _quiet,
        engine_for: EngineFactory = local_engine,
    ) -> None:
        self.settings = settings
        self.db = db
        self.worker_id = worker_id
        self.engine_for = engine_for
        self.timing = timing or WorkerTiming()
        self.max_running = max_running
        self.log = log
        self.queue = QueueStore(db)
        self.executions = ExecutionStore(db)
        self.sealer = Sealer(settings.home / "queue.key")
        self._lock = threading.Lock()
        self._engine: QueuedEngine | None = None
        self._running: ExecutionRow | None = None
        self._stop_reason: str | None = None
        self.stopped_names: list[str] = []
        """Executions this worker aborted because it was stopped."""

    def run_next(self) -> ExecutionRow | None:
        """Claim one queued run and run it to its end; None when there was none to claim
        (or the worker is stopping)."""
        if self._stop_reason is not None or not self.queue.has_waiting():
            return None
        row = self.queue.claim(
            self.worker_id,
            ttl=self.timing.lease_ttl,
            max_running=self.max_running,
            default_runner=self.settings.runner,
        )
        if row is None:
            return None
        self.log(f"claimed {row.name} ({row.id}) by {self.worker_id}")
        started = time.monotonic()
        finished = self._run(row)
        self.log(
            f"finished {finished.name} {finished.status} in {time.monotonic() - started:.1f}s"
            + (f": {finished.error}" if finished.error else "")
        )
        return finished

    def resume(self, row: ExecutionRow, why: str) -> ExecutionRow:
        """Follow an adopted execution (:meth:`WorkerPool.adopt`) to its end."""
        self.log(f"resuming {row.name} ({row.id}) by {self.worker_id}: {why}")
        finished = self._run(row, resume=why)
        self.log(
            f"finished {finished.name} {finished.status}"
            + (f": {finished.error}" if finished.error else "")
        )
        return finished

    def run_forever(self, wake: threading.Event) -> None:
        """Claim and run until :meth:`stop`; idle, wait ``poll`` seconds or for ``wake``.
        A fault (the store away) is logged and the loop goes on (the lease of a run whose
        end could not be recorded lapses, and reconciliation closes it)."""
        while self._stop_reason is None:
            try:
                ran = self.run_next()
            except Exception as exc:  # the store is away, or a bug: this worker goes on
                self.log(f"error: {self.worker_id}: {_fault(exc)}")
                ran = None
            if ran is None and wake.wait(self.timing.poll):
                wake.clear()

    def stop(self, reason: str = STOPPED) -> None:
        """Claim no more; abort the execution running (its `after` steps with ``condition:
        always`` still run; calling it again stops those too)."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            engine, row = self._engine, self._running
        if engine is not None and row is not None:
            if row.name not in self.stopped_names:
                self.stopped_names.append(row.name)
            engine.cancel(reason)

    def _run(self, row: ExecutionRow, resume: str | None = None) -> ExecutionRow:
        source: Path | None = None
        done = threading.Event()
        watcher: threading.Thread | None = None
        try:
            request = RunRequest.from_json(row.request or {})
            config = request.config_values(self.sealer)
            engine = self.engine_for(self.settings, self.db, row)
            with self._lock:
                self._engine, self._running = engine, row
                stopping = self._stop_reason
            if stopping is not None:
                self.stopped_names.append(row.name)
                engine.cancel(stopping)
            watcher = threading.Thread(
                target=self._watch, args=(row, engine, done), name=f"lease-{row.name}", daemon=True
            )
            watcher.start()
            if request.source is not None:
                source = self.settings.work_dir / f"{row.id}{SOURCE_SUFFIX}"
                extract_archive(self.settings.home / request.source, source)
            options = RunOptions(config=config, tags=dict(row.tags or {}), source=source)
            if resume is None:
                return engine.run_queued(row, request.workflow, options)
            if not isinstance(engine, ResumableEngine):
                return self._fail(row, f"its worker was lost ({resume}); it cannot be resumed")
            return engine.resume_queued(row, request.workflow, options, resume)
        except AssayError as exc:
            return self._fail(row, str(exc))
        except OSError as exc:
            return self._fail(row, os_fault(exc))
        except Exception as exc:  # a bug must still close the execution
            return self._fail(row, f"internal error: {exc!r}")
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
            with self._lock:
                self._engine, self._running = None, None
            if source is not None:
                shutil.rmtree(source, ignore_errors=True)

    def _fail(self, row: ExecutionRow, error: str) -> ExecutionRow:
        """Close ``row`` in ``error`` (before its steps could start)."""
        log = self.settings.executions_dir / row.id / "log.txt"
        with contextlib.suppress(OSError):
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as stream:
                stream.write(f"error: {error}\n")
        return self.executions.finish(row.id, ExecutionStatus.ERROR, error=error)

    def _watch(self, row: ExecutionRow, engine: QueuedEngine, done: threading.Event) -> None:
        """Renew the lease and look for an abort request until ``done``; either an abort
        request or a lost lease cancels the engine (once)."""
        renew_at = time.monotonic() + self.timing.heartbeat
        cancelled = False
        while not done.wait(self.timing.abort_poll):
            with contextlib.suppress(Exception):  # the store is away: try again
                if not cancelled and self.queue.abort_requested([row.id]):
                    cancelled = True
                    engine.cancel(ABORT_REQUESTED)
                if time.monotonic() < renew_at:
                    continue
                renew_at = time.monotonic() + self.timing.heartbeat
                if not self.queue.renew(row.id, self.worker_id, self.timing.lease_ttl):
                    if done.is_set() or cancelled:
                        return
                    if isinstance(engine, ResumableEngine):  # adopted, or closed, by others
                        self.log(f"lost the lease of {row.name}: leaving it")
                        engine.detach()
                    else:
                        self.log(f"lost the lease of {row.name}: aborting it")
                        engine.cancel(f"{self.worker_id} lost its lease")
                    return


def _fault(exc: Exception) -> str:
    """One line for a fault met by a worker thread."""
    if isinstance(exc, AssayError):
        return str(exc)
    from assay.faults import describe_fault

    return describe_fault(exc) or f"internal error: {exc!r}"


class WorkerPool:
    """``count`` workers as threads of this process, and a reconciler thread."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        max_running: int | None = None,
        timing: WorkerTiming | None = None,
        log: Log = _quiet,
        db: Database | None = None,
        engine_for: EngineFactory = local_engine,
        cleaners: Mapping[str, ObjectCleaner] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.settings = settings
        self.count = count
        self.max_running = max_running
        self.timing = timing or WorkerTiming()
        self.log = log
        self.engine_for = engine_for
        self.cleaners = cleaners
        self.prefix = f"{socket.gethostname()[:60]}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        """Worker ids are ``<prefix>/<n>``: host, pid, this pool."""
        self._db = db
        self._own_db = db is None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        self._adopted: list[tuple[Worker, threading.Thread]] = []
        self._adopt_lock = threading.Lock()

    @property
    def db(self) -> Database:
        """The store (opened by :meth:`start` unless given)."""
        if self._db is None:
            raise RuntimeError("the worker pool is not started")
        return self._db

    def start(self) -> None:
        """Open the store, reconcile once, then start the workers and the reconciler."""
        if self._db is None:
            self.settings.make_private()
            self._db = Database(self.settings.database_url)
        self.reconcile()
        self.workers = [
            Worker(
                self.settings,
                self.db,
                f"{self.prefix}/{index}",
                timing=self.timing,
                max_running=self.max_running,
                log=self.log,
                engine_for=self.engine_for,
            )
            for index in range(self.count)
        ]
        self._threads = [
            threading.Thread(
                target=worker.run_forever, args=(self._wake,), name=worker.worker_id, daemon=True
            )
            for worker in self.workers
        ]
        self._threads.append(
            threading.Thread(target=self._reconcile_loop, name="reconciler", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Have an idle worker look for queued runs now (after an enqueue)."""
        self._wake.set()

    def reconcile(self) -> list[str]:
        """Close expired leases and this host's executions whose process died; return the
        names of the executions aborted."""
        reconciler = Reconciler(ExecutionStore(self.db), self.settings, self.cleaners)
        queue = QueueStore(self.db)
        aborted = reconciler.run_once(self.adopt) + reconciler.expired_leases(queue, self.adopt)
        for name in aborted:
            self.log(f"reconciled {name}: aborted")
        return aborted

    def adopt(self, row: ExecutionRow) -> bool:
        """Take over ``row``, a running execution whose worker is gone but whose work goes on
        (a Job): a worker of this pool follows it to its end. False when stopping (it is
        then closed); True too when another pool adopted it first."""
        with self._adopt_lock:
            if self._stopping.is_set() or row.lease_owner is None:
                return False
            worker = Worker(
                self.settings,
                self.db,
                f"{self.prefix}/adopted-{len(self._adopted)}",
                timing=self.timing,
                log=self.log,
                engine_for=self.engine_for,
            )
            adopted = QueueStore(self.db).adopt(
                row.id, row.lease_owner, worker.worker_id, self.timing.lease_ttl
            )
            if adopted is None:
                return True
            why = f"its worker {row.lease_owner} was lost"
            thread = threading.Thread(
                target=worker.resume, args=(adopted, why), name=worker.worker_id, daemon=True
            )
            self._adopted.append((worker, thread))
            thread.start()
            return True

    def stop(self, timeout: float = 15.0) -> list[str]:
        """Claim no more, abort the running executions (reason "worker stopped"; their
        `after` steps with ``condition: always`` run within the engine's grace), wait up to
        ``timeout`` seconds for them to be recorded; return their names."""
        with self._adopt_lock:
            self._stopping.set()
        everyone = self.workers + [worker for worker, _ in self._adopted]
        for worker in everyone:
            worker.stop(STOPPED)
        self._wake.set()
        deadline = time.monotonic() + timeout
        workers = self._threads[: len(self.workers)] + [thread for _, thread in self._adopted]
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in workers):  # past the grace: stop clean-ups too
            for worker in everyone:
                worker.stop(STOPPED)
            for thread in workers:
                thread.join(5.0)
        for thread in self._threads[len(self.workers) :]:
            thread.join(5.0)
        if self._own_db and self._db is not None:
            self._db.close()
        return [name for worker in everyone for name in worker.stopped_names]

    def _reconcile_loop(self) -> None:
        while not self._stopping.wait(self.timing.reconcile):
            try:
                self.reconcile()
            except Exception as exc:  # the next pass retries
                self.log(f"error: reconciliation: {_fault(exc)}")
