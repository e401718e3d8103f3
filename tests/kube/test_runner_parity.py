"""The shared contract of the runners, at the level the Kubernetes runner works: one workflow
(config, env, retries, optional and negative steps, a condition, a timeout, an `after` step)
run by `assay run` on the local, docker and kubernetes runners (the last against the API
stand-in, its Pods on Docker) ends the same way on all three: the same status, the same
status, attempts and exit code for every step, the same lines from the steps; and a pytest
step retried once records the same test cases of each attempt (a flaky test found), the
same summary and the same artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from standin import StandIn
from test_kube_execute import DEFINITIONS
from test_live import PARALLEL, wait_until_gone, write

from support import Cli

FLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: parity}
spec:
  config:
    who: {type: string, default: world}
  container:
    image: "IMAGE"
    workingDir: /data
    env:
      - {name: LEVEL, value: high}
  steps:
    - name: greet
      shell: echo "hello {{ config.who }} at $LEVEL"
    - name: flaky
      retry: {count: 2}
      shell: >-
        n=$(cat tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > tries;
        echo "attempt $n"; [ "$n" -ge 2 ]
    - name: optional
      optional: true
      shell: echo "optional fails"; exit 4
    - name: negative
      negative: true
      shell: exit 1
    - name: on-failure
      condition: failed
      shell: echo "on-failure ran"
    - name: slow
      timeout: 2s
      shell: echo "slow starts"; sleep 30
    - name: after-slow
      shell: echo "after-slow ran"
  after:
    - name: cleanup
      condition: always
      shell: echo "cleanup ran"
"""
LINES = (
    "hello parity at high",
    "attempt 1",
    "attempt 2",
    "optional fails",
    "slow starts",
    "cleanup ran",
)
NOT_RUN = ("on-failure ran", "after-slow ran")
TESTS = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: parity-tests}
spec:
  container:
    image: "IMAGE"
  content:
    files:
      - path: /data/repo/test_numbers.py
        content: |
          import os

          def test_adds():
              assert 1 + 1 == 2

          def test_breaks():
              assert 2 + 2 == 5

          def test_flaky():
              if not os.path.exists("flaky-mark"):
                  open("flaky-mark", "w").close()
                  raise AssertionError("first time")
  steps:
    - name: tests
      workingDir: /data/repo
      retry: {count: 1}
      shell: >-
        mkdir -p out && echo "notes of $(cat flaky-mark 2>/dev/null || echo none)" > out/notes.txt
        && python3 -m pytest -q -p no:cacheprovider
      artifacts:
        paths: [out/*.txt]
"""
RUNNERS = ("local", "docker", "kubernetes")


def _run(cli: Cli, wf: Path, runner: str, *extra: str) -> tuple[dict[str, Any], str, str]:
    """The execution as `-o json` shows it, its log, and what `assay run` said on stderr."""
    args = ["run", "-f", str(wf), *extra, "--runner", runner, "-o", "json"]
    if runner == "kubernetes":
        args += ["--namespace", "tests"]
    done = cli(*args, check=None)
    assert done.returncode == 1, (runner, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    return result, cli("logs", result["id"]).stdout, done.stderr


def _steps(result: dict[str, Any]) -> dict[str, tuple[str, int, int | None]]:
    """Each step of the workflow (not assay's own, such as writing content): status,
    attempts, exit code."""
    names = {"greet", "flaky", "optional", "negative", "on-failure", "slow", "after-slow"}
    return {
        step["name"]: (step["status"], step.get("attempts") or 1, step.get("exitCode"))
        for step in result["steps"]
        if step["name"] in names | {"cleanup"}
    }


@pytest.mark.slow
def test_one_workflow_ends_the_same_way_on_every_runner(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    wf = tmp_path / "parity.yaml"
    wf.write_text(FLOW.replace("IMAGE", docker_image), encoding="utf-8")
    outcomes = {runner: _run(cli, wf, runner, "-c", "who=parity") for runner in RUNNERS}
    local, _, said = outcomes["local"]
    assert local["status"] == "timeout"
    assert said.count("is ignored by the local runner") == 1, said  # not once per step
    assert _steps(local) == {
        "greet": ("passed", 1, 0),
        "flaky": ("passed", 2, 0),
        "optional": ("failed", 1, 4),
        "negative": ("passed", 1, 1),
        "on-failure": ("skipped", 1, None),
        "slow": ("timeout", 1, None),
        "after-slow": ("skipped", 1, None),
        "cleanup": ("passed", 1, 0),
    }
    for runner, (result, log, _) in outcomes.items():
        assert (result["status"], result["runner"]) == ("timeout", runner)
        assert _steps(result) == _steps(local), runner
        for line in LINES:
            assert line in log, (runner, line, log)
        for line in NOT_RUN:
            assert line not in log, (runner, line, log)
    assert wait_until_gone(standin) == {}


@pytest.mark.slow
def test_test_cases_of_every_attempt_and_artifacts_are_the_same_on_every_runner(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    wf = tmp_path / "parity-tests.yaml"
    wf.write_text(TESTS.replace("IMAGE", docker_image), encoding="utf-8")
    seen: dict[str, tuple[object, ...]] = {}
    for runner in RUNNERS:
        result, log, _ = _run(cli, wf, runner)
        cases = cli.json("get", "testcases", result["id"])
        listed = cli("artifacts", result["id"]).stdout.split()
        download = tmp_path / runner
        cli("artifacts", result["id"], "--download", str(download))
        seen[runner] = (
            result["status"],
            [
                (step["status"], step["attempts"])
                for step in result["steps"]
                if step["name"] == "tests"
            ],
            {key: result["summary"][key] for key in ("tests", "passed", "failed", "flaky")},
            sorted((case["name"], case["status"], case["attempt"]) for case in cases),
            listed[0],
            (download / "out" / "notes.txt").read_text(encoding="utf-8"),
            "1 failed, 2 passed" in log,
        )
    assert seen["local"] == (
        "failed",
        [("failed", 2)],
        {"tests": 3, "passed": 2, "failed": 1, "flaky": 1},
        [
            ("test_adds", "passed", 1),
            ("test_adds", "passed", 2),
            ("test_breaks", "failed", 1),
            ("test_breaks", "failed", 2),
            ("test_flaky", "failed", 1),
            ("test_flaky", "passed", 2),
        ],
        "out/notes.txt",
        "notes of \n",
        True,
    )
    assert seen["docker"] == seen["local"]
    assert seen["kubernetes"] == seen["local"]
    assert wait_until_gone(standin) == {}


def _outline(result: dict[str, Any]) -> list[tuple[str, str, str, int | None]]:
    """Every step but the Kubernetes runner's own content steps (``REF-files``): ref, name,
    status, exit code."""
    return [
        (step["ref"], step["name"], step["status"], step.get("exitCode"))
        for step in result["steps"]
        if not step["ref"].endswith("-files")
    ]


@pytest.mark.slow
def test_a_parallel_step_ends_the_same_way_on_every_runner(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    """test_live's PARALLEL: three workers, one failing test, `after` steps per worker. The
    docker and kubernetes workers each have their own /data (artifacts per worker); the
    local ones share the workspace (the artifact once)."""
    wf = write(tmp_path, docker_image, PARALLEL)
    seen = {}
    for runner in RUNNERS:
        result, log, _ = _run(cli, wf, runner)
        cases = cli.json("get", "testcases", result["id"])
        seen[runner] = (
            result["status"],
            _outline(result),
            {key: result["summary"][key] for key in ("tests", "passed", "failed")},
            sorted((case["name"], case["status"]) for case in cases),
            sorted(
                line.split("\t")[0]
                for line in cli("artifacts", result["id"]).stdout.split("\n")
                if line
            ),
        )
        for index in range(3):
            assert f"[worker {index}] worker {index} of 3" in log, (runner, log)
            assert f"[worker {index}] tidy {index}" in log, (runner, log)
    assert seen["local"][:4] == seen["docker"][:4] == seen["kubernetes"][:4]
    assert (
        seen["docker"][4]
        == seen["kubernetes"][4]
        == [f"workers/2.w{index}/test_shard.py" for index in range(3)]
    )
    assert seen["local"][4] == ["test_shard.py"]
    assert wait_until_gone(standin) == {}


@pytest.mark.slow
def test_an_execute_step_ends_the_same_way_on_every_runner(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    """test_kube_execute's suite: two child workflows, one failing, then an `always` step."""
    wf = tmp_path / "suite.yaml"
    wf.write_text(DEFINITIONS.replace("IMAGE", docker_image), encoding="utf-8")
    seen = {}
    for runner in RUNNERS:
        result, log, _ = _run(cli, wf, runner, "suite")
        children = [
            row for row in cli.json("get", "executions") if row.get("parentId") == result["id"]
        ]
        seen[runner] = (
            result["status"],
            _outline(result),
            sorted((row["workflow"], row["status"], row["runner"]) for row in children),
        )
        assert "suite starts" in log and "suite cleanup" in log, (runner, log)
        for row in children:
            assert f"child {row['name']}: {row['status']}" in log, (runner, log)
    assert seen["local"][:2] == seen["docker"][:2] == seen["kubernetes"][:2]
    for runner, (_, _, children) in seen.items():
        assert children == [
            ("child-fail", "failed", runner),
            ("child-pass", "passed", runner),
        ], runner
    assert wait_until_gone(standin) == {}
