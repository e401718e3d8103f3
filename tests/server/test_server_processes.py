"""`assay server --processes N`: uvicorn supervises N server processes on one socket, each
with its own workers; they run the queue together and end with their supervisor, even when
it is killed with SIGKILL (no server process is left behind)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from assay.status import ExecutionStatus
from server_support import database_url, running_server

HELLO = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: hello}
spec:
  steps:
    - shell: echo "hello from $PPID"
"""


def _children(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` and that run a multiprocessing spawn (the
    server processes; not the resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_serve_run_the_queue_and_end_with_their_supervisor(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    home, url = tmp_path / "home", database_url(request, backend, tmp_path)
    (tmp_path / "hello.yaml").write_text(HELLO)
    env = {"ASSAY_SERVER_PROCESSES": "2"}
    with running_server(home, url, workers=1, extra_env=env) as server:
        children = _children(server.process.pid)
        assert len(children) == 2, children
        server.cli("apply", "-f", str(tmp_path / "hello.yaml"))
        with server.client("run") as client:
            ids = []
            for _ in range(6):
                answer = client.post("/v1/test-workflows/hello/executions", json={})
                assert answer.status_code == 200, answer.text
                ids.append(answer.json()["id"])
            deadline = time.monotonic() + 120
            while True:
                statuses = [
                    client.get(f"/v1/test-workflow-executions/{i}").json()["status"] for i in ids
                ]
                if all(ExecutionStatus(s).finished for s in statuses):
                    break
                assert time.monotonic() < deadline, statuses
                time.sleep(0.2)
        assert statuses == ["passed"] * 6
        server.process.kill()  # SIGKILL of the supervisor: no handler runs in it
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children):
            assert time.monotonic() < deadline, f"server processes {children} outlived it"
            time.sleep(0.1)
