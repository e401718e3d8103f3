"""The run queue: a queued run vs the same run started directly; abort latency; claims/s.

Usage: python bench/run_queue.py [--runs N] [--database-url URL]

In one temporary ASSAY_HOME (SQLite unless ``--database-url``), the same one-step workflow
(`true`) is run ``--runs`` times each way, interleaved after a warm-up:

- direct: ``Engine.run`` in this process (what `assay run` does after start-up);
- queued: ``Assay.enqueue`` then a running ``WorkerPool`` (1 worker, idle poll 1 s, woken by
  :meth:`WorkerPool.wake` as ``assay server`` could), timed from the enqueue until the row is
  finished.

Then the abort latency (``Assay.abort`` of a running `sleep 120` step until the row is
``aborted``, its `after` steps none) and the claim rate (200 queued requests, 8 threads
claiming until the queue is empty). Prints medians and the ratio queued / direct.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from assay.app import Assay
from assay.engine.execution import Engine, RunOptions
from assay.engine.resolve import Catalog
from assay.engine.worker import WorkerPool, WorkerTiming
from assay.runners import LocalRunner
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store.queue import QueueStore

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: bench-queue}
spec:
  steps:
    - shell: "true"
"""

SLEEPY = WORKFLOW.replace("bench-queue", "bench-sleepy").replace('"true"', "sleep 120")


def wait_finished(assay: Assay, row_id: str, status: str | None = None) -> None:
    deadline = time.monotonic() + 120
    while True:
        current = assay.executions.get(row_id).status
        if ExecutionStatus(current).finished:
            if status is not None and current != status:
                raise SystemExit(f"expected {status}, got {current}")
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"execution {row_id} did not finish")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home, args.database_url or f"sqlite:///{home / 'assay.db'}")
        assay = Assay(settings)
        (Path(tmp) / "wf.yaml").write_text(WORKFLOW + "---\n" + SLEEPY)
        assay.apply([Path(tmp) / "wf.yaml"])
        catalog = Catalog(store=assay.definitions)
        workflow = catalog.workflow("bench-queue")
        pool = WorkerPool(settings, 1, timing=WorkerTiming(poll=1.0), db=assay.db)
        pool.start()
        direct: list[float] = []
        queued: list[float] = []
        try:
            for index in range(args.runs + 1):
                start = time.perf_counter()
                engine = Engine(settings, assay.db, LocalRunner(), catalog)
                engine.run(workflow, RunOptions())
                elapsed_direct = time.perf_counter() - start
                start = time.perf_counter()
                row = assay.enqueue("bench-queue", config={}, tags={})
                pool.wake()
                wait_finished(assay, row.id, "passed")
                elapsed_queued = time.perf_counter() - start
                if index:  # the first of each is the warm-up
                    direct.append(elapsed_direct)
                    queued.append(elapsed_queued)
            aborts = []
            for _ in range(args.runs):
                row = assay.enqueue("bench-sleepy", config={}, tags={})
                pool.wake()
                while assay.executions.get(row.id).status != "running":
                    time.sleep(0.01)
                time.sleep(0.3)  # its step has started
                start = time.perf_counter()
                assay.abort(row.id)
                wait_finished(assay, row.id, "aborted")
                aborts.append(time.perf_counter() - start)
        finally:
            pool.stop()
        queue = QueueStore(assay.db)
        for _ in range(200):
            queue.enqueue("claims", runner="local", tags={}, config={}, request={"v": 1})
        claimed: list[int] = [0] * 8

        def claim(index: int) -> None:
            while queue.claim(f"bench/{index}", ttl=60) is not None:
                claimed[index] += 1

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        claim_seconds = time.perf_counter() - start
        assay.db.close()
    store = "PostgreSQL" if args.database_url else "SQLite"
    d, q = statistics.median(direct), statistics.median(queued)
    print(f"store: {store}, {args.runs} runs each")
    print(f"direct Engine.run     median {d:.3f} s")
    print(f"enqueue -> finished   median {q:.3f} s  ({q / d:.2f}x, +{q - d:.3f} s)")
    print(f"abort -> aborted      median {statistics.median(aborts):.3f} s")
    print(
        f"claims: {sum(claimed)} by 8 threads in {claim_seconds:.2f} s "
        f"({sum(claimed) / claim_seconds:.0f}/s)"
    )


if __name__ == "__main__":
    main()
