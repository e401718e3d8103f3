"""`assay server` under load: 20 concurrent clients listing executions on a store of
100,000, and the delay from a log line written by a step to an SSE client.

Usage: python bench/api.py [--executions N] [--clients N] [--requests N] [--lines N]
                           [--url URL] [--skip-list] [--skip-sse]

list: the executions (with one step each) are bulk-inserted straight into a fresh store (not
through the engine), a real `assay server` process is started on it, and --clients threads,
each with its own HTTP client and a read token, send --requests requests each, round-robin
over four lists (the first page, a later page, a status filter, a workflow filter): once
repeating the four (answered from the server's cache of list answers: the store does not
change), once with a distinct ``until`` (after every execution) in every request, so that
none is answered from the cache. The same clients then call /health the same number of
times: the framework's floor, in the same run. Printed: p50/p95/p99 and errors of each,
their ratios, and what a COUNT over every execution costs on that store (why the list
answers ``hasMore`` rather than a total).

sse: a server with one worker runs a workflow whose step prints its own clock every 20 ms;
a client follows /notifications and, for each line, takes the time it arrived minus the time
in the line (one machine, one clock). For the same lines it records when they reached the
log file (polled every millisecond by the bench): file -> client is the SSE hop alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from assay.store import Database
from assay.store.tables import ExecutionRow, StepRow
from assay.store.tokens import Scope, TokenStore

ASSAY = str(Path(sys.executable).parent / "assay")
GOAL_P95_MS = 100.0
STATUSES = ("passed", "passed", "passed", "failed", "passed", "error", "passed", "aborted")


def seed(db: Database, count: int, workflows: int = 50) -> float:
    """Bulk-insert ``count`` finished executions with one step each; return seconds taken."""
    started = time.perf_counter()
    start = datetime.now(UTC) - timedelta(days=60)
    batch = 10_000
    with db.engine.begin() as connection:
        for first in range(0, count, batch):
            executions, steps = [], []
            for n in range(first, min(count, first + batch)):
                workflow = f"wf-{n % workflows}"
                number = n // workflows + 1
                queued = start + timedelta(seconds=n * 50)
                execution_id = uuid.UUID(int=n + 1).hex
                executions.append(
                    {
                        "id": execution_id,
                        "workflow": workflow,
                        "number": number,
                        "name": f"{workflow}-{number}",
                        "status": STATUSES[n % len(STATUSES)],
                        "runner": "local",
                        "tags": {"branch": "main", "sha": f"{n // 3:040x}"},
                        "config": {},
                        "summary": {"tests": 10, "passed": 10},
                        "queued_at": queued,
                        "started_at": queued,
                        "finished_at": queued + timedelta(seconds=3),
                        "duration_ms": 3000,
                        "sha": f"{n // 3:040x}",
                        "branch": "main",
                    }
                )
                steps.append(
                    {
                        "execution_id": execution_id,
                        "position": 0,
                        "ref": "1",
                        "name": "tests",
                        "status": "passed",
                        "exit_code": 0,
                        "attempts": 1,
                        "duration_ms": 2900,
                    }
                )
            connection.execute(insert(ExecutionRow), executions)
            connection.execute(insert(StepRow), steps)
        if db.engine.dialect.name == "postgresql":
            # what autovacuum does within a minute of a bulk load: without statistics the
            # planner picks scans that cost the page 3-8x (a store in use has them)
            connection.execute(text("ANALYZE executions, steps"))
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(home: Path, url: str, workers: int, processes: int = 1) -> Iterator[str]:
    """A real `assay server` (``processes`` of them on one socket) on a free loopback port;
    its base URL."""
    env = {**os.environ, "ASSAY_HOME": str(home), "ASSAY_DATABASE_URL": url}
    port = free_port()
    process = subprocess.Popen(
        [ASSAY, "server", f"--port={port}", f"--workers={workers}", f"--processes={processes}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("assay server did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def hammer(
    base: str, token: str, clients: int, requests: int, path: Callable[[int, int], str]
) -> tuple[list[float], int]:
    """``clients`` threads sending ``requests`` each, the ``n``-th of client ``index`` to
    ``path(index, n)``: latencies (ms) and errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    gate = threading.Barrier(clients)

    def client(index: int) -> None:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            http.get("/health")  # connect first
            gate.wait()
            for n in range(requests):
                began = time.perf_counter()
                try:
                    ok = http.get(path(index, n)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors[0] += not ok

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def timed(run: Callable[[], object], times: int = 5) -> float:
    """Median milliseconds of ``run``."""
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def bench_list(args: argparse.Namespace, tmp: Path) -> None:
    home = tmp / "list-home"
    url = args.url or f"sqlite:///{home / 'assay.db'}"
    home.mkdir(parents=True)
    db = Database(url)
    seconds = seed(db, args.executions)
    token = TokenStore(db).create("bench", Scope.READ)[1]
    with db.engine.connect() as connection:
        count_ms = timed(lambda: connection.execute(text("SELECT count(*) FROM executions")).all())
        by_status_ms = timed(
            lambda: connection.execute(
                text("SELECT status, count(*) FROM executions GROUP BY status")
            ).all()
        )
    db.close()
    load = (args.clients, args.requests)
    print(
        f"store: {db.engine.dialect.name}, {args.executions:,} executions seeded in {seconds:.1f} s"
    )
    lists = [
        "/v1/test-workflow-executions?pageSize=50",
        "/v1/test-workflow-executions?pageSize=50&page=20",
        "/v1/test-workflow-executions?pageSize=50&status=failed",
        "/v1/test-workflow-executions?pageSize=50&workflow=wf-7",
    ]
    later = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=1)

    def repeated(index: int, n: int) -> str:  # the same four lists: answered from the cache
        return lists[(index + n) % len(lists)]

    def distinct(index: int, n: int) -> str:  # the same four lists, each request a query of
        # its own (a distinct `until` after every execution): never answered from the cache
        until = (later - timedelta(seconds=index * args.requests + n)).isoformat()
        return f"{repeated(index, n)}&until={until}"

    for processes in args.processes:
        with server(home, url, workers=0, processes=processes) as base:
            hammer(base, token, 4, 5, repeated)  # warm-up
            runs = [
                ("list, 4 lists repeated (cached)", *hammer(base, token, *load, repeated)),
                ("list, every query distinct (uncached)", *hammer(base, token, *load, distinct)),
                ("/health (floor)", *hammer(base, token, *load, lambda _i, _n: "/health")),
            ]
        print(
            f"`assay server --processes {processes}`: {args.clients} clients x {args.requests} "
            "requests, pageSize 50, 4 lists round-robin"
        )
        print("| | p50 ms | p95 ms | p99 ms | errors |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, values, errors in runs:
            p50, p95, p99 = (percentile(values, q) for q in (0.5, 0.95, 0.99))
            print(f"| {label} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {errors} |")
        floor = percentile(runs[-1][1], 0.95)
        for label, values, errors in runs[:-1]:
            p95 = percentile(values, 0.95)
            met = p95 < GOAL_P95_MS and not errors
            print(
                f"{label}: p95 / health p95 {p95 / floor:.2f}x; goal p95 < {GOAL_P95_MS:.0f} "
                f"ms, 0 errors: {'met' if met else 'NOT met'}"
            )
    print(
        f"for reference, one client alone: COUNT(*) {count_ms:.1f} ms, "
        f"COUNT by status {by_status_ms:.1f} ms"
    )


WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: ticker}
spec:
  steps:
  - name: tick
    shell: |
      python3 -u -c "
      import time
      for _ in range(LINES):
          print(f'tick {time.time():.6f}')
          time.sleep(0.02)
      "
"""


def bench_sse(args: argparse.Namespace, tmp: Path) -> None:
    home = tmp / "sse-home"
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'assay.db'}"
    db = Database(url)
    token = TokenStore(db).create("bench", Scope.ADMIN)[1]
    db.close()
    headers = {"Authorization": f"Bearer {token}"}
    with server(home, url, workers=1) as base, httpx.Client(base_url=base, headers=headers) as http:
        body = WORKFLOW.replace("LINES", str(args.lines))
        http.post("/v1/test-workflows", content=body, headers={"Content-Type": "text/yaml"})
        queued = http.post("/v1/test-workflows/ticker/executions", json={}).json()
        log = home / "executions" / queued["id"] / "log.txt"
        in_file: dict[str, float] = {}
        done = threading.Event()

        def watch_file() -> None:  # when each line reached the log file
            offset, pending = 0, b""
            while not done.is_set():
                if log.exists():
                    with log.open("rb") as stream:
                        stream.seek(offset)
                        chunk = stream.read()
                    offset += len(chunk)
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    now = time.time()
                    for line in lines:
                        in_file.setdefault(line.decode(), now)
                time.sleep(0.001)

        watcher = threading.Thread(target=watch_file, daemon=True)
        watcher.start()
        to_client: list[float] = []
        hop: list[float] = []
        with http.stream(
            "GET", f"/v1/test-workflow-executions/{queued['id']}/notifications", timeout=120
        ) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                arrived = time.time()
                data = json.loads(line[5:])
                text_line = data.get("log", "")
                if text_line.startswith("tick "):
                    to_client.append((arrived - float(text_line[5:])) * 1000)
                    if text_line in in_file:
                        hop.append((arrived - in_file[text_line]) * 1000)
        done.set()
    print(f"{len(to_client)} lines, one every 20 ms, one SSE client")
    print("| | p50 ms | p95 ms | max ms |")
    print("| --- | ---: | ---: | ---: |")
    for label, values in (("step print -> SSE client", to_client), ("log file -> SSE client", hop)):
        if values:
            print(
                f"| {label} | {percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} "
                f"| {max(values):.1f} |"
            )
    verdict = "met" if to_client and percentile(to_client, 0.95) < GOAL_P95_MS else "NOT met"
    print(f"goal p95 < {GOAL_P95_MS:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--url", help="a database URL to seed (default: a temporary SQLite)")
    parser.add_argument(
        "--processes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2],
        help="server processes to measure the list with, side by side (default 1,2)",
    )
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--skip-sse", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="assay-bench-api-"))
    try:
        if not args.skip_list:
            bench_list(args, tmp)
        if not args.skip_sse:
            bench_sse(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
