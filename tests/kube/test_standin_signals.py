"""The stand-in's PATCH of Pods and its downwardAPI volumes (tests/kube/standin), through the
official client: what the runner's signals to a Pod rely on (:mod:`assay.kube.signals`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from standin import StandIn

NS = "tests"
MERGE = "application/merge-patch+json"


def core_api(server: StandIn) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(server.kubeconfig)))


def pod(name: str, image: str, script: str) -> dict[str, Any]:
    items = [
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"first": "1"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": ["/bin/sh", "-c", script],
                    "volumeMounts": [{"name": "info", "mountPath": "/info", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "info", "downwardAPI": {"items": items}}],
        },
    }


def patch(core: client.CoreV1Api, name: str, body: dict[str, Any], kind: str = MERGE) -> Any:
    return core.patch_namespaced_pod(name, NS, body, _content_type=kind)


def test_a_patched_annotation_reaches_the_running_pods_downward_api_file(
    standin: StandIn, docker_image: str
) -> None:
    core = core_api(standin)
    script = (
        "cat /info/name; echo; cat /info/annotations; echo; "
        "until grep -q '^go=' /info/annotations; do sleep 0.2; done; "
        "cat /info/annotations; echo; ls -a /info"
    )
    created = core.create_namespaced_pod(NS, pod("signalled", docker_image, script))
    deadline = time.monotonic() + 30
    while core.read_namespaced_pod("signalled", NS).status.phase != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    events = watch.Watch().stream(
        core.list_namespaced_pod,
        NS,
        resource_version=core.read_namespaced_pod("signalled", NS).metadata.resource_version,
        timeout_seconds=5,
    )
    patched = patch(
        core, "signalled", {"metadata": {"annotations": {"go": 'say "hi"\n\tthere', "first": None}}}
    )
    assert patched.metadata.annotations == {"go": 'say "hi"\n\tthere'}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    event = next(events)
    assert event["type"] == "MODIFIED"
    assert event["object"].metadata.annotations == {"go": 'say "hi"\n\tthere'}
    while core.read_namespaced_pod("signalled", NS).status.phase != "Succeeded":
        assert time.monotonic() < deadline, core.read_namespaced_pod_log("signalled", NS)
        time.sleep(0.2)
    log = core.read_namespaced_pod_log("signalled", NS).splitlines()
    # kubelet's format: key="value" lines sorted, Go-quoted, no final newline; ..data swapped
    assert log[:3] == ["signalled", 'first="1"', 'go="say \\"hi\\"\\n\\tthere"'], log
    assert {"..data", "annotations", "name"} <= set(log[3:]), log
    assert not any(entry == "..data_tmp" for entry in log)


@pytest.mark.parametrize(
    ("body", "kind", "code", "words"),
    [
        ({"metadata": {"annotations": {"bad key": "x"}}}, MERGE, 422, "name part"),
        ({"metadata": {"annotations": {"-x/y": "x"}}}, MERGE, 422, "-x/y"),
        ({"metadata": {"annotations": {"a": 1}}}, MERGE, 422, "metadata.annotations"),
        ({"metadata": {"annotations": {"a": "x" * 300_000}}}, MERGE, 422, "Too long"),
        ({"spec": {"restartPolicy": "Always"}}, MERGE, 422, "pod updates may not change"),
        ({"metadata": {"uid": "other"}}, MERGE, 422, "immutable"),
        ({"metadata": {"resourceVersion": "999"}}, MERGE, 409, "has been modified"),
        ({"metadata": {"annotations": {"$patch": "x"}}}, "application/strategic-merge-patch+json",
         422, "directives"),
        ([{"op": "add", "path": "/metadata/annotations/a", "value": "x"}],
         "application/json-patch+json", 415, "merge-patch"),
    ],
)  # fmt: skip
def test_a_patch_is_refused_as_the_api_server_refuses_it(
    tmp_path: Path, body: Any, kind: str, code: int, words: str
) -> None:
    with StandIn(tmp_path / "standin", NS, pods=False) as server:
        core = core_api(server)
        core.create_namespaced_pod(NS, pod("kept", "busybox", "true"))
        before = server.store.get("Pod", NS, "kept")
        with pytest.raises(client.ApiException) as refused:
            patch(core, "kept", body, kind)
        assert refused.value.status == code and words in str(refused.value.body), refused.value
        assert server.store.get("Pod", NS, "kept") == before
        # a strategic merge patch of labels and annotations is a merge of maps
        done = patch(
            core,
            "kept",
            {"metadata": {"labels": {"x": "y"}, "annotations": {"b": "2"}}},
            "application/strategic-merge-patch+json",
        )
        assert done.metadata.annotations == {"first": "1", "b": "2"}
        assert done.metadata.labels == {"x": "y"}
        assert done.spec.restart_policy == "Never"


def test_only_pods_are_patched(tmp_path: Path) -> None:
    with StandIn(tmp_path / "standin", NS, pods=False) as server:
        core = core_api(server)
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        core.create_namespaced_config_map(NS, config_map)
        with pytest.raises(client.ApiException) as refused:
            core.patch_namespaced_config_map("c", NS, {"data": {"a": "b"}}, _content_type=MERGE)
        assert refused.value.status == 405
        with pytest.raises(client.ApiException) as missing:
            patch(core, "nothing", {"metadata": {"annotations": {"a": "b"}}})
        assert missing.value.status == 404
