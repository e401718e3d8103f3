"""Overhead of `assay run` (local runner) over plain `pytest` on the same real suite.

Usage: python bench/overhead.py [--runs N] [--tests N]
Prints the median wall time of each, their ratio and the absolute overhead, and the
floor: a bare interpreter importing only what `assay run` needs before its first step can
start (the store's ORM tables, the workflow models, typer), measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: bench-overhead}
spec:
  container: {workingDir: /data/repo}
  steps:
    - name: pytest
      shell: pytest -q -p no:cacheprovider
"""


FLOOR_IMPORTS = "import sqlalchemy.orm, assay.store.tables, assay.spec.workflow, typer"


def make_suite(root: Path, tests: int) -> None:
    """A real pytest project: ``tests`` small tests over a few modules, no installs."""
    (root / "tests").mkdir(parents=True)
    per_module = 25
    for module in range(max(1, tests // per_module)):
        body = "\n".join(
            f"def test_{module}_{i}():\n    assert sum(range({i})) == {i * (i - 1) // 2}\n"
            for i in range(per_module)
        )
        (root / "tests" / f"test_m{module}.py").write_text(body)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tests", type=int, default=100)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    try:
        suite = work / "suite"
        make_suite(suite, args.tests)
        (work / "wf.yaml").write_text(WORKFLOW)
        env = {**os.environ, "ASSAY_HOME": str(work / "home")}
        env.pop("PYTEST_ADDOPTS", None)
        pytest_cmd = [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"]
        assay_cmd = [
            str(bin_dir / "assay"),
            "run",
            "-f",
            str(work / "wf.yaml"),
            "--source",
            str(suite),
        ]
        timed(assay_cmd, suite, env)  # warm-up: creates and migrates the store
        timed(pytest_cmd, suite, env)
        floor_cmd = [sys.executable, "-c", FLOOR_IMPORTS]
        bare_cmd = [sys.executable, "-c", "pass"]
        plain, assay, floor, bare = [], [], [], []
        for _ in range(args.runs):  # interleaved so drift hits all alike
            plain.append(timed(pytest_cmd, suite, env))
            assay.append(timed(assay_cmd, suite, env))
            floor.append(timed(floor_cmd, suite, env))
            bare.append(timed(bare_cmd, suite, env))
        p, a = statistics.median(plain), statistics.median(assay)
        f = statistics.median(floor) - statistics.median(bare)
        print(f"suite: {args.tests} tests, {args.runs} runs each, medians")
        print(f"plain pytest     {p:.3f} s")
        print(f"assay run        {a:.3f} s")
        print(f"ratio            {a / p:.2f}x")
        print(f"overhead         {a - p:+.3f} s   (goal: < 0.300 s)")
        print(f"floor            {f:+.3f} s   (imports needed before the first step)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
