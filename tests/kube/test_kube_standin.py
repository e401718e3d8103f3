"""The Kubernetes API stand-in itself (tests/kube/standin): what the runner's tests rely on,
checked through the official client: strict validation, watch semantics, Pods run for real on
Docker in init-container order with a shared emptyDir, logs, image pull failures, deletion."""

from __future__ import annotations

import time
from typing import Any

import docker
import httpx
import pytest
from kubernetes import client, config, watch
from standin import StandIn

NS = "tests"


def apis(server: StandIn) -> tuple[client.CoreV1Api, client.BatchV1Api]:
    api = config.new_client_from_config(str(server.kubeconfig))
    return client.CoreV1Api(api), client.BatchV1Api(api)


def job(name: str, image: str, init: list[str], main: str) -> dict[str, Any]:
    mounts = [{"name": "data", "mountPath": "/data"}]

    def container(index: int, script: str) -> dict[str, Any]:
        return {
            "name": f"c{index}",
            "image": image,
            "command": ["/bin/sh", "-c", script],
            "volumeMounts": mounts,
        }

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": [container(i, s) for i, s in enumerate(init)],
                    "containers": [container(len(init), main)],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }


def final_pod(core: client.CoreV1Api, selector: str) -> Any:
    stream = watch.Watch().stream(
        core.list_namespaced_pod, NS, label_selector=selector, timeout_seconds=60
    )
    for event in stream:
        pod = event["object"]
        if pod.status and pod.status.phase in ("Succeeded", "Failed"):
            return pod
    raise AssertionError("the Pod did not end")


def test_a_job_runs_its_init_containers_in_order_sharing_data(
    standin: StandIn, docker_image: str
) -> None:
    core, batch = apis(standin)
    steps = ["echo one > /data/log", "echo two >> /data/log; echo written"]
    batch.create_namespaced_job(NS, job("seq", docker_image, steps, "cat /data/log; exit 3"))
    pod = final_pod(core, "app=seq")
    assert pod.status.phase == "Failed"
    (main,) = pod.status.container_statuses
    assert (main.state.terminated.exit_code, main.state.terminated.reason) == (3, "Error")
    assert [s.state.terminated.exit_code for s in pod.status.init_container_statuses] == [0, 0]
    name = pod.metadata.name
    assert core.read_namespaced_pod_log(name, NS, container="c1") == "written\n"
    assert core.read_namespaced_pod_log(name, NS, container="c2") == "one\ntwo\n"
    assert batch.read_namespaced_job("seq", NS).status.failed == 1


def test_a_failed_init_container_stops_the_pod(standin: StandIn, docker_image: str) -> None:
    core, batch = apis(standin)
    batch.create_namespaced_job(NS, job("stop", docker_image, ["exit 4", "true"], "true"))
    pod = final_pod(core, "app=stop")
    first, second = pod.status.init_container_statuses
    assert first.state.terminated.exit_code == 4
    assert second.state.waiting.reason == "PodInitializing"
    with pytest.raises(client.ApiException) as refused:
        core.read_namespaced_pod_log(pod.metadata.name, NS, container="c1")
    assert refused.value.status == 400 and "waiting to start" in refused.value.body


def test_bodies_are_validated_strictly(standin: StandIn, docker_image: str) -> None:
    body = job("bad", docker_image, [], "true")
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    body["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    answer = httpx.post(
        f"{standin.url}/apis/batch/v1/namespaces/{NS}/jobs",
        json=body,
        headers={"Authorization": f"Bearer {standin.token}"},
        timeout=120,  # the first validation of a kind loads its schema: seconds on a busy host
    )
    assert answer.status_code == 422
    assert answer.json()["reason"] == "Invalid"
    assert standin.objects("Job") == []
    anonymous = httpx.get(f"{standin.url}/api/v1/namespaces/{NS}/pods", timeout=60)
    assert anonymous.status_code == 401


def test_watch_from_a_resource_version_replays_later_changes(standin: StandIn) -> None:
    core, _ = apis(standin)
    first = core.create_namespaced_config_map(
        NS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"k": "1"}}},
    )
    version = first["metadata"]["resourceVersion"] if isinstance(first, dict) else None
    version = version or first.metadata.resource_version
    for name, label in (("b", "1"), ("c", "2")):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
        body["metadata"]["labels"] = {"k": label}
        core.create_namespaced_config_map(NS, body)
    core.delete_namespaced_config_map("a", NS)
    events = watch.Watch().stream(
        core.list_namespaced_config_map,
        NS,
        label_selector="k=1",
        resource_version=version,
        timeout_seconds=1,
    )
    seen = [(e["type"], e["object"].metadata.name) for e in events]
    assert seen == [("ADDED", "b"), ("DELETED", "a")]
    listed = core.list_namespaced_config_map(NS, label_selector="k")
    assert [item.metadata.name for item in listed.items] == ["b", "c"]


def test_an_absent_image_is_never_pulled_and_backs_off(standin: StandIn) -> None:
    core, batch = apis(standin)
    batch.create_namespaced_job(NS, job("pull", "registry.invalid/none:1", [], "true"))
    deadline = time.monotonic() + 10
    reason = None
    while reason != "ImagePullBackOff" and time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NS, label_selector="app=pull").items
        states = pods[0].status.container_statuses if pods and pods[0].status else None
        reason = states[0].state.waiting.reason if states and states[0].state.waiting else None
        time.sleep(0.1)
    assert reason == "ImagePullBackOff"
    assert pods[0].status.phase == "Pending"


def test_deleting_a_job_in_the_background_removes_its_pod_and_containers(
    standin: StandIn, docker_image: str
) -> None:
    core, batch = apis(standin)
    batch.create_namespaced_job(NS, job("long", docker_image, [], "echo up; sleep 60"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NS, label_selector="app=long").items
        statuses = pods[0].status.container_statuses if pods and pods[0].status else None
        if statuses and statuses[0].state.running:
            break
        time.sleep(0.1)
    name = pods[0].metadata.name
    follow = core.read_namespaced_pod_log(
        name, NS, container="c0", follow=True, _preload_content=False
    )
    assert next(follow.stream()).decode() == "up\n"
    batch.delete_namespaced_job("long", NS, propagation_policy="Background")
    assert standin.objects("Job") == [] and standin.objects("Pod") == []
    engine = docker.from_env()
    try:
        deadline = time.monotonic() + 10
        while engine.api.containers(all=True, filters=standin.kubelet.labels_filter):
            assert time.monotonic() < deadline, "the Pod's containers are still there"
            time.sleep(0.1)
    finally:
        engine.close()
