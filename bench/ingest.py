"""Ingest of a 100,000-test-case JUnit file (parse + store) against junitparser's parse alone.

Usage: python bench/ingest.py [--runs N] [--cases N]

One generated pytest-style report (``--cases`` test cases; 2% failures with a message and a
short trace, 3% skipped, the rest passing, exponential durations) is read by:

- junitparser: ``JUnitXml.fromfile`` *and* a walk over every case reading what a report
  needs (classname, name, time, result).  ``fromfile`` alone only builds lxml's tree (the
  cases are wrapped lazily, on access), so it is shown too, for reference, as is a bare
  lxml ``iterparse`` that reads nothing.
- assay: ``parse_junit`` (rows with status, duration, message, attempt) and
  ``ExecutionStore.add_test_cases`` into a fresh SQLite store in a temporary directory
  (test ids, the summary with flaky counting, the column-wise segment and the detail rows of
  failures and skips, one committed transaction).

For reference it also times the per-row design assay used before migration 0004 (one indexed
``test_cases`` row per attempt): SQLite alone inserting the same rows, prebuilt, with
``executemany`` from Python, and SQLite's engine alone copying them from a staging table
(``INSERT ... SELECT``, no Python at all), the floor of any per-row store on this machine.

Each is run ``--runs`` times, interleaved, after one warm-up; medians are printed, then the
ratio ingest / junitparser (goal: below 1.0). assay's time is parse + store: opening the
fresh store (running its migrations) and creating the execution row are left out, as they
happen once per store and per execution, not per report.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from assay.results.junit import parse_junit
from assay.store import Database, ExecutionStore


def generate(path: Path, cases: int, seed: int = 7) -> None:
    """A pytest-like JUnit report (one <testsuite>, classes of 25 tests, modules of 500)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n')
        out.write(f'<testsuite name="pytest" tests="{cases}">\n')
        for i in range(cases):
            module = i // 500
            classname = f"tests.pkg{module // 20}.test_module{module}.TestGroup{(i // 25) % 20}"
            name = f"test_behaviour_{i}"
            time_s = f"{rng.expovariate(50):.3f}"
            roll = rng.random()
            head = f'<testcase classname="{classname}" name="{name}" time="{time_s}"'
            if roll < 0.02:
                out.write(
                    f'{head}><failure message="AssertionError: assert 1 == 2">'
                    f"def {name}():\n&gt;       assert 1 == 2\nE       AssertionError"
                    "</failure></testcase>\n"
                )
            elif roll < 0.05:
                out.write(
                    f'{head}><skipped type="pytest.skip" message="needs linux">skip'
                    "</skipped></testcase>\n"
                )
            else:
                out.write(f"{head} />\n")
        out.write("</testsuite>\n</testsuites>\n")


def junitparser_parse(path: Path) -> int:
    """junitparser's parse of everything a report needs from each case."""
    from junitparser import JUnitXml

    xml = JUnitXml.fromfile(str(path))
    count = 0
    for suite in xml:
        for case in suite:
            _ = (case.classname, case.name, case.time, case.result)
            count += 1
    return count


def junitparser_fromfile(path: Path) -> int:
    from junitparser import JUnitXml

    JUnitXml.fromfile(str(path))
    return 0


def lxml_iterparse(path: Path) -> int:
    count = 0
    for _, element in etree.iterparse(str(path), tag="testcase"):
        count += 1
        element.clear()
    return count


class Ingest:
    """assay's parse + store, timed separately, into a fresh store each run."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.runs = 0
        self.parse_times: list[float] = []
        self.store_times: list[float] = []

    def __call__(self, path: Path) -> int:
        self.runs += 1
        db = Database(f"sqlite:///{self.work / f'store{self.runs}.db'}")
        try:
            store = ExecutionStore(db)
            execution = store.create("bench", runner="import")
            gc.collect()
            start = time.perf_counter()
            cases = parse_junit(path)
            parsed = time.perf_counter()
            summary = store.add_test_cases(execution.id, "bench", cases)
            stored = time.perf_counter()
        finally:
            db.close()
        self.parse_times.append(parsed - start)
        self.store_times.append(stored - parsed)
        return summary.tests


_PER_ROW_SCHEMA = (
    "CREATE TABLE test_cases (id INTEGER PRIMARY KEY, execution_id VARCHAR(32) NOT NULL,"
    " test_id VARCHAR(16) NOT NULL, workflow VARCHAR(253) NOT NULL, suite TEXT NOT NULL,"
    " classname TEXT NOT NULL, name TEXT NOT NULL, file TEXT, line INTEGER,"
    " status VARCHAR(20) NOT NULL, duration_ms INTEGER NOT NULL, message TEXT,"
    " attempt INTEGER NOT NULL, properties JSON)",
    "CREATE INDEX ix_test_cases_test_execution ON test_cases (test_id, execution_id)",
    "CREATE INDEX ix_test_cases_execution_cover"
    " ON test_cases (execution_id, test_id, attempt, status, duration_ms)",
)
"""The per-row table and indexes of migrations 0001-0003, replaced by 0004."""


class SqliteFloor:
    """Reference: SQLite alone inserting prebuilt rows into the per-row schema assay used
    before migration 0004 (no parsing, no test ids, no summary).

    What a per-row store cannot go below on this machine, whatever the Python side does.
    """

    def __init__(self, work: Path) -> None:
        self.work = work
        self.runs = 0
        self.rows: list[tuple[object, ...]] | None = None
        self.elapsed = 0.0
        self.engine_elapsed = 0.0

    def __call__(self, path: Path) -> int:
        import sqlite3

        from assay.model import test_identity

        if self.rows is None:
            self.rows = [
                (
                    "e" * 32,
                    test_identity("bench", c.suite, c.classname, c.name),
                    "bench",
                    c.suite,
                    c.classname,
                    c.name,
                    c.file,
                    c.line,
                    c.status.value,
                    c.duration_ms,
                    c.message,
                    c.attempt,
                    None,
                )
                for c in parse_junit(path)
            ]
        self.runs += 1
        connection = sqlite3.connect(self.work / f"floor{self.runs}.db")
        try:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
                connection.execute(f"PRAGMA {pragma}")
            for statement in _PER_ROW_SCHEMA:
                connection.execute(statement)
            connection.commit()
            columns = "execution_id, test_id, workflow, suite, classname, name, file, line, "
            columns += "status, duration_ms, message, attempt, properties"
            start = time.perf_counter()
            connection.executemany(
                f"INSERT INTO test_cases ({columns}) VALUES ({', '.join('?' * 13)})", self.rows
            )
            connection.commit()
            self.elapsed = time.perf_counter() - start
            # the engine alone: the same rows copied by SQLite itself from a staging table
            connection.execute(f"CREATE TEMP TABLE staging AS SELECT {columns} FROM test_cases")
            connection.execute("DELETE FROM test_cases")
            connection.commit()
            start = time.perf_counter()
            connection.execute(f"INSERT INTO test_cases ({columns}) SELECT * FROM staging")
            connection.commit()
            self.engine_elapsed = time.perf_counter() - start
        finally:
            connection.close()
        return len(self.rows)


def timed(func: Callable[[Path], int], path: Path) -> float:
    gc.collect()
    start = time.perf_counter()
    func(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assay-bench-ingest-") as tmp:
        work = Path(tmp)
        report = work / "report.xml"
        generate(report, args.cases)
        ingest = Ingest(work)
        floor = SqliteFloor(work)
        floor_times: list[float] = []
        engine_times: list[float] = []
        contenders: dict[str, Callable[[Path], int]] = {
            "junitparser (fromfile + read every case)": junitparser_parse,
            "assay ingest (parse_junit + add_test_cases)": ingest,
            "junitparser fromfile alone (lazy, reference)": junitparser_fromfile,
            "bare lxml iterparse (reference)": lxml_iterparse,
        }
        counts = {name: func(report) for name, func in contenders.items()}  # warm-up
        expected = args.cases
        for name in ("junitparser (fromfile + read every case)", "bare lxml iterparse (reference)"):
            if counts[name] != expected:
                sys.exit(f"{name} saw {counts[name]} cases, expected {expected}")
        if counts["assay ingest (parse_junit + add_test_cases)"] != expected:
            sys.exit("assay stored a different number of tests")
        ingest.parse_times.clear()
        ingest.store_times.clear()
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.runs):
            for name, func in contenders.items():
                times[name].append(timed(func, report))
            floor(report)
            floor_times.append(floor.elapsed)
            engine_times.append(floor.engine_elapsed)
        size = report.stat().st_size / 1e6
    medians = {name: statistics.median(values) for name, values in times.items()}
    # parse + store only: opening a fresh store (migrations) and creating the execution
    # row happen once per store, not per ingest
    medians["assay ingest (parse_junit + add_test_cases)"] = statistics.median(
        p + s for p, s in zip(ingest.parse_times, ingest.store_times, strict=True)
    )
    print(f"{args.cases} test cases, {size:.1f} MB, median of {args.runs} runs")
    for name, value in medians.items():
        print(f"  {name:<48} {value:7.3f} s")
    print(f"    of which parse_junit                          {_median(ingest.parse_times):7.3f} s")
    print(f"    of which add_test_cases (SQLite)              {_median(ingest.store_times):7.3f} s")
    print("  per-row design before 0004 (reference):")
    print(f"    SQLite alone, prebuilt rows, executemany       {_median(floor_times):7.3f} s")
    print(f"    SQLite engine alone, INSERT ... SELECT         {_median(engine_times):7.3f} s")
    ratio = (
        medians["assay ingest (parse_junit + add_test_cases)"]
        / medians["junitparser (fromfile + read every case)"]
    )
    parse_ratio = _median(ingest.parse_times) / medians["junitparser (fromfile + read every case)"]
    verdict = "met" if ratio < 1 else "NOT met"
    print(f"ratio ingest / junitparser parse: {ratio:.2f} (goal < 1.0: {verdict})")
    print(f"ratio parse_junit alone / junitparser parse: {parse_ratio:.2f}")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    main()
