"""Latency of the results analytics (`assay flaky`, `assay trends`, `assay trace`) over a large
history: by default 1,000,000 stored test-case rows in SQLite.

Usage: python bench/queries.py [--rows N] [--workflows N] [--tests N] [--runs N]
                               [--url URL | --db PATH]

The history is generated once through the store's own writer (`write_cases`, one transaction
per batch of executions; a file given with --db is reused when it already holds the rows),
then each query is timed --runs times after one warm-up, in-process (no CLI start-up), and
p50/p95 printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update

from assay.analytics.flaky import find_flaky
from assay.analytics.traceability import trace
from assay.analytics.trends import newly_failing, slowest_tests, trend_points
from assay.model import CaseStatus, TestCaseResult
from assay.store import Database
from assay.store.tables import ExecutionRow, ExecutionTagRow, TestResultsRow
from assay.store.test_cases import write_cases

GOAL_P95_MS = 300.0


def _hex(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def generate(db: Database, rows: int, workflows: int, tests: int, seed: int = 7) -> int:
    """Fill the store with ~``rows`` test-case attempts; return the number written."""
    rng = random.Random(seed)
    per_workflow = max(1, rows // (workflows * tests))
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / (per_workflow * workflows)
    kinds = rng.choices(
        ["stable", "flaky", "failing", "skipped", "rare"], [90, 3, 1, 2, 4], k=workflows * tests
    )
    base_ms = [int(rng.lognormvariate(4, 1.2)) + 1 for _ in range(workflows * tests)]
    written = 0
    for e in range(per_workflow):
        with db.engine.begin() as connection:
            for w in range(workflows):
                workflow = f"bench-{w}"
                cases = _cases(rng, kinds, base_ms, w, tests)
                execution_id = _hex("execution", w, e)[:32]
                queued = start + step * (e * workflows + w)
                sha, branch = _hex("commit", w, e // 3)[:40], "main" if e % 4 else f"pr-{e // 4}"
                duration = int(sum(base_ms[w * tests : (w + 1) * tests]) * rng.uniform(0.8, 1.3))
                execution = {
                    "id": execution_id,
                    "workflow": workflow,
                    "number": e + 1,
                    "name": f"{workflow}-{e + 1}",
                    "status": "passed",
                    "runner": "bench",
                    "tags": {"sha": sha, "branch": branch},
                    "config": {},
                    "summary": {},
                    "error": None,
                    "parent_id": None,
                    "queued_at": queued,
                    "started_at": queued,
                    "finished_at": queued + timedelta(milliseconds=duration),
                    "duration_ms": duration,
                    "sha": sha,
                    "branch": branch,
                }
                connection.execute(insert(ExecutionRow), execution)
                summary = write_cases(connection, execution_id, workflow, cases)
                connection.execute(
                    update(ExecutionRow)
                    .where(ExecutionRow.id == execution_id)
                    .values(
                        summary=summary.as_dict(),
                        summary_tests=summary.tests,
                        summary_skipped=summary.skipped,
                        summary_passed=summary.passed,
                        status="failed" if summary.failed else "passed",
                    )
                )
                connection.execute(
                    insert(ExecutionTagRow),
                    [
                        {"execution_id": execution_id, "key": key, "value": value}
                        for key, value in execution["tags"].items()
                    ],
                )
                written += len(cases)
    return written


def _cases(
    rng: random.Random, kinds: list[str], base_ms: list[int], w: int, tests: int
) -> list[TestCaseResult]:
    """One execution's attempts: half the workflows retry a failed test once."""
    cases = []
    for t in range(tests):
        index = w * tests + t
        statuses = [_status(kinds[index], rng)]
        if statuses[0] == "failed" and w % 2 == 0:
            statuses.append(_status(kinds[index], rng))
        for attempt, status in enumerate(statuses, start=1):
            cases.append(
                TestCaseResult(
                    suite="pytest",
                    classname=f"m{t // 20}",
                    name=f"t{t}",
                    status=CaseStatus(status),
                    duration_ms=int(base_ms[index] * rng.uniform(0.7, 1.4)),
                    file=f"tests/m{t // 20}.py",
                    line=1 + 4 * (t % 20),
                    message="AssertionError: boom" if status == "failed" else None,
                    attempt=attempt,
                    properties=({"requirement": [f"BR-{w}-{t // 10:03d}"]} if t % 10 == 0 else {}),
                )
            )
    return cases


def _status(kind: str, rng: random.Random) -> str:
    if kind == "flaky":
        return "failed" if rng.random() < 0.3 else "passed"
    if kind == "failing":
        return "failed"
    if kind == "skipped":
        return "skipped"
    if kind == "rare":
        return "failed" if rng.random() < 0.02 else "passed"
    return "passed"


def measure(
    label: str, call: Callable[[], object], runs: int, *, goal: bool = True
) -> tuple[float, float]:
    call()  # warm-up
    samples = []
    for _ in range(runs):
        begin = time.perf_counter()
        call()
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    verdict = ("ok" if p95 < GOAL_P95_MS else "OVER GOAL") if goal else "(no goal)"
    print(f"{label:<34} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {verdict}")
    return p50, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workflows", type=int, default=5)
    parser.add_argument("--tests", type=int, default=400)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", type=Path, help="SQLite file to create or reuse")
    parser.add_argument("--url", help="any database URL (e.g. PostgreSQL) instead of --db")
    args = parser.parse_args()
    scratch: Path | None = None
    if args.url:
        url = args.url
    elif args.db:
        url = f"sqlite:///{args.db}"
    else:
        scratch = Path(tempfile.mkdtemp(prefix="assay-bench-"))
        url = f"sqlite:///{scratch / 'assay.db'}"
    try:
        run(Database(url), url, args)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def run(db: Database, url: str, args: argparse.Namespace) -> None:
    with db.engine.connect() as connection:
        existing = connection.execute(select(func.sum(TestResultsRow.cases))).scalar() or 0
    if existing < args.rows * 0.9:
        begin = time.perf_counter()
        written = generate(db, args.rows, args.workflows, args.tests)
        print(f"generated {written:,} test-case attempts in {time.perf_counter() - begin:.1f} s")
        existing += written
    with db.engine.connect() as connection:
        executions = connection.execute(select(func.count()).select_from(ExecutionRow)).scalar_one()
    print(f"store: {url}\n{existing:,} test-case attempts, {executions:,} executions\n")
    one = "bench-0"
    results = {
        "flaky (all workflows)": measure(
            "flaky (all workflows)", lambda: find_flaky(db), args.runs
        ),
        "flaky --workflow": measure(
            "flaky --workflow", lambda: find_flaky(db, workflow=one), args.runs
        ),
        "trends (all workflows)": measure(
            "trends (all workflows)",
            lambda: (trend_points(db), slowest_tests(db), newly_failing(db)),
            args.runs,
        ),
        "trends --workflow": measure(
            "trends --workflow",
            lambda: (
                trend_points(db, workflow=one),
                slowest_tests(db, workflow=one),
                newly_failing(db, workflow=one),
            ),
            args.runs,
        ),
        "trace (all workflows)": measure("trace (all workflows)", lambda: trace(db), args.runs),
    }
    flaky = find_flaky(db)
    reasons = sorted({reason for test in flaky for reason in test.as_dict()["reasons"]})
    print(f"\n{len(flaky)} flaky tests found; reasons seen: {', '.join(reasons) or '-'}")
    over = [label for label, (_, p95) in results.items() if p95 >= GOAL_P95_MS]
    print(
        json.dumps({k: {"p50": round(v[0], 1), "p95": round(v[1], 1)} for k, v in results.items()})
    )
    db.close()
    if over:
        sys.exit(1)


if __name__ == "__main__":
    main()
