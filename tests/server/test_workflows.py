"""Definitions through the API: apply (JSON document, YAML, Testkube's flat form), list,
get, replace, delete; legacy Test and TestSuite, templates; bad input is 422 naming it."""

from __future__ import annotations

from server_support import ApiServer

WORKFLOW = {
    "apiVersion": "testworkflows.testkube.io/v1",
    "kind": "TestWorkflow",
    "metadata": {"name": "wf-api", "labels": {"team": "payments"}},
    "spec": {"steps": [{"name": "s", "shell": "echo one"}]},
}

YAML = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: wf-yaml}
spec:
  steps:
  - name: s
    shell: echo yaml
"""

LEGACY_TEST = {
    "apiVersion": "tests.testkube.io/v3",
    "kind": "Test",
    "metadata": {"name": "legacy-api"},
    "spec": {
        "type": "pytest/test",
        "content": {"type": "string", "data": "def test_legacy():\n    pass\n"},
    },
}


def test_apply_list_get_replace_delete(api: ApiServer) -> None:
    with api.client("admin") as client:
        applied = client.post("/v1/test-workflows", json=WORKFLOW)
        assert applied.status_code == 200, applied.text
        [item] = applied.json()
        assert item["name"] == "wf-api" and item["labels"] == {"team": "payments"}
        assert item["spec"] == WORKFLOW["spec"] and item["kind"] == "TestWorkflow"
        names = [w["name"] for w in client.get("/v1/test-workflows").json()]
        assert "wf-api" in names
        got = client.get("/v1/test-workflows/wf-api").json()
        assert got["metadata"] == WORKFLOW["metadata"]

        changed = {**got, "spec": {"steps": [{"name": "s", "shell": "echo two"}]}}
        replaced = client.put("/v1/test-workflows/wf-api", json=changed)  # answer fed back
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["spec"]["steps"][0]["shell"] == "echo two"
        assert replaced.json()["created"] == got["created"]

        other = client.put("/v1/test-workflows/other-name", json=changed)
        assert other.status_code == 422
        assert "'other-name'" in other.json()["error"]
        assert client.get("/v1/test-workflows/other-name").status_code == 404

        assert client.delete("/v1/test-workflows/wf-api").status_code == 204
        missing = client.get("/v1/test-workflows/wf-api")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no TestWorkflow named 'wf-api'"}
        assert client.delete("/v1/test-workflows/wf-api").status_code == 404


def test_yaml_body_and_testkube_flat_form(api: ApiServer) -> None:
    with api.client("admin") as client:
        done = client.post(
            "/v1/test-workflows", content=YAML, headers={"Content-Type": "text/yaml"}
        )
        assert done.status_code == 200, done.text
        assert client.get("/v1/test-workflows/wf-yaml").json()["spec"]["steps"][0]["shell"] == (
            "echo yaml"
        )
        flat = {"name": "wf-flat", "labels": {"a": "b"}, "spec": WORKFLOW["spec"]}
        done = client.post("/v1/test-workflows", json=flat)
        assert done.status_code == 200, done.text
        got = client.get("/v1/test-workflows/wf-flat").json()
        assert got["metadata"] == {"name": "wf-flat", "labels": {"a": "b"}}
    listed = {row["name"] for row in api.cli_json("get", "workflows")}
    assert {"wf-yaml", "wf-flat"} <= listed  # the CLI sees what the API applied


def test_legacy_test_and_suite_and_templates(api: ApiServer) -> None:
    suite = {
        "apiVersion": "tests.testkube.io/v3",
        "kind": "TestSuite",
        "metadata": {"name": "legacy-suite"},
        "spec": {"steps": [{"execute": [{"test": "legacy-api"}]}]},
    }
    template = {
        "apiVersion": "testworkflows.testkube.io/v1",
        "kind": "TestWorkflowTemplate",
        "metadata": {"name": "tpl-api"},
        "spec": {"steps": [{"name": "t", "shell": "echo tpl"}]},
    }
    with api.client("admin") as client:
        assert client.post("/v1/tests", json=LEGACY_TEST).status_code == 200
        assert client.post("/v1/test-suites", json=suite).status_code == 200
        assert client.post("/v1/test-workflow-templates", json=template).status_code == 200
        assert [t["name"] for t in client.get("/v1/tests").json()] == ["legacy-api"]
        assert client.get("/v1/tests/legacy-api").json()["spec"]["type"] == "pytest/test"
        assert client.get("/v1/test-suites/legacy-suite").status_code == 200
        assert client.get("/v1/test-workflow-templates/tpl-api").status_code == 200
        assert client.get("/v1/test-workflows/legacy-api").status_code == 404  # kinds apart
        wrong = client.post("/v1/test-workflows", json=LEGACY_TEST)
        assert wrong.status_code == 422
        assert "kind 'Test'" in wrong.json()["error"]
        assert client.delete("/v1/tests/legacy-api").status_code == 204
        assert client.get("/v1/tests").json() == []


def test_bad_definitions_are_422_naming_the_field_and_store_nothing(api: ApiServer) -> None:
    bad_step = {**WORKFLOW, "metadata": {"name": "wf-bad"}, "spec": {"steps": [{"nmae": "x"}]}}
    bad_name = {**WORKFLOW, "metadata": {"name": "Bad Name"}}
    with api.client("admin") as client:
        for body, expected in (
            (bad_step, "spec.steps[0].nmae: unknown field"),
            (bad_name, "metadata.name"),
            ([1, 2], "expected a TestWorkflow object"),
            ("text", "expected a TestWorkflow object"),
        ):
            response = client.post("/v1/test-workflows", json=body)
            assert response.status_code == 422, response.text
            assert expected in response.json()["error"], response.json()
        not_json = client.post(
            "/v1/test-workflows", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 422 and "not JSON" in not_json.json()["error"]
        bad_yaml = client.post(
            "/v1/test-workflows", content=b"a: [", headers={"Content-Type": "text/yaml"}
        )
        assert bad_yaml.status_code == 422
        binary = client.post(
            "/v1/test-workflows", content=b"\xff\xfe", headers={"Content-Type": "text/yaml"}
        )
        assert binary.status_code == 422 and "UTF-8" in binary.json()["error"]
        assert client.get("/v1/test-workflows/wf-bad").status_code == 404
