"""A TestSuite runs batches in order and tests of a batch in parallel; Ctrl-C aborts a run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from cli_support import ASSAY, Cli

TESTS = """\
apiVersion: tests.testkube.io/v3
kind: Test
metadata: {name: first}
spec:
  type: pytest/test
  content: {type: string, data: "def test_first():\\n    pass\\n"}
---
apiVersion: tests.testkube.io/v3
kind: Test
metadata: {name: second}
spec:
  type: pytest/test
  content: {type: string, data: "def test_second():\\n    assert False, 'second fails'\\n"}
---
apiVersion: tests.testkube.io/v3
kind: Test
metadata: {name: third}
spec:
  type: pytest/test
  content: {type: string, data: "def test_third():\\n    pass\\n"}
"""

SUITE = """\
apiVersion: tests.testkube.io/v3
kind: TestSuite
metadata: {name: nightly}
spec:
  steps:
    - stopOnFailure: {stop}
      execute:
        - test: first
        - test: second
    - execute:
        - test: third
"""


def run_suite(cli: Cli, tmp_path: Path, stop: str) -> dict:  # type: ignore[type-arg]
    path = tmp_path / f"suite-{stop}.yaml"
    path.write_text(TESTS + "---\n" + SUITE.replace("{stop}", stop))
    done = cli("run", "-f", str(path), "nightly", "-o", "json")
    assert done.returncode == 1, done.stderr
    result: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    return result


def test_suite_batches_children_and_stop_on_failure(cli: Cli, tmp_path: Path) -> None:
    carry_on = run_suite(cli, tmp_path, "false")
    assert carry_on["status"] == "failed"
    assert [s["status"] for s in carry_on["steps"]] == ["failed", "passed"]
    assert carry_on["summary"]["tests"] == 3 and carry_on["summary"]["failed"] == 1
    children = {e["workflow"]: e for e in cli.json("get", "executions", "-o", "json")}
    assert {"first", "second", "third"} <= set(children)
    assert children["second"]["parentId"] == carry_on["id"]
    assert children["second"]["status"] == "failed"

    stopped = run_suite(cli, tmp_path, "true")
    assert [s["status"] for s in stopped["steps"]] == ["failed", "skipped"]
    assert stopped["summary"]["tests"] == 2


def test_ctrl_c_aborts_the_execution_and_its_processes(cli: Cli, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    path = tmp_path / "slow.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: slow}\nspec:\n  steps:\n"
        f"    - shell: echo $$ > {pidfile}; sleep 120\n"
    )
    proc = subprocess.Popen(
        [ASSAY, "run", "-f", str(path), "--watch"],
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pidfile.exists(), "the step never started"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)  # 128 + SIGINT
    assert "interrupted by SIGINT: execution slow-1 aborted" in err
    execution = cli.json("get", "executions", "-o", "json")[0]
    assert execution["status"] == "aborted"
    pid = int(pidfile.read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
