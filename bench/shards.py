"""Shard-plan quality on the recorded durations of a real suite, against pytest-split.

Usage: python bench/shards.py [--runs N] [--shards 2,4,8] [--junit FILE ...] [-- PYTEST ARGS]

The durations are recorded, not invented: by default this repository's own
``tests/spec tests/results tests/engine tests/testing`` (about 500 tests: parser and model
tests of a millisecond, engine tests running real processes and a PostgreSQL server of
seconds) run under pytest ``--runs`` times (default 3), each with ``--junit-xml``; or give
JUnit reports of any suite with ``--junit``.  Test names are
``classname::name`` as assay stores them.

Two comparisons, for each shard count:

same durations
    Both planners get the durations of the last run, and their plans are scored on those
    same durations: makespan / ideal, where ideal = max(total / shards, longest test), a
    lower bound of any plan.  pytest-split's ``least_duration`` is imported from
    ``pytest_split.algorithms`` and called on the same durations (its ``duration_based_chunks``,
    the plugin's default, is shown too).
holdout
    The realistic case: plans come from the earlier runs and are scored on the last run's
    durations.  assay plans from the median of each test's earlier durations; pytest-split
    from the durations it would have stored (``--store-durations`` keeps the latest run's).
    Needs ``--runs`` of at least 2.

Goal: assay's makespan within 10% of ideal (ratio <= 1.10).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

from assay.analytics.sharding import plan_shards
from assay.model import display_name
from assay.results.junit import parse_junit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUITE = ["tests/spec", "tests/results", "tests/engine", "tests/testing"]

Durations = dict[str, float]  # test -> ms
Planner = Callable[[Sequence[str], Mapping[str, float], int], list[list[str]]]


def record_runs(runs: int, pytest_args: list[str], work: Path) -> list[Durations]:
    """Run the suite ``runs`` times with --junit-xml; durations of each run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    recorded = []
    for index in range(runs):
        report = work / f"run{index}.xml"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        argv += ["-p", "no:xdist", f"--junit-xml={report}", *pytest_args]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 1) or not report.exists():
            sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr}")
        recorded.append(durations_of(report))
        total = sum(recorded[-1].values()) / 1000
        print(f"  run {index + 1}: {len(recorded[-1])} tests, {total:.1f} s")
    return recorded


def durations_of(report: Path) -> Durations:
    """Test time of each test in a JUnit report (every attempt), in ms."""
    spent: Durations = {}
    for case in parse_junit(report):
        key = display_name(case.classname, case.name)
        spent[key] = spent.get(key, 0.0) + case.duration_ms
    return spent


def assay_plan(
    tests: Sequence[str], durations: Mapping[str, float], shards: int
) -> list[list[str]]:
    plan = plan_shards(tests, durations, shards)
    return [list(shard.tests) for shard in plan.shards]


def _pytest_split(name: str) -> Planner:
    def plan(tests: Sequence[str], durations: Mapping[str, float], shards: int) -> list[list[str]]:
        from pytest_split.algorithms import Algorithms

        algorithm = Algorithms[name].value
        items = [SimpleNamespace(nodeid=test) for test in tests]  # all it reads of an item
        seconds = {test: ms / 1000 for test, ms in durations.items()}
        groups = algorithm(shards, items, seconds)  # type: ignore[arg-type]
        return [[item.nodeid for item in group.selected] for group in groups]

    return plan


PLANNERS: dict[str, Planner] = {
    "assay LPT": assay_plan,
    "pytest-split least_duration": _pytest_split("least_duration"),
    "pytest-split duration_based_chunks": _pytest_split("duration_based_chunks"),
}


def score(groups: list[list[str]], actual: Mapping[str, float], shards: int) -> float:
    """makespan / ideal of a plan on ``actual`` durations."""
    planned = [t for group in groups for t in group]
    if sorted(planned) != sorted(actual):
        raise AssertionError("a planner lost or duplicated tests")
    makespan = max(sum(actual[t] for t in group) for group in groups)
    ideal = max(sum(actual.values()) / shards, max(actual.values()))
    return makespan / ideal if ideal else 1.0


def median_history(runs: list[Durations]) -> Durations:
    tests = {t for run in runs for t in run}
    return {t: statistics.median([run[t] for run in runs if t in run]) for t in tests}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shards", default="2,4,8")
    parser.add_argument("--junit", nargs="+", type=Path, help="use these reports, one per run")
    parser.add_argument("pytest_args", nargs="*", help="suite to run (after --)")
    args = parser.parse_args()
    counts = [int(n) for n in args.shards.split(",")]
    if args.junit:
        runs = [durations_of(path) for path in args.junit]
    else:
        print(
            f"recording {args.runs} run(s) of pytest {' '.join(args.pytest_args or DEFAULT_SUITE)}"
        )
        with tempfile.TemporaryDirectory(prefix="assay-bench-shards-") as tmp:
            runs = record_runs(args.runs, args.pytest_args or DEFAULT_SUITE, Path(tmp))
    last = runs[-1]
    tests = sorted(last)
    values = sorted(last.values(), reverse=True)
    print(
        f"{len(tests)} tests, total {sum(values) / 1000:.2f} s, longest {values[0] / 1000:.3f} s, "
        f"median {statistics.median(values):.0f} ms"
    )
    width = max(len(name) for name in PLANNERS)
    print("\nsame durations: makespan / ideal on the last run's durations")
    print(f"  {'shards':<{width}} " + " ".join(f"{n:>7}" for n in counts))
    for name, planner in PLANNERS.items():
        cells = [score(planner(tests, last, n), last, n) for n in counts]
        print(f"  {name:<{width}} " + " ".join(f"{c:7.3f}" for c in cells))
    if len(runs) >= 2:
        history = runs[:-1]
        inputs = {
            "assay LPT": median_history(history),
            "pytest-split least_duration": history[-1],
            "pytest-split duration_based_chunks": history[-1],
        }
        print(
            f"\nholdout: planned from runs 1-{len(history)}, scored on run {len(runs)} "
            "(assay: median of earlier runs; pytest-split: latest stored durations)"
        )
        print(f"  {'shards':<{width}} " + " ".join(f"{n:>7}" for n in counts))
        for name, planner in PLANNERS.items():
            cells = [score(planner(tests, inputs[name], n), last, n) for n in counts]
            print(f"  {name:<{width}} " + " ".join(f"{c:7.3f}" for c in cells))
    worst = max(score(assay_plan(tests, last, n), last, n) for n in counts)
    verdict = "met" if worst <= 1.10 else "NOT met"
    print(f"\nassay worst makespan / ideal (same durations): {worst:.3f} (goal <= 1.10: {verdict})")


if __name__ == "__main__":
    main()
