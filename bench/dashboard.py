"""Server time of the dashboard's pages over a store of 100,000 executions.

Usage: python bench/dashboard.py [--executions N] [--with-results N] [--runs N] [--db PATH]

The store is generated once (a file given with --db is reused when it holds enough):
``--with-results`` executions with test results, written by the store's own writer through
bench/queries.py (10 workflows, 40 tests each, flaky and failing tests, retries,
requirements), then bare executions up to ``--executions`` (every status, tags, branches),
all over 90 days. Each page is then requested in-process through the real application
(`create_app`: routing, cookie authentication against a stored token, queries, Jinja
rendering; no network, no browser) --runs times after one warm-up, and p50/p95 printed
against the goal of 300 ms.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from queries import generate
from sqlalchemy import func, insert, select

from assay.app import Assay
from assay.settings import Settings
from assay.store.listing import ExecutionFilter
from assay.store.tables import ExecutionRow, ExecutionTagRow, WorkflowRow
from assay.store.tokens import Scope

GOAL_MS = 300.0
STATUSES = ["passed"] * 80 + ["failed"] * 14 + ["error", "timeout", "aborted"] * 2


def fill(app: Assay, executions: int, with_results: int) -> None:
    """Generate the store unless it already holds ``executions``."""
    db = app.db
    with db.engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(ExecutionRow)).scalar_one()
    if present >= executions:
        return
    begin = time.perf_counter()
    generate(db, with_results * 40, 10, 40)
    rng = random.Random(11)
    start = datetime.now(UTC) - timedelta(days=90)
    bare = executions - with_results
    step = timedelta(days=90) / max(1, bare)
    batch: list[dict[str, object]] = []
    tag_batch: list[dict[str, object]] = []
    for index in range(bare):
        workflow = f"bare-{index % 20}"
        queued = start + step * index
        duration = int(rng.lognormvariate(10, 0.6))
        branch = "main" if index % 5 else f"pr-{index // 5 % 300}"
        tags = {"branch": branch, "team": f"team-{index % 7}"}
        if index % 1000 == 0:  # a rare tag: one execution in 1,000 has one
            tags["release"] = f"r{index // 1000}"
        tag_batch.extend(
            {"execution_id": f"{index:032x}", "key": key, "value": value}
            for key, value in tags.items()
        )
        batch.append(
            {
                "id": f"{index:032x}",
                "workflow": workflow,
                "number": index // 20 + 1,
                "name": f"{workflow}-{index // 20 + 1}",
                "status": rng.choice(STATUSES),
                "runner": "bench",
                "tags": tags,
                "config": {},
                "summary": {"tests": 40, "passed": 39, "failed": 1},
                "summary_tests": 40,
                "summary_skipped": 0,
                "summary_passed": 39,
                "error": None,
                "parent_id": None,
                "queued_at": queued,
                "started_at": queued,
                "finished_at": queued + timedelta(milliseconds=duration),
                "duration_ms": duration,
                "sha": f"{index // 3:040x}",
                "branch": branch,
            }
        )
        if len(batch) == 5000 or index == bare - 1:
            with db.engine.begin() as connection:
                connection.execute(insert(ExecutionRow), batch)
                connection.execute(insert(ExecutionTagRow), tag_batch)
            batch, tag_batch = [], []
    workflow = {
        "apiVersion": "testworkflows.testkube.io/v1",
        "kind": "TestWorkflow",
        "metadata": {"name": "bench-0"},
        "spec": {
            "config": {"level": {"type": "string", "default": "quick", "enum": ["quick", "full"]}},
            "steps": [{"name": "t", "shell": "true"}],
        },
    }
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        connection.execute(
            insert(WorkflowRow),
            [
                {
                    "kind": "TestWorkflow",
                    "name": "bench-0",
                    "labels": {},
                    "definition": workflow,
                    "source": None,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    print(f"generated {executions:,} executions in {time.perf_counter() - begin:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--with-results", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", type=Path, help="SQLite file to create or reuse")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="assay-bench-dashboard-"))
    try:
        url = f"sqlite:///{args.db or scratch / 'assay.db'}"
        run(Assay(Settings(home=scratch / "home", database_url=url)), args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(app: Assay, args: argparse.Namespace) -> None:
    from fastapi.testclient import TestClient

    from assay.server.app import create_app
    from assay.server.settings import ServerSettings

    fill(app, args.executions, args.with_results)
    name = f"bench-{int(time.time())}"
    _, secret = app.tokens.create(name, Scope.ADMIN)
    client = TestClient(create_app(ServerSettings(workers=0), app))
    client.cookies.set("assay_token", secret)
    with app.db.engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(ExecutionRow)).scalar_one()
    one = app.executions.recent(workflow="bench-0", limit=1)[0]
    middle = app.execution_page(ExecutionFilter(until=datetime.now(UTC) - timedelta(days=45)))
    cursor = middle.older.encode() if middle.older else ""  # half-way down the history
    print(f"store: {count:,} executions\n")
    pages = {
        "executions (first page)": "/executions",
        "executions (older page)": f"/executions?before={cursor}",
        "executions status=failed": "/executions?status=failed",
        "executions tag + branch": "/executions?tag=team%3Dteam-3&branch=main",
        "executions rare tag (1 match)": "/executions?tag=release%3Dr42",
        "executions absent tag": "/executions?tag=team%3Dnobody",
        "executions search": "/executions?q=bare-7-99",
        "execution (40 tests)": f"/executions/{one.id}",
        "workflows": "/workflows",
        "workflow bench-0": "/workflows/bench-0",
        "tests (flaky, slowest, trace)": "/tests",
        "trends (every workflow, 7 days)": "/trends",
        "trends (every workflow, 30 days)": "/trends?days=30",
        "trends (one workflow, 30 days)": "/trends?workflow=bare-3",
    }
    over = []
    for label, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        samples = []
        for _ in range(args.runs):
            begin = time.perf_counter()
            client.get(path)
            samples.append((time.perf_counter() - begin) * 1000)
        over += report(label, samples)
    over += stream_look(app, args.runs)
    print("\nall pages under the goal" if not over else f"\nover the goal: {', '.join(over)}")


def stream_look(app: Assay, runs: int) -> list[str]:
    """Server time of one look of the live list's event stream (the newest page, as the
    ``executions`` event the dashboard's list follows), as :func:`run` prints a page's."""
    import asyncio

    from assay.server.logstream import list_events

    async def first_event() -> None:
        events = list_events(app, ExecutionFilter, limit=50)
        await anext(events)
        await events.aclose()

    asyncio.run(first_event())
    samples = []
    for _ in range(runs):
        begin = time.perf_counter()
        asyncio.run(first_event())
        samples.append((time.perf_counter() - begin) * 1000)
    return report("live list stream (one look)", samples)


def report(label: str, samples: list[float]) -> list[str]:
    """Print p50/p95 of ``samples``; ``[label]`` when over the goal."""
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    verdict = "ok" if p95 < GOAL_MS else "OVER GOAL"
    print(f"{label:<32} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {verdict}")
    return [label] if p95 >= GOAL_MS else []


if __name__ == "__main__":
    main()
