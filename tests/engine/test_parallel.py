"""`parallel` steps against real processes: count, matrix, shards (even and balanced),
parallelism, statuses, timeouts, cancellation, reports, bad definitions."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import RunWorkflow, workflow

from assay.engine.execution import Engine, RunOptions
from assay.engine.parallel_params import resolve_params
from assay.engine.resolve import Catalog
from assay.engine.shard_balance import assign_shards, even_split, item_durations
from assay.errors import DefinitionError
from assay.model import CaseStatus, TestCaseResult
from assay.runners import LocalRunner
from assay.settings import Settings
from assay.spec.workflow import Parallel
from assay.status import ExecutionStatus, StepStatus
from assay.store import Database, ExecutionStore
from assay.store.tables import ExecutionRow
from support import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "parallel-shards.yaml"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A directory for the workers' files (ASSAY_HOME lives beside it)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def _log(settings: Settings, row: ExecutionRow) -> str:
    return (settings.executions_dir / row.id / "log.txt").read_text()


def _steps(db: Database, row: ExecutionRow) -> dict[str, Any]:
    return {s.ref: s for s in ExecutionStore(db).steps(row.id)}


def _wf(name: str, steps: str, extra: str = "") -> str:
    return f"""
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: {name}}}
spec:
  config:
    out: {{type: string, default: ""}}
{extra}
  steps:
{steps}
"""


# --------------------------------------------------------------------------- count, matrix


def test_count_gives_each_worker_its_index(
    run: RunWorkflow, db: Database, assay_home: Settings, out: Path
) -> None:
    row = run(
        _wf(
            "count",
            """
    - name: fan out
      parallel:
        count: 3
        description: "n{{ index }}"
        shell: |
          echo "{{ index }} of {{ count }}" > "{{ config.out }}/{{ index }}"
          echo "hello from {{ index }}"
""",
        ),
        config={"out": str(out)},
    )
    assert row.status == "passed"
    assert {p.name: p.read_text().strip() for p in out.iterdir()} == {
        "0": "0 of 3",
        "1": "1 of 3",
        "2": "2 of 3",
    }
    steps = _steps(db, row)
    assert list(steps) == ["1", "1.w0", "1.w1", "1.w2"]
    assert steps["1.w2"].name == "worker 2: n2"
    assert all(s.status == "passed" for s in steps.values())
    log = _log(assay_home, row)
    for index in range(3):
        assert f"[worker {index}] hello from {index}" in log


def test_matrix_runs_every_combination_with_its_shards(
    run: RunWorkflow, db: Database, out: Path
) -> None:
    row = run(
        _wf(
            "matrix",
            """
    - name: combos
      parallel:
        matrix:
          os: [linux, mac]
          py: ["3.11", "{{ config.newest }}"]
        count: 2
        shell: >
          echo "{{ matrix.os }} {{ matrix.py }} {{ matrixIndex }}/{{ matrixCount }}
          {{ shardIndex }}/{{ shardCount }} {{ count }}" > "{{ config.out }}/{{ index }}"
""",
            "    newest: {type: string, default: '3.12'}",
        ),
        config={"out": str(out)},
    )
    assert row.status == "passed"
    seen = {int(p.name): p.read_text().split() for p in out.iterdir()}
    # the first key varies slowest; the shards of one combination are adjacent
    assert seen == {
        0: ["linux", "3.11", "0/4", "0/2", "8"],
        1: ["linux", "3.11", "0/4", "1/2", "8"],
        2: ["linux", "3.12", "1/4", "0/2", "8"],
        3: ["linux", "3.12", "1/4", "1/2", "8"],
        4: ["mac", "3.11", "2/4", "0/2", "8"],
        5: ["mac", "3.11", "2/4", "1/2", "8"],
        6: ["mac", "3.12", "3/4", "0/2", "8"],
        7: ["mac", "3.12", "3/4", "1/2", "8"],
    }
    assert len(_steps(db, row)) == 9


def test_worker_template_nested_steps_after_env_and_working_dir(
    run: RunWorkflow, db: Database, tmp_path: Path
) -> None:
    (tmp_path / "wd").mkdir()
    row = run(
        _wf(
            "template",
            f"""
    - name: group
      parallel:
        count: 2
        workingDir: {tmp_path / "wd"}
        container:
          env: [{{name: WHO, value: "w{{{{ index }}}}"}}]
        shell: echo "$WHO" > "main-{{{{ index }}}}"
        steps:
          - name: inner
            shell: pwd > "inner-{{{{ index }}}}"
        after:
          - name: cleanup
            condition: always
            shell: echo done > "after-{{{{ index }}}}"
    - name: next
      shell: "true"
""",
        )
    )
    assert row.status == "passed"
    wd = tmp_path / "wd"
    assert (wd / "main-1").read_text().strip() == "w1"
    assert Path((wd / "inner-0").read_text().strip()) == wd
    assert (wd / "after-0").exists() and (wd / "after-1").exists()
    steps = _steps(db, row)
    assert list(steps) == ["1", "1.w0", "1.w0.1", "1.w0.2", "1.w1", "1.w1.1", "1.w1.2", "2"]
    assert steps["1.w1.1"].name == "inner" and steps["1.w1.2"].name == "cleanup"


# --------------------------------------------------------------------------- shards


SHARD_STEP = """
    - name: {name}
      parallel:
        {count}
        shards:
          tests: {items}
        shell: echo '{{{{ tojson(shard.tests) }}}}' > "{{{{ config.out }}}}/{name}-{{{{ index }}}}"
"""


def _shards(out: Path, name: str) -> list[list[str]]:
    files = sorted(out.glob(f"{name}-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    return [json.loads(p.read_text()) for p in files]


def test_shards_split_evenly_without_history(
    run: RunWorkflow, db: Database, assay_home: Settings, out: Path
) -> None:
    steps = SHARD_STEP.format(name="even", count="count: 2", items="[a, b, c, d, e]")
    steps += SHARD_STEP.format(name="capped", count="maxCount: 10", items="[x, y, z]")
    row = run(_wf("even", steps), config={"out": str(out)})
    assert row.status == "passed"
    assert _shards(out, "even") == [["a", "b", "c"], ["d", "e"]]
    assert _shards(out, "capped") == [["x"], ["y"], ["z"]]
    log = _log(assay_home, row)
    assert log.count("shards: even split (no recorded durations), actual ") == 2
    message = _steps(db, row)["1"].message
    assert message is not None and message.startswith("shards: even split")


def _seed(db: Database, workflow_name: str, durations: dict[tuple[str, str], int]) -> None:
    store = ExecutionStore(db)
    row = store.create(workflow_name, runner="local")
    cases = [
        TestCaseResult("pytest", classname, name, CaseStatus.PASSED, duration_ms=ms)
        for (classname, name), ms in durations.items()
    ]
    store.add_test_cases(row.id, workflow_name, cases)
    store.finish(row.id, ExecutionStatus.PASSED)


def test_shards_balanced_by_recorded_durations(
    run: RunWorkflow, db: Database, assay_home: Settings, out: Path
) -> None:
    _seed(
        db,
        "balanced",
        {
            ("tests.test_a", "test_slow"): 9000,
            ("tests.test_a", "test_slow2"): 8000,
            ("tests.test_b", "test_fast"): 100,
            ("tests.test_b", "test_fast2"): 50,
            ("tests.test_big", "test_one"): 3000,
            ("tests.test_big", "test_two"): 3000,
            ("tests.test_huge.TestX", "test_it"): 5000,
            ("tests.test_small", "test_it"): 100,
            ("tests.test_tiny", "test_it"): 50,
        },
    )
    ids = (
        "['tests/test_a.py::test_slow', 'tests/test_a.py::test_slow2', "
        "'tests/test_b.py::test_fast', 'tests/test_b.py::test_fast2']"
    )
    files = (
        "['/data/repo/tests/test_big.py', '/data/repo/tests/test_huge.py', "
        "'/data/repo/tests/test_small.py', '/data/repo/tests/test_tiny.py']"
    )
    steps = SHARD_STEP.format(name="ids", count="count: 2", items=ids)
    steps += SHARD_STEP.format(name="files", count="count: 2", items=files)
    row = run(_wf("balanced", steps), config={"out": str(out)})
    assert row.status == "passed"
    # an even split would give both slow tests (and both big files) to worker 0
    assert _shards(out, "ids") == [
        ["tests/test_a.py::test_slow"],
        [
            "tests/test_a.py::test_slow2",
            "tests/test_b.py::test_fast",
            "tests/test_b.py::test_fast2",
        ],
    ]
    # the shell script sees /data mapped to the workspace, as always on the local runner
    assert [[f.rsplit("/data/", 1)[1] for f in shard] for shard in _shards(out, "files")] == [
        ["repo/tests/test_big.py"],
        ["repo/tests/test_huge.py", "repo/tests/test_small.py", "repo/tests/test_tiny.py"],
    ]
    log = _log(assay_home, row)
    assert "shards balanced by recorded durations" in log
    assert "shards: planned makespan 9.0s (ideal 9.0s), actual " in log
    assert "shards: planned makespan 6.0s (ideal 6.0s), actual " in log
    steps_by_ref = _steps(db, row)
    message = steps_by_ref["2"].message or ""
    found = re.fullmatch(
        r"shards: planned makespan 6\.0s \(ideal 6\.0s\), actual (\S+)s; workers (\S+)s (\S+)s",
        message,
    )
    assert found, message
    actual, *workers = (float(v) for v in found.groups())
    assert actual == max(workers)


def test_item_durations_match_names_node_ids_files_and_directories() -> None:
    history = {
        "tests.test_a::test_x": 10.0,
        "tests.test_a.TestY::test_z": 5.0,
        "tests.unit.test_b::test_w": 7.0,
        "test_c::test_v": 2.0,
    }
    found = item_durations(
        [
            "tests.test_a::test_x",  # as in reports
            "tests/test_a.py::TestY::test_z",  # pytest node id
            "tests/test_a.py",  # a file: the sum of its tests
            "tests/unit",  # a directory
            "/data/repo/tests/unit/test_b.py",  # absolute: its longest matching tail
            "/elsewhere/test_c.py",
            "tests/test_missing.py",
            "plain-word",
        ],
        history,
    )
    assert found == {
        "tests.test_a::test_x": 10.0,
        "tests/test_a.py::TestY::test_z": 5.0,
        "tests/test_a.py": 15.0,
        "tests/unit": 7.0,
        "/data/repo/tests/unit/test_b.py": 7.0,
        "/elsewhere/test_c.py": 2.0,
    }


def test_assign_shards_falls_back_to_the_even_split() -> None:
    assert even_split(["u1", "u2", "u3"], 2) == [["u1", "u2"], ["u3"]]  # Testkube's doc
    assert even_split([1, 2], 4) == [[1], [2], [], []]
    history = {"t::slow": 100.0}
    unmatched = assign_shards({"urls": ["a", "b", "c"]}, 2, history)
    assert not unmatched.balanced and unmatched.items == {"urls": [["a", "b"], ["c"]]}
    mixed = assign_shards({"cases": [{"id": 1}, "t::slow"]}, 2, history)
    assert not mixed.balanced
    balanced = assign_shards({"tests": ["t::a", "t::slow", "t::b"]}, 2, history)
    assert balanced.balanced
    # the unknown tests get the mean (100 ms each); ties go to the lower shard, by name
    assert balanced.shard(0) == {"tests": ["t::a", "t::slow"]}
    assert balanced.shard(1) == {"tests": ["t::b"]}
    assert (balanced.makespan_ms, balanced.ideal_ms) == (200.0, 150.0)


# --------------------------------------------------------------------------- running


def test_parallelism_limits_the_workers_running_at_once(
    run: RunWorkflow, db: Database, out: Path
) -> None:
    row = run(
        _wf(
            "limited",
            """
    - name: limited
      parallel:
        count: 4
        parallelism: 2
        shell: |
          out="{{ config.out }}"
          python -c "import time; print(time.time())" > "$out/start-{{ index }}"
          if [ {{ index }} -lt 2 ]; then
            # the first two workers wait for each other: they must run together
            for i in $(seq 1 300); do
              [ -e "$out/start-0" ] && [ -e "$out/start-1" ] && break
              sleep 0.1
            done
          fi
          sleep 0.3
          python -c "import time; print(time.time())" > "$out/end-{{ index }}"
""",
        ),
        config={"out": str(out)},
    )
    assert row.status == "passed"
    spans = [
        (float((out / f"start-{i}").read_text()), float((out / f"end-{i}").read_text()))
        for i in range(4)
    ]
    overlapping = max(sum(s <= start < e for s, e in spans) for start, _ in spans)
    assert overlapping == 2
    (s0, e0), (s1, e1) = spans[0], spans[1]
    assert s0 < e1 and s1 < e0  # workers 0 and 1 ran together


def test_a_failing_worker_fails_the_step(run: RunWorkflow, db: Database) -> None:
    row = run(
        _wf(
            "failing",
            """
    - name: group
      parallel:
        count: 3
        shell: test {{ index }} -ne 1
    - name: later
      shell: "true"
""",
        )
    )
    steps = _steps(db, row)
    assert row.status == "failed"
    assert {ref: s.status for ref, s in steps.items()} == {
        "1": "failed",
        "1.w0": "passed",
        "1.w1": "failed",
        "1.w2": "passed",
        "2": "skipped",
    }
    assert steps["1.w1"].exit_code == 1


def test_workers_pytest_reports_are_all_ingested(run: RunWorkflow, db: Database) -> None:
    row = run(
        """
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: reports}
spec:
  content:
    files:
      - {path: /data/pytest.ini, content: "[pytest]\\n"}
      - {path: /data/tests/test_one.py, content: "def test_one():\\n    pass\\n"}
      - {path: /data/tests/test_two.py, content: "def test_two():\\n    assert False\\n"}
  container: {workingDir: /data}
  steps:
    - name: sharded
      parallel:
        count: 2
        shards:
          files: 'glob("tests/*.py", "!tests/nothing*")'
        shell: python -m pytest -q -p no:cacheprovider {{ shellquote(shard.files) }}
"""
    )
    cases = ExecutionStore(db).test_cases(row.id)
    assert row.status == "failed"
    assert sorted((c.classname, c.name, c.status) for c in cases) == [
        ("tests.test_one", "test_one", "passed"),
        ("tests.test_two", "test_two", "failed"),
    ]
    steps = _steps(db, row)
    assert (steps["1.w0"].status, steps["1.w1"].status) == ("passed", "failed")


RETRIED = r"""
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: retried}
spec:
  content:
    files:
      - {path: /data/pytest.ini, content: "[pytest]\naddopts = -p no:cacheprovider\n"}
      - path: /data/tests/test_a.py
        content: |
          from pathlib import Path
          def test_stable(): pass
          def test_flaky():
              runs = Path(__file__).with_name("runs")
              n = int(runs.read_text()) + 1 if runs.exists() else 1
              runs.write_text(str(n))
              assert n > 1
      - {path: /data/tests/test_b.py, content: "def test_b(): pass\n"}
  container: {workingDir: /data}
  steps:
    - name: sharded
      retry: {count: 1, scope: failed-tests}
      parallel:
        count: 2
        config:
          greeting: {type: string, default: hello-from-group-config}
        shards: {files: 'glob("tests/*.py")'}
        shell: echo "{{ config.greeting }}"; pytest -q {{ shellquote(shard.files) }}
"""


def test_failed_tests_retry_reruns_only_the_failing_workers_tests(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    row = run(RETRIED)
    assert row.status == "passed"
    assert row.summary["flaky"] == 1
    steps = _steps(db, row)
    assert {ref: s.status for ref, s in steps.items()} == {
        "1": "passed",
        "1.w0": "failed",
        "1.w1": "passed",
        "1.w0-a2": "passed",
    }
    cases = ExecutionStore(db).test_cases(row.id)
    assert sorted((c.name, c.attempt, c.status) for c in cases) == [
        ("test_b", 1, "passed"),
        ("test_flaky", 1, "failed"),
        ("test_flaky", 2, "passed"),
        ("test_stable", 1, "passed"),
    ]
    log = _log(assay_home, row)
    assert "[worker 1] passed in an earlier attempt: not re-run" in log
    assert "[worker 0] hello-from-group-config" in log


def test_step_timeout_reaches_every_worker(run: RunWorkflow, db: Database) -> None:
    row = run(
        _wf(
            "timeouts",
            """
    - name: group
      timeout: 1s
      parallel:
        count: 3
        parallelism: 2
        shell: sleep 30
""",
        )
    )
    assert row.status == "timeout"
    assert {ref: s.status for ref, s in _steps(db, row).items()} == {
        "1": "timeout",
        "1.w0": "timeout",
        "1.w1": "timeout",
        "1.w2": "timeout",
    }


def test_cancel_reaches_every_worker(engine: Engine, db: Database, out: Path) -> None:
    wf = workflow(
        _wf(
            "cancelled",
            """
    - name: group
      parallel:
        count: 2
        shell: echo $$ > "{{ config.out }}/pid-{{ index }}"; sleep 60
""",
        )
    )

    def cancel_when_both_started() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("pid-*"))) < 2:
            time.sleep(0.05)
        time.sleep(0.2)
        engine.cancel()

    threading.Thread(target=cancel_when_both_started, daemon=True).start()
    row = engine.run(wf, RunOptions(config={"out": str(out)}))
    assert row.status == "aborted"
    assert {ref: s.status for ref, s in _steps(db, row).items()} == {
        "1": "aborted",
        "1.w0": "aborted",
        "1.w1": "aborted",
    }
    pidfiles = sorted(out.glob("pid-*"))
    assert [path.name for path in pidfiles] == ["pid-0", "pid-1"]
    for pidfile in pidfiles:
        stat = Path(f"/proc/{int(pidfile.read_text())}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


class _Warnings:
    """An event sink that keeps the warnings."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def execution_started(self, execution_id: str, name: str) -> None: ...
    def step_started(self, ref: str, name: str) -> None: ...
    def log(self, ref: str, line: str) -> None: ...
    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None: ...
    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None: ...

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def test_settings_local_workers_cannot_honour_are_warned_about(
    assay_home: Settings, db: Database
) -> None:
    sink = _Warnings()
    engine = Engine(assay_home, db, LocalRunner(grace_seconds=0.5), Catalog(), sink)
    row = engine.run(
        workflow(
            _wf(
                "warned",
                """
    - name: group
      parallel:
        count: 2
        pod: {labels: {a: b}}
        logs: failed
        shell: "true"
""",
            )
        )
    )
    assert row.status == "passed"
    for key in ("pod", "logs"):
        assert sum(f"`parallel.{key}` is ignored" in w for w in sink.warnings) == 1, key
    assert any("not supported by the local runner" in w for w in sink.warnings)


# --------------------------------------------------------------------------- bad definitions


BAD = [
    ("count: 0", "parallel.count: must be at least 1, got 0"),
    ("count: config.workers", "parallel.count: must be at least 1, got -1"),
    ("count: many", "parallel.count: expression 'many': unknown variable"),
    ("parallelism: 0\n        count: 2", "parallel.parallelism: must be at least 1"),
    ("maxCount: '2.5'", "parallel.maxCount: must be an integer, got '2.5'"),
    ("shards: {files: 3}", "parallel.shards.files: must be a list or an expression"),
    ("matrix: {os: []}", "parallel.matrix.os: is an empty list"),
    ("count: 2\n        shards: {files: 'config.workers'}", "parallel.shards.files: expression"),
]


@pytest.mark.parametrize(("setting", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_definitions_are_rejected_before_the_run(
    engine: Engine, db: Database, setting: str, message: str
) -> None:
    wf = workflow(
        _wf(
            "bad",
            f"""
    - name: first
      shell: "true"
    - name: fan out
      parallel:
        {setting}
        shell: "true"
""",
            "    workers: {type: integer, default: -1}",
        )
    )
    with pytest.raises(DefinitionError) as caught:
        engine.run(wf, RunOptions())
    assert str(caught.value).startswith("step 2 ('fan out'): "), str(caught.value)
    assert message in str(caught.value)
    assert ExecutionStore(db).recent() == []


def test_definition_errors_known_only_at_run_time_error_the_step(
    run: RunWorkflow, db: Database
) -> None:
    row = run(
        _wf(
            "late",
            """
    - name: nothing to shard
      parallel:
        maxCount: 3
        shards: {files: 'glob("no/such/*.py")'}
        shell: "true"
""",
        )
    )
    step = _steps(db, row)["1"]
    assert (row.status, step.status) == ("error", "error")
    assert "parallel.shards.files: is an empty list" in (step.message or "")


def test_partial_check_leaves_run_time_expressions_alone() -> None:
    group = Parallel.model_validate(
        {"count": "env.N", "matrix": {"f": 'glob("*.py")'}, "shards": {"x": [1, 2]}}
    )
    assert resolve_params(group, "step 1", {"config": {}}, partial=True) is None
    with pytest.raises(DefinitionError, match=r"step 1: parallel\.count: expression 'env\.N'"):
        resolve_params(group, "step 1", {"config": {}})


def _cli(assay_home: Settings, tmp_path: Path) -> Cli:
    env = {**os.environ, "ASSAY_HOME": str(assay_home.home)}
    env.pop("PYTEST_ADDOPTS", None)
    return Cli(env, tmp_path)


def test_cli_exits_2_naming_the_step_and_field(assay_home: Settings, tmp_path: Path) -> None:
    cli = _cli(assay_home, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        _wf(
            "bad-cli",
            """
    - name: fan out
      parallel:
        shards: {files: 3}
        shell: "true"
""",
        )
    )
    done = cli("run", "-f", str(bad), check=2)
    assert "step 1 ('fan out'): parallel.shards.files: must be a list" in done.stderr
    assert cli.json("get", "executions") == []


def test_example_workflow_runs_then_balances(assay_home: Settings, tmp_path: Path) -> None:
    cli = _cli(assay_home, tmp_path)
    logs = []
    for _ in range(2):
        result = cli.json("run", "-f", str(EXAMPLE))
        assert result["status"] == "passed"
        assert result["summary"]["tests"] == 9
        assert [s["ref"] for s in result["steps"]] == ["1", "1.w0", "1.w1"]
        logs.append((assay_home.executions_dir / result["id"] / "log.txt").read_text())
    assert "shards: even split (no recorded durations), actual " in logs[0]
    # the two slow files (api, billing) start on one worker, then are put apart
    assert (
        "[worker 0] files: 3 item(s) /data/tests/test_api.py, /data/tests/test_billing.py"
        in (logs[0])
    )
    assert "shards: planned makespan " in logs[1]
    shards = [line for line in logs[1].splitlines() if "item(s)" in line]
    assert len(shards) == 2
    assert all(("test_api.py" in line) != ("test_billing.py" in line) for line in shards)


def test_transfer_and_fetch_copy_files_on_the_local_runner(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    row = run(
        """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: transfers}
spec:
  content:
    files:
      - {path: /data/in/a.txt, content: "A"}
      - {path: /data/in/b.log, content: "B"}
  steps:
    - name: group
      parallel:
        count: 2
        transfer: [{from: /data/in, to: "/data/w{{ index }}/in", files: ["*.txt"]}]
        fetch: [{from: "/data/w{{ index }}/in/a.txt", to: "/data/out/a-{{ index }}.txt"}]
        shell: |
          test -e /data/w{{ index }}/in/a.txt && test ! -e /data/w{{ index }}/in/b.log
          echo "{{ index }}" >> /data/w{{ index }}/in/a.txt
    - name: check
      shell: cat /data/out/a-0.txt /data/out/a-1.txt
"""
    )
    log = (assay_home.executions_dir / row.id / "log.txt").read_text()
    assert row.status == "passed", log
    assert "\nA0\nA1\n" in log  # each worker's copy, changed, fetched back
    assert "parallel.transfer: /data/in -> /data/w1/in (1 file(s))" in log


def test_a_transfer_of_nothing_is_an_error_naming_the_field(run: RunWorkflow) -> None:
    row = run(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: no-source}\nspec:\n  steps:\n"
        "    - {name: g, parallel: {count: 1, transfer: [{from: /data/absent}], shell: 'true'}}\n"
    )
    assert row.status == "error"
    assert row.error is not None
    assert "parallel.transfer[0]: /data/absent does not exist" in row.error
