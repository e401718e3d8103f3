"""Start-up cost of `assay` commands, against `python -c pass` and plain pytest, same run.

Usage: python bench/startup.py [--runs N] [--tests N] [--before DIR]

Every command runs as a real process with bytecode caches in use (PYTHONDONTWRITEBYTECODE
is removed from the environment, as users have caches), interleaved, ``--runs`` times
after one warm-up, on a store holding a few executions. It prints medians and ratios:
each command against `python -c pass` (the interpreter's floor) and its cost above that
floor, the import floors of the libraries the CLI keeps (typer, pydantic, SQLAlchemy's
Core and ORM), and `assay run` of a real pytest suite against plain pytest on the same suite.
``--before DIR`` also runs every assay command from another checkout's ``src`` (the code
before a change, through PYTHONPATH), interleaved with the current code, on the same store.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import WORKFLOW, make_suite

NOOP = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: noop}
spec:
  steps:
    - name: noop
      shell: 'true'
"""

GOAL_SECONDS = 0.25
"""Goal for --help, get, logs and validate."""
GOAL_COMMANDS = (
    "assay --help",
    "assay validate",
    "assay get executions",
    "assay logs",
    "assay logs (full id)",
)
RUN_OVERHEAD_GOAL = 0.3
"""Goal for `assay run` over plain pytest."""


def timed(argv: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--before", type=Path, help="also run this checkout's src")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    python, assay = sys.executable, str(bin_dir / "assay")
    work = Path(tempfile.mkdtemp(prefix="assay-startup-"))
    try:
        suite = work / "suite"
        make_suite(suite, args.tests)
        (work / "wf.yaml").write_text(WORKFLOW)
        (work / "noop.yaml").write_text(NOOP)
        env = {**os.environ, "ASSAY_HOME": str(work / "home")}
        for name in ("PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS"):
            env.pop(name, None)
        before_env = {**env, "PYTHONPATH": str(args.before.resolve())} if args.before else None
        for _ in range(3):  # a store with a few executions
            timed([assay, "run", "-f", str(work / "noop.yaml")], work, env)
        last = subprocess.run(
            [assay, "run", "-f", str(work / "noop.yaml"), "-o", "json"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        ended_id = json.loads(last.stdout)["id"]
        wf = str(work / "wf.yaml")
        commands: dict[str, list[str]] = {
            "python -c pass": [python, "-c", "pass"],
            "import typer": [python, "-c", "import typer"],
            "import pydantic": [python, "-c", "import pydantic"],
            "import sqlalchemy": [python, "-c", "import sqlalchemy"],
            "import sqlalchemy.orm": [python, "-c", "import sqlalchemy.orm"],
            "assay --help": [assay, "--help"],
            "assay --version": [assay, "--version"],
            "assay validate": [assay, "validate", "-f", wf],
            "assay get executions": [assay, "get", "executions"],
            "assay logs": [assay, "logs", "noop-1"],
            "assay logs (full id)": [assay, "logs", ended_id],
            "assay run (no-op step)": [assay, "run", "-f", str(work / "noop.yaml")],
            "plain pytest": [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"],
            "assay run (pytest suite)": [assay, "run", "-f", wf, "--source", str(suite)],
        }
        variants = [("now", env)] + ([("before", before_env)] if before_env else [])
        jobs = [
            (name, label, argv, job_env)
            for name, argv in commands.items()
            for label, job_env in (variants if argv[0] == assay else variants[:1])
        ]
        times: dict[tuple[str, str], list[float]] = {(n, label): [] for n, label, _, _ in jobs}
        for _, label, argv, job_env in jobs:  # warm-up: bytecode caches, page cache
            timed(argv, suite, job_env, check=label == "now")
        for _ in range(args.runs):  # interleaved so drift hits all alike
            for name, label, argv, job_env in jobs:  # (the code before had no --version)
                times[(name, label)].append(timed(argv, suite, job_env, check=label == "now"))
        med = {key: statistics.median(values) for key, values in times.items()}
        report(med, args.runs, args.tests, [label for label, _ in variants])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(med: dict[tuple[str, str], float], runs: int, tests: int, labels: list[str]) -> None:
    """Print the medians, ratios and goals."""
    floor = med[("python -c pass", "now")]
    print(f"{runs} runs each, medians (s); x pass = ratio to `python -c pass`")
    print(f"{'command':26}" + "".join(f" {label:>7} {'x pass':>6}" for label in labels))
    for name, label in med:
        if label != "now" or name in ("plain pytest", "assay run (pytest suite)"):
            continue
        row = f"{name:26}"
        for variant in labels:
            value = med.get((name, variant))
            row += f" {value:7.3f} {value / floor:6.1f}" if value else f" {'':7} {'':6}"
        if name in GOAL_COMMANDS:
            row += "  ok" if med[(name, "now")] <= GOAL_SECONDS else f"  over {GOAL_SECONDS} s"
        print(row)
    plain = med[("plain pytest", "now")]
    print(f"plain pytest ({tests} tests) {plain:7.3f}")
    for variant in labels:
        run = med[("assay run (pytest suite)", variant)]
        verdict = "ok" if run - plain <= RUN_OVERHEAD_GOAL else "over"
        print(
            f"assay run, same suite ({variant}): {run:.3f}  ratio {run / plain:.2f}x  "
            f"overhead {run - plain:+.3f} s (goal {RUN_OVERHEAD_GOAL} s: {verdict})"
        )


if __name__ == "__main__":
    main()
