"""Runs queued through the API and run by the server's worker; the live log over
Server-Sent Events: resuming with Last-Event-ID gets exactly the missing lines, heartbeats
arrive on a silent step, a final result event closes the stream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server_support import ApiServer, database_url, running_server, sse_events

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: live}
spec:
  config:
    lines: {type: integer, default: 3}
    pause: {type: string, default: "0.2"}
    silent: {type: string, default: "0"}
    token: {type: string, sensitive: true, default: ""}
  content:
    files:
    - path: /data/test_live.py
      content: |
        def test_live():
            pass
  steps:
  - name: talk
    workingDir: /data
    shell: |
      for i in $(seq {{ config.lines }}); do echo "line $i"; sleep {{ config.pause }}; done
      sleep {{ config.silent }}
      echo "secret {{ config.token }}"
      mkdir -p out && echo artifact > out/a.txt
      python -m pytest -q test_live.py
    artifacts: {paths: ["/data/out/*"]}
"""


@pytest.fixture(scope="module")
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server with one worker (SQLite and PostgreSQL), the workflow `live` applied."""
    backend = request.param if hasattr(request, "param") else "sqlite"
    tmp = tmp_path_factory.mktemp(f"live-{backend}")
    with running_server(tmp / "home", database_url(request, backend, tmp), workers=1) as server:
        with server.client("admin") as client:
            applied = client.post(
                "/v1/test-workflows", content=WORKFLOW, headers={"Content-Type": "text/yaml"}
            )
            assert applied.status_code == 200, applied.text
        yield server


pytestmark = pytest.mark.parametrize(
    "live", ["sqlite", "postgresql"], indirect=True, scope="module"
)


def _run(server: ApiServer, scope: str = "run", **config: object) -> dict[str, object]:
    with server.client(scope) as client:
        response = client.post(
            "/v1/test-workflows/live/executions", json={"config": config, "tags": {"via": "api"}}
        )
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def _wait(server: ApiServer, ref: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    with server.client("read") as client:
        while time.monotonic() < deadline:
            data: dict[str, object] = client.get(f"/v1/test-workflow-executions/{ref}").json()
            if data["status"] not in ("queued", "running"):
                return data
            time.sleep(0.2)
    raise AssertionError(f"{ref} did not end in {timeout} s")


def _stream(
    server: ApiServer, ref: str, last_event_id: str | None = None
) -> Iterator[dict[str, str]]:
    headers = {"Authorization": f"Bearer {server.tokens['read']}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with httpx.stream(
        "GET",
        f"{server.url}/v1/test-workflow-executions/{ref}/notifications",
        headers=headers,
        timeout=httpx.Timeout(30.0),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from sse_events(response)


def test_run_is_queued_then_run_by_the_worker_with_logs_tests_and_artifacts(
    live: ApiServer,
) -> None:
    queued = _run(live, token="s3cr3t-value")
    assert queued["status"] == "queued" and queued["tags"] == {"via": "api"}
    assert queued["config"]["token"] != "s3cr3t-value"  # type: ignore[index]
    done = _wait(live, str(queued["id"]))
    assert done["status"] == "passed", done
    assert "s3cr3t-value" not in json.dumps(done)
    ref = str(queued["id"])
    with live.client("read") as client:
        logs = client.get(f"/v1/test-workflow-executions/{ref}/logs").text
        assert "line 3" in logs and "s3cr3t-value" not in logs and "secret ***" in logs
        cases = client.get(f"/v1/test-workflow-executions/{ref}/testcases").json()
        assert [(c["name"], c["status"]) for c in cases] == [("test_live", "passed")]
        [artifact] = client.get(f"/v1/test-workflow-executions/{ref}/artifacts").json()
        got = client.get(f"/v1/test-workflow-executions/{ref}/artifacts/{artifact['name']}")
        assert got.content == b"artifact\n"
        page = client.get("/v1/test-workflow-executions", params={"tagSelector": "via=api"})
        assert ref in [item["id"] for item in page.json()["results"]]


def test_bad_config_is_422_and_queues_nothing(live: ApiServer) -> None:
    with live.client("run") as client:
        before = client.get("/v1/test-workflow-executions", params={"workflow": "live"}).json()
        for config, expected in (
            ({"lines": "many"}, "config.lines"),
            ({"undeclared": "x"}, "undeclared"),
        ):
            response = client.post("/v1/test-workflows/live/executions", json={"config": config})
            assert response.status_code == 422, response.text
            assert expected in response.json()["error"]
        extra = client.post("/v1/test-workflows/live/executions", json={"configs": {}})
        assert extra.status_code == 422 and "configs" in extra.json()["error"]
        unknown = client.post("/v1/test-workflows/nothing/executions", json={})
        assert unknown.status_code == 404
        after = client.get("/v1/test-workflow-executions", params={"workflow": "live"}).json()
        assert after["results"] == before["results"]
    with live.client("read") as reader:
        assert reader.post("/v1/test-workflows/live/executions", json={}).status_code == 403


def test_sse_streams_lines_then_the_result_and_resumes_exactly(live: ApiServer) -> None:
    queued = _run(live, lines=6, pause="0.1")
    ref = str(queued["id"])
    events = [e for e in _stream(live, ref) if "comment" not in e]
    logs = [e for e in events if e.get("event") == "log"]
    lines = [json.loads(e["data"])["log"] for e in logs]
    assert [line for line in lines if line.startswith("line ")] == [
        f"line {i}" for i in range(1, 7)
    ]
    assert events[-1]["event"] == "result"
    assert json.loads(events[-1]["data"])["result"]["status"] == "passed"
    log_file = live.home / "executions" / ref / "log.txt"
    assert "\n".join(lines) + "\n" == log_file.read_text()  # every line, once, in order
    offsets = [int(e["id"]) for e in logs]
    assert offsets == sorted(offsets) and offsets[-1] == log_file.stat().st_size

    cut = 3  # a client that saw 3 lines reconnects with the id of the third
    resumed = [
        e for e in _stream(live, ref, last_event_id=logs[cut - 1]["id"]) if "comment" not in e
    ]
    resumed_lines = [json.loads(e["data"])["log"] for e in resumed if e.get("event") == "log"]
    assert resumed_lines == lines[cut:]
    assert resumed[-1]["event"] == "result"
    at_end = [e for e in _stream(live, ref, last_event_id=str(offsets[-1])) if "comment" not in e]
    assert [e["event"] for e in at_end] == ["result"]
    with live.client("read") as client:
        bad = client.get(
            f"/v1/test-workflow-executions/{ref}/notifications", headers={"Last-Event-ID": "x"}
        )
        assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["error"]


def test_heartbeats_arrive_during_a_silent_step_while_following_live(live: ApiServer) -> None:
    queued = _run(live, lines=1, pause="0", silent="2")
    seen: list[tuple[float, dict[str, str]]] = []
    for event in _stream(live, str(queued["id"])):
        seen.append((time.monotonic(), event))
    kinds = [("comment" if "comment" in e else e["event"]) for _t, e in seen]
    first_line = next(i for i, (_t, e) in enumerate(seen) if "line 1" in e.get("data", ""))
    secret_line = next(i for i, (_t, e) in enumerate(seen) if "secret" in e.get("data", ""))
    between = kinds[first_line + 1 : secret_line]
    assert between.count("comment") >= 3, kinds  # heartbeat every 0.3 s over a 2 s silence
    assert set(between) == {"comment"}
    assert kinds[-1] == "result"


def test_abort_and_rerun(live: ApiServer) -> None:
    queued = _run(live, lines=1, silent="30")
    ref = str(queued["id"])
    with live.client("run") as client:
        deadline = time.monotonic() + 60
        while client.get(f"/v1/test-workflow-executions/{ref}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.post(f"/v1/test-workflow-executions/{ref}/abort").status_code == 200
        ended = _wait(live, ref, timeout=30)
        assert ended["status"] == "aborted"
        again = client.post(f"/v1/test-workflow-executions/{ref}/rerun")
        assert again.status_code == 200, again.text
        rerun = again.json()
        assert rerun["id"] != ref and rerun["config"] == queued["config"]
        client.post(f"/v1/test-workflow-executions/{rerun['id']}/abort").raise_for_status()
        assert _wait(live, str(rerun["id"]), timeout=30)["status"] == "aborted"
        assert client.post("/v1/test-workflow-executions/nothing-1/abort").status_code == 404
    with live.client("read") as reader:
        assert reader.post(f"/v1/test-workflow-executions/{ref}/abort").status_code == 403


def test_cli_run_not_queued_cannot_be_rerun(live: ApiServer, tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW.replace("name: live", "name: local-only"))
    done = live.cli("run", "-f", str(tmp_path / "wf.yaml"), "-o", "json")
    ref = json.loads(done.stdout)["id"]
    with live.client("run") as client:
        response = client.post(f"/v1/test-workflow-executions/{ref}/rerun")
    assert response.status_code == 422
    assert "was not queued" in response.json()["error"]


def test_the_run_requests_name_names_the_execution_once(live: ApiServer) -> None:
    """Testkube's ``name`` of a run request: the execution's name, found by it, unique;
    a taken or invalid name is a 4xx naming the field and queues nothing."""
    name = "nightly.v2_run"
    with live.client("run") as client:
        first = client.post(
            "/v1/test-workflows/live/executions", json={"name": name, "config": {"lines": 1}}
        )
        assert first.status_code == 200, first.text
        assert first.json()["name"] == name and first.json()["workflow"] == "live"
        found = client.get(f"/v1/test-workflow-executions/{name}").json()
        assert found["id"] == first.json()["id"]
        before = client.get("/v1/test-workflow-executions", params={"workflow": "live"}).json()
        taken = client.post("/v1/test-workflows/live/executions", json={"name": name})
        assert taken.status_code == 409, taken.text
        assert taken.json()["error"] == (
            f"name: an execution named {name!r} exists already ({first.json()['id']})"
        )
        for bad, says in (
            ("live-7", "kept for the automatic WORKFLOW-N"),
            ("-x", "starting and ending with a letter or digit"),
            ("a b", "letters, digits"),
            ("cafe", "hexadecimal digits only"),
            ("", "letters, digits"),
        ):
            refused = client.post("/v1/test-workflows/live/executions", json={"name": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["error"].startswith(f"name {bad!r}: "), refused.text
            assert says in refused.json()["error"]
        too_long = client.post("/v1/test-workflows/live/executions", json={"name": "x" * 254})
        assert too_long.status_code == 422 and too_long.json()["error"].startswith("name:")
        after = client.get("/v1/test-workflow-executions", params={"workflow": "live"}).json()
        assert [r["id"] for r in after["results"]] == [r["id"] for r in before["results"]]
        automatic = _run(live, lines=1)  # numbering goes on: WORKFLOW-N
        assert automatic["name"] == f"live-{automatic['number']}"
    assert _wait(live, str(first.json()["id"]))["name"] == name
