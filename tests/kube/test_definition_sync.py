"""`assay server --watch-namespace`: the Testkube custom resources of a namespace, applied with
`kubectl` to the stand-in (the CRDs of `assay install kubernetes` installed in it), become the
server's definitions, follow their changes and deletion, and survive dropped watch streams
and 410 Gone; an invalid one is logged and skipped; a definition applied through the API is
never removed by the watch."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from standin import StandIn

from assay.kube.install import CRDS, InstallOptions, install_manifests
from assay.server.kube_sync import definition_of
from assay.store import Database
from assay.store.tokens import Scope, TokenStore
from support import ASSAY

NAMESPACE = "testkube"
SEED = Path(__file__).parents[1] / "spec" / "data" / "seed000-tests.yaml"
PATHS = {kind.kind: f"/apis/{kind.group}/{kind.version}/namespaces/{NAMESPACE}/{kind.plural}"
         for kind in CRDS}  # fmt: skip
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass
class Setup:
    standin: StandIn
    kube: httpx.Client
    """The stand-in, as `kubectl` talks to it."""
    api: httpx.Client
    """The server, with an admin token."""
    process: subprocess.Popen[bytes]
    log: Path

    def kubectl_apply(self, document: dict[str, Any]) -> dict[str, Any]:
        """Create or replace ``document`` as `kubectl apply` does (with its annotation)."""
        body = copy.deepcopy(document)
        meta = body["metadata"]
        meta.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(document)
        collection = PATHS[body["kind"]]
        current = self.kube.get(f"{collection}/{meta['name']}")
        if current.status_code == 404:
            answer = self.kube.post(collection, json=body)
        else:
            meta["resourceVersion"] = current.json()["metadata"]["resourceVersion"]
            answer = self.kube.put(f"{collection}/{meta['name']}", json=body)
        assert answer.status_code in (200, 201), answer.text
        created: dict[str, Any] = answer.json()
        return created

    def kubectl_delete(self, kind: str, name: str) -> None:
        answer = self.kube.delete(f"{PATHS[kind]}/{name}")
        assert answer.status_code == 200, answer.text

    def definition(self, path: str, name: str) -> dict[str, Any] | None:
        answer = self.api.get(f"/v1/{path}/{name}")
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def eventually(check: Callable[[], Any], what: str, seconds: float = 15.0) -> Any:
    """The first truthy result of ``check``, polled until a deadline."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def seed_tests() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(SEED.read_text(encoding="utf-8")) if doc]


def legacy_test(name: str, args: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tests.testkube.io/v3",
        "kind": "Test",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "type": "pytest/test",
            "content": {"type": "string", "data": "def test_ok():\n    pass\n"},
            "executionRequest": {"args": args, **spec},
        },
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("sync")
    with StandIn(tmp / "standin", NAMESPACE, pods=False) as standin:
        standin.api.stream_limit = 1.0  # every watch stream is cut after a second
        kube = httpx.Client(
            base_url=standin.url, headers={"Authorization": f"Bearer {standin.token}"}
        )
        options = InstallOptions(namespace=NAMESPACE, with_postgres=True)
        for crd in install_manifests(options):
            if crd["kind"] == "CustomResourceDefinition":
                answer = kube.post(
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd
                )
                assert answer.status_code == 201, answer.text
        home = tmp / "home"
        home.mkdir()
        database_url = f"sqlite:///{home / 'assay.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "KUBE"))}
        env.update(
            ASSAY_HOME=str(home),
            ASSAY_DATABASE_URL=database_url,
            KUBECONFIG=str(standin.kubeconfig),
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = tmp / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [ASSAY, "server", "--port", str(port), "--workers", "0",
                 "--watch-namespace", NAMESPACE],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            eventually(lambda: _healthy(url, process, log), "the server answers /health", 90)
            db = Database(database_url)
            try:
                secret = TokenStore(db).create("admin", Scope.ADMIN)[1]
            finally:
                db.close()
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"})
            yield Setup(standin, kube, api, process, log)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)


def _healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    assert process.poll() is None, f"assay server exited:\n{log.read_text()}"
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_seed_tests_applied_with_kubectl_are_listed_and_run(setup: Setup) -> None:
    for document in seed_tests():
        setup.kubectl_apply(document)
    # `kubectl get tests -n testkube`
    listed = setup.kube.get(PATHS["Test"]).json()["items"]
    assert {item["metadata"]["name"] for item in listed} >= {"backend-auth-e2e", "backend-api-e2e"}

    def synced() -> set[str]:
        return {item["name"] for item in setup.api.get("/v1/tests").json()}

    eventually(lambda: {"backend-auth-e2e", "backend-api-e2e"} <= synced(), "seed Tests synced")
    auth = setup.definition("tests", "backend-auth-e2e")
    assert auth is not None
    seed = seed_tests()[0]
    assert auth["spec"] == seed["spec"]
    assert auth["labels"] == seed["metadata"]["labels"]
    assert LAST_APPLIED not in auth["metadata"].get("annotations", {})
    assert "status" not in auth and "resourceVersion" not in auth["metadata"]
    # then a run from CI
    run = setup.api.post("/v1/test-workflows/backend-auth-e2e/executions", json={})
    assert run.status_code in (200, 201), run.text
    assert run.json()["status"] == "queued"


def test_a_test_workflow_resource_is_synced(setup: Setup) -> None:
    setup.kubectl_apply(
        {
            "apiVersion": "testworkflows.testkube.io/v1",
            "kind": "TestWorkflow",
            "metadata": {"name": "smoke", "namespace": NAMESPACE, "labels": {"team": "qa"}},
            "spec": {"steps": [{"name": "hello", "shell": "echo hello"}]},
        }
    )
    found = eventually(lambda: setup.definition("test-workflows", "smoke"), "TestWorkflow synced")
    assert found["labels"] == {"team": "qa"}


def test_changes_and_deletion_follow_the_resource(setup: Setup) -> None:
    setup.kubectl_apply(legacy_test("edited", ["-k", "first"]))
    eventually(lambda: setup.definition("tests", "edited"), "created")
    setup.kubectl_apply(legacy_test("edited", ["-k", "second"]))
    eventually(
        lambda: (
            (setup.definition("tests", "edited") or {})["spec"]["executionRequest"]["args"]
            == ["-k", "second"]
        ),
        "modified",
    )
    setup.kubectl_delete("Test", "edited")
    eventually(lambda: setup.definition("tests", "edited") is None, "deleted")


def test_an_invalid_resource_is_logged_and_the_others_still_sync(setup: Setup) -> None:
    setup.kubectl_apply(legacy_test("broken", ["-v"], timout="5m"))  # a typo of `timeout`?
    setup.kubectl_apply(legacy_test("after-broken", ["-v"]))
    eventually(lambda: setup.definition("tests", "after-broken"), "the next one synced")
    assert setup.definition("tests", "broken") is None
    lines = eventually(
        lambda: [line for line in setup.log.read_text().splitlines() if "broken" in line],
        "the invalid one logged",
    )
    assert any("Test broken" in line and "timout" in line for line in lines), lines


def test_a_definition_applied_through_the_api_is_not_removed(setup: Setup) -> None:
    setup.kubectl_apply(legacy_test("shared", ["-k", "cluster"]))
    eventually(lambda: setup.definition("tests", "shared"), "synced")
    mine = legacy_test("shared", ["-k", "api"])
    assert setup.api.post("/v1/tests", json=mine).status_code == 200
    setup.kubectl_delete("Test", "shared")
    setup.kubectl_apply(legacy_test("marker", ["-v"]))  # seen after the deletion
    eventually(lambda: setup.definition("tests", "marker"), "the later resource synced")
    kept = setup.definition("tests", "shared")
    assert kept is not None and kept["spec"]["executionRequest"]["args"] == ["-k", "api"]


def test_a_list_after_410_gone_removes_what_was_deleted_meanwhile(setup: Setup) -> None:
    setup.kubectl_apply(legacy_test("vanishing", ["-v"]))
    eventually(lambda: setup.definition("tests", "vanishing"), "synced")
    assert setup.api.post("/v1/tests", json=legacy_test("api-only", ["-v"])).status_code == 200
    store = setup.standin.store
    with store.lock:  # the DELETED event is compacted away before any watch sees it
        store.delete("Test", NAMESPACE, "vanishing")
        store.compact()
    eventually(lambda: setup.definition("tests", "vanishing") is None, "removed after a list")
    assert "expired; listing again" in setup.log.read_text()
    assert setup.definition("tests", "api-only") is not None  # not of the cluster's


def watches(setup: Setup, kind: str) -> int:
    """Watch requests made so far for the resources of ``kind``."""
    return sum(
        1
        for method, path in setup.standin.api.requests
        if method == "GET" and path.startswith(PATHS[kind] + "?") and "watch=true" in path
    )


def test_the_watch_survives_its_stream_being_closed(setup: Setup) -> None:
    before = watches(setup, "Test")
    eventually(lambda: watches(setup, "Test") >= before + 3, "the cut watch resumed")
    setup.kubectl_apply(legacy_test("after-cuts", ["-v"]))
    eventually(lambda: setup.definition("tests", "after-cuts"), "synced after the cuts")


def test_the_standin_validates_custom_resources_as_an_api_server(setup: Setup) -> None:
    typo = {**legacy_test("typo", ["-v"]), "sepc": {}}
    refused = setup.kube.post(PATHS["Test"], json=typo)
    assert refused.status_code == 422 and '"sepc"' in refused.json()["message"]
    bad_name = legacy_test("Not_A_Name", ["-v"])
    assert setup.kube.post(PATHS["Test"], json=bad_name).status_code == 422
    unknown = PATHS["Test"].replace("/v3/", "/v9/")
    assert setup.kube.get(unknown).status_code == 404
    created = setup.kubectl_apply(legacy_test("stale", ["-v"]))
    setup.kubectl_apply(legacy_test("stale", ["-k", "newer"]))
    stale = legacy_test("stale", ["-k", "older"])
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    assert setup.kube.put(f"{PATHS['Test']}/stale", json=stale).status_code == 409


def test_a_resource_becomes_its_definition_document() -> None:
    item = legacy_test("doc", ["-v"])
    item["metadata"].update(
        uid="0c5b",
        resourceVersion="42",
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[{"manager": "kubectl"}],
        labels={"team": "qa"},
        annotations={LAST_APPLIED: "{}", "owner": "qa"},
    )
    document = definition_of({**item, "status": {"phase": "Ready"}})
    assert document == {
        "apiVersion": "tests.testkube.io/v3",
        "kind": "Test",
        "metadata": {
            "name": "doc",
            "namespace": NAMESPACE,
            "labels": {"team": "qa"},
            "annotations": {"owner": "qa"},
        },
        "spec": item["spec"],
    }


def test_the_server_stops_with_its_watches_open(setup: Setup) -> None:
    setup.standin.api.stream_limit = None  # the watches now stay open until stopped
    before = {kind: watches(setup, kind) for kind in PATHS}
    eventually(
        lambda: all(watches(setup, kind) > count for kind, count in before.items()),
        "a lasting watch of every kind",
    )
    setup.process.send_signal(signal.SIGTERM)
    # uvicorn ends by raising the signal it caught again, after the shutdown
    assert setup.process.wait(timeout=60) in (0, -signal.SIGTERM)
    log = setup.log.read_text()
    assert "background loops stopped" in log, log
    assert "did not stop" not in log and "Traceback" not in log, log
