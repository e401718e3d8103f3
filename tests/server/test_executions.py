"""Executions through the API, recorded by `assay run` on the same store: paged and
filtered lists, one execution, logs, test cases, artifacts (download, nothing outside),
reports, analytics and quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from server_support import ApiServer

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: exec-api}
spec:
  content:
    files:
    - path: /data/test_suite.py
      content: |
        def test_ok():
            pass

        def test_bad():
            assert False, "boom"
  steps:
  - name: tests
    workingDir: /data
    shell: |
      mkdir -p out/deep && echo report > out/deep/report.txt
      python -m pytest -q test_suite.py
    artifacts: {paths: ["/data/out/**/*"]}
"""

QUIET = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: exec-quiet}
spec:
  steps:
  - name: s
    shell: echo quiet
"""


@pytest.fixture(scope="module")
def runs(api: ApiServer) -> dict[str, str]:
    """exec-api-1 (failed, tagged sha=abc123 team=x), exec-quiet-1..3 (passed): name -> id."""
    (api.home.parent / "wf.yaml").write_text(WORKFLOW)
    (api.home.parent / "quiet.yaml").write_text(QUIET)
    args = ("run", "-f", "wf.yaml", "--tag", "sha=abc123", "--tag", "team=x", "-o", "json")
    done = api.cli(*args, check=1)
    ids = {"exec-api-1": json.loads(done.stdout)["id"]}
    for number in (1, 2, 3):
        result = api.cli("run", "-f", "quiet.yaml", "-o", "json")
        ids[f"exec-quiet-{number}"] = json.loads(result.stdout)["id"]
    return ids


def _names(page: dict[str, object]) -> list[str]:
    return [item["name"] for item in page["results"]]  # type: ignore[attr-defined, index]


def test_list_pages_and_filters(api: ApiServer, runs: dict[str, str]) -> None:
    newest_first = ["exec-quiet-3", "exec-quiet-2", "exec-quiet-1", "exec-api-1"]
    with api.client("read") as client:

        def page(**params: object) -> dict[str, object]:
            response = client.get("/v1/test-workflow-executions", params=params)
            assert response.status_code == 200, response.text
            data: dict[str, object] = response.json()
            return data

        everything = page()
        assert _names(everything) == newest_first and everything["hasMore"] is False
        first = page(pageSize=3)
        assert _names(first) == newest_first[:3] and first["hasMore"] is True
        assert _names(page(pageSize=3, page=1)) == newest_first[3:]
        assert _names(page(page=5)) == []
        assert _names(page(status="failed")) == ["exec-api-1"]
        assert _names(page(status="passed,failed")) == newest_first
        assert _names(page(workflow="exec-quiet", pageSize=2)) == newest_first[:2]
        assert _names(page(tagSelector="sha=abc123")) == ["exec-api-1"]
        assert _names(page(tagSelector="sha=abc123,team=x")) == ["exec-api-1"]
        assert _names(page(tagSelector="team=y")) == []
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert _names(page(since=future)) == []
        assert _names(page(until=future)) == newest_first
        summary = everything["results"][-1]  # type: ignore[index]
        assert summary["status"] == "failed" and summary["tags"] == {"sha": "abc123", "team": "x"}
        assert summary["steps"][0]["name"] == "tests"
        assert summary["summary"]["failed"] == 1 and summary["summary"]["passed"] == 1

        for params, field in (
            ({"status": "done"}, "status"),
            ({"pageSize": 0}, "pageSize"),
            ({"pageSize": 5000}, "pageSize"),
            ({"page": -1}, "page"),
            ({"since": "yesterday"}, "since"),
            ({"tagSelector": "novalue"}, "tagSelector"),
        ):
            bad = client.get("/v1/test-workflow-executions", params=params)
            assert bad.status_code == 422, (params, bad.text)
            assert field in bad.json()["error"], bad.json()


def test_one_execution_logs_and_testcases(api: ApiServer, runs: dict[str, str]) -> None:
    with api.client("read") as client:
        by_name = client.get("/v1/test-workflow-executions/exec-api-1").json()
        by_id = client.get(f"/v1/test-workflow-executions/{runs['exec-api-1']}").json()
        by_prefix = client.get(f"/v1/test-workflow-executions/{runs['exec-api-1'][:10]}").json()
        assert by_name == by_id == by_prefix
        assert by_name == api.cli_json("get", "execution", "exec-api-1")  # same JSON as the CLI
        logs = client.get("/v1/test-workflow-executions/exec-api-1/logs")
        assert logs.headers["content-type"].startswith("text/plain")
        assert "1 failed, 1 passed" in logs.text
        assert logs.text == api.cli("logs", "exec-api-1").stdout
        cases = client.get("/v1/test-workflow-executions/exec-api-1/testcases").json()
        assert {(c["name"], c["status"]) for c in cases} == {
            ("test_ok", "passed"),
            ("test_bad", "failed"),
        }
        assert "boom" in next(c for c in cases if c["name"] == "test_bad")["message"]
        missing = client.get("/v1/test-workflow-executions/nothing-9")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no execution 'nothing-9'"}
        for tail in ("logs", "testcases", "artifacts", "notifications"):
            assert client.get(f"/v1/test-workflow-executions/nothing-9/{tail}").status_code == 404


def test_artifacts_list_and_download_only_stored_files(
    api: ApiServer, runs: dict[str, str]
) -> None:
    base = "/v1/test-workflow-executions/exec-api-1/artifacts"
    with api.client("read") as client:
        listed = client.get(base).json()
        names = [item["name"] for item in listed]
        assert "deep/report.txt" in names or "out/deep/report.txt" in names, listed
        name = next(n for n in names if n.endswith("deep/report.txt"))
        item = next(i for i in listed if i["name"] == name)
        assert item["size"] == len("report\n") and item["executionName"] == "exec-api-1"
        got = client.get(f"{base}/{name}")
        assert got.status_code == 200 and got.content == b"report\n"
        for outside in ("../log.txt", "..%2Flog.txt", "%2E%2E/log.txt", "/etc/passwd", "nope"):
            response = client.get(f"{base}/{outside}")
            assert response.status_code == 404, (outside, response.status_code)
            assert b"execution" not in response.content or "error" in response.json()


def test_reports_analytics_and_quarantine(api: ApiServer, runs: dict[str, str]) -> None:
    with api.client("admin") as client:
        markdown = client.get("/v1/reports", params={"execution": "exec-api-1"})
        assert markdown.status_code == 200
        assert markdown.headers["content-type"].startswith("text/markdown")
        assert "test_bad" in markdown.text
        junit = client.get(
            "/v1/reports", params={"execution": ["exec-api-1", "exec-quiet-1"], "format": "junit"}
        )
        assert junit.status_code == 200 and junit.content.startswith(b"<?xml")
        assert client.get("/v1/reports", params={"execution": "nope-1"}).status_code == 404
        assert (
            client.get("/v1/reports", params={"format": "pdf", "execution": "x"}).status_code == 422
        )

        assert client.get("/v1/analytics/flaky", params={"all": True}).status_code == 200
        trends = client.get("/v1/analytics/trends", params={"workflow": "exec-api"}).json()
        assert set(trends) == {"points", "slowest", "base", "newlyFailing"}
        assert trends == api.cli_json("trends", "--workflow", "exec-api")
        trace = client.get("/v1/analytics/trace", params={"requirement": "REQ-1"}).json()
        assert trace["unsatisfied"] == ["REQ-1"]

        cases = client.get("/v1/test-workflow-executions/exec-api-1/testcases").json()
        bad = next(c["testId"] for c in cases if c["name"] == "test_bad")
        added = client.post(
            "/v1/quarantine", json={"testIds": [bad], "reason": "known", "until": "7d"}
        )
        assert added.status_code == 200, added.text
        assert [e["testId"] for e in client.get("/v1/quarantine").json()] == [bad]
        assert [e["testId"] for e in api.cli_json("quarantine", "list")] == [bad]
        unknown = client.post("/v1/quarantine", json={"testIds": ["ffffffffffffffff"]})
        assert unknown.status_code == 404
        bad_until = client.post("/v1/quarantine", json={"testIds": [bad], "until": "soon"})
        assert bad_until.status_code == 422 and "until" in bad_until.json()["error"]
        assert client.delete(f"/v1/quarantine/{bad}").status_code == 204
        assert client.get("/v1/quarantine").json() == []
        assert client.delete(f"/v1/quarantine/{bad}").status_code == 404
