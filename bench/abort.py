"""Ctrl-C latency: SIGINT to exit of `assay run` vs plain `pytest`, both in a sleeping test.

Usage: python bench/abort.py [--runs N]
Each process is started, left until its test is running (it writes a marker file), sent
SIGINT, and timed from the signal to its exit. Nothing is left to clean up (no `after`
steps). Prints the median latency of each and their ratio; the goal is < 1 s for assay.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: bench-abort}
spec:
  container: {workingDir: /data/repo}
  steps:
    - name: pytest
      shell: pytest -q -p no:cacheprovider
"""

TEST = """\
import pathlib, time

def test_sleeps():
    pathlib.Path({marker!r}).write_text("running")
    time.sleep(120)
"""


def interrupted(argv: list[str], cwd: Path, env: dict[str, str], marker: Path) -> float:
    """Seconds from SIGINT to exit, once ``marker`` shows the test is running."""
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"{argv[0]} did not start its test: {proc.communicate()[1]}")
        time.sleep(0.01)
    time.sleep(0.1)
    start = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (2, 130):  # pytest: 2 (interrupted); assay: 130
        sys.exit(f"{argv[0]} exited {proc.returncode}: {proc.communicate()[1]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    try:
        suite, marker = work / "suite", work / "running"
        suite.mkdir()
        (suite / "test_sleep.py").write_text(TEST.format(marker=str(marker)))
        (work / "wf.yaml").write_text(WORKFLOW)
        env = {**os.environ, "ASSAY_HOME": str(work / "home")}
        env.pop("PYTEST_ADDOPTS", None)
        pytest_cmd = [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"]
        assay_cmd = [str(bin_dir / "assay"), "run", "-f", str(work / "wf.yaml")]
        assay_cmd += ["--source", str(suite)]
        interrupted(assay_cmd, suite, env, marker)  # warm-up: creates and migrates the store
        plain, assay = [], []
        for _ in range(args.runs):  # interleaved so drift hits both alike
            plain.append(interrupted(pytest_cmd, suite, env, marker))
            assay.append(interrupted(assay_cmd, suite, env, marker))
        p, a = statistics.median(plain), statistics.median(assay)
        print(f"SIGINT to exit, {args.runs} runs each, medians (min-max)")
        print(f"plain pytest     {p:.3f} s   ({min(plain):.3f}-{max(plain):.3f})")
        print(f"assay run        {a:.3f} s   ({min(assay):.3f}-{max(assay):.3f})   (goal: < 1 s)")
        print(f"ratio            {a / p:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
