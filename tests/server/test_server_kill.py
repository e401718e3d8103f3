"""The acceptance test of the control plane for the server itself: `assay server` with
in-process workers is killed with ``kill -9`` while 20 executions are in flight, then
started again on the same store: every execution reaches a true terminal state within a
minute, none runs twice, no step process is left."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import httpx
import pytest

from assay.envvars import EXIT_FILE
from assay.processes import pids_with_env, start_time
from assay.status import ExecutionStatus
from server_support import ApiServer, database_url, running_server

SLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: slow}
spec:
  config:
    seconds: {type: integer, default: 2}
  steps:
    - shell: echo "{{ execution.id }} $$" >> {marks}/runs; sleep {{ config.seconds }}
  after:
    - condition: always
      shell: echo "{{ execution.id }}" >> {marks}/cleaned
"""


def _runs(marks: Path) -> list[tuple[str, int]]:
    path = marks / "runs"
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(parts[0], int(parts[1])) for parts in lines if len(parts) == 2]


def _wait(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout} s"
        time.sleep(0.1)


def _execution(client: httpx.Client, execution_id: str) -> dict[str, object]:
    answer = client.get(f"/v1/test-workflow-executions/{execution_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _statuses(server: ApiServer, ids: list[str]) -> list[str]:
    with server.client("read") as client:
        return [str(_execution(client, execution_id)["status"]) for execution_id in ids]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_of_the_server_with_twenty_runs_in_flight_then_restart(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    home, url = tmp_path / "home", database_url(request, backend, tmp_path)
    (tmp_path / "slow.yaml").write_text(SLOW.replace("{marks}", str(marks)))
    with running_server(home, url, workers=8) as first:
        first.cli("apply", "-f", str(tmp_path / "slow.yaml"))
        tokens = dict(first.tokens)
        with first.client("run") as client:

            def queue(config: dict[str, int]) -> str:
                answer = client.post("/v1/test-workflows/slow/executions", json={"config": config})
                assert answer.status_code == 200, answer.text
                return str(answer.json()["id"])

            # queued in this order, the 8 long ones are claimed first and hold all 8 workers
            long = [queue({"seconds": 120}) for _ in range(8)]
            _wait(lambda: len(_runs(marks)) == 8, 180, "8 runs in flight")
            short = [queue({}) for _ in range(12)]
        assert _statuses(first, long + short) == ["running"] * 8 + ["queued"] * 12
        first.process.kill()  # SIGKILL: no handler, no clean-up, no lifespan shutdown
        first.process.wait(timeout=60)
    assert {run_id for run_id, _ in _runs(marks)} == set(long)
    steps = [pid for _, pid in _runs(marks)]
    assert all(start_time(pid) is not None for pid in steps)  # the killed server's steps run on

    restarted = time.monotonic()
    with running_server(home, url, workers=8, tokens=False) as second:
        second.tokens.update(tokens)
        _wait(
            lambda: all(ExecutionStatus(s).finished for s in _statuses(second, long + short)),
            60,
            "20 terminal states after the restart",
        )
        assert time.monotonic() - restarted < 60
        with second.client("read") as client:
            ended = {i: _execution(client, i) for i in long + short}
    runs = collections.Counter(run_id for run_id, _ in _runs(marks))
    assert sorted(runs) == sorted(long + short)
    assert set(runs.values()) == {1}, "a run ran twice"
    for execution_id in long:  # stopped, closed with the reason, never run again
        done = ended[execution_id]
        assert done["status"] == "aborted", done
        assert "ended while it was running" in str(done["error"]), done
        assert str(done["error"]).endswith("; 1 task process group(s) stopped"), done
        steps = [s["status"] for s in done["steps"]]  # type: ignore[attr-defined]
        assert steps[-1:] == ["aborted"] and "running" not in steps, steps  # as recorded live
    for execution_id in short:
        done = ended[execution_id]
        assert (done["status"], done["error"]) == ("passed", None), done
        assert [s["status"] for s in done["steps"]] == ["passed", "passed"]  # type: ignore[attr-defined]
    assert sorted((marks / "cleaned").read_text().split()) == sorted(short)
    for pid in steps:
        assert start_time(pid) is None, f"step process {pid} of a killed run still runs"
    assert pids_with_env(EXIT_FILE, f"{home / 'work'}/") == []
    assert not any((home / "work").iterdir())
