"""The Kubernetes API stand-in itself (tests/kube/standin): what the runner's tests rely on,
checked through the official client: strict validation, watch semantics, Pods run for real on
Docker in init-container order with a shared emptyDir, logs, image pull failures, deletion."""

from __future__ import annotations

import json
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


def running_pod(core: client.CoreV1Api, app: str) -> str:
    """The name of Job ``app``'s Pod once its first container runs."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NS, label_selector=f"app={app}").items
        statuses = pods[0].status.container_statuses if pods and pods[0].status else None
        if statuses and statuses[0].state.running:
            return str(pods[0].metadata.name)
        time.sleep(0.1)
    raise AssertionError(f"the Pod of {app} never ran")


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
    name = running_pod(core, "long")
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


def test_a_resource_quota_refuses_creates_as_the_api_server_does(standin: StandIn) -> None:
    core, batch = apis(standin)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}}
    core.create_namespaced_resource_quota(
        NS, quota | {"spec": {"hard": {"count/jobs.batch": "1", "pods": "0"}}}
    )
    made = batch.create_namespaced_job(NS, job("one", "registry.invalid/x:1", [], "true"))
    with pytest.raises(client.ApiException) as refused:
        batch.create_namespaced_job(NS, job("two", "registry.invalid/x:1", [], "true"))
    answer = json.loads(refused.value.body)
    assert (refused.value.status, answer["reason"]) == (403, "Forbidden")
    assert answer["message"] == (
        'jobs.batch "two" is forbidden: exceeded quota: q, requested: count/jobs.batch=1, '
        "used: count/jobs.batch=1, limited: count/jobs.batch=1"
    )
    assert answer["details"] == {"name": "two", "group": "batch", "kind": "jobs"}
    # the Job's Pod is refused in turn: the Job controller's Warning event, repeated
    time.sleep(1.5)
    (event,) = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.uid={made.metadata.uid},reason=FailedCreate"
    ).items
    assert (event.type, event.involved_object.kind, event.source.component) == (
        "Warning",
        "Job",
        "job-controller",
    )
    assert event.message.startswith('Error creating: pods "one-') and event.message.endswith(
        '" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'
    )
    assert event.count > 1 and standin.objects("Pod") == []
    assert core.list_namespaced_event(NS, field_selector="reason=Other").items == []
    with pytest.raises(client.ApiException) as unknown:
        core.list_namespaced_event(NS, field_selector="message=x")
    assert unknown.value.status == 400
    with pytest.raises(client.ApiException) as unenforced:
        core.create_namespaced_resource_quota(
            NS, quota | {"metadata": {"name": "cpu"}, "spec": {"hard": {"requests.cpu": "1"}}}
        )
    assert unenforced.value.status == 400
    batch.delete_namespaced_job("one", NS, propagation_policy="Background")


def changes(core: client.CoreV1Api, app: str, version: str) -> list[tuple[str, Any]]:
    """The watch events of Job ``app``'s Pod after ``version``, as (type, Pod dict)."""
    answer = core.list_namespaced_pod(
        NS,
        label_selector=f"app={app}",
        watch=True,
        resource_version=version,
        timeout_seconds=1,
        _preload_content=False,
    )
    events = [json.loads(line) for line in answer.data.decode().splitlines()]
    return [(event["type"], event["object"]) for event in events]


def conditions(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    found = pod["status"].get("conditions", [])
    return {c["type"]: (c["status"], c.get("reason", "")) for c in found}


def test_an_eviction_is_reported_as_the_kubelet_does(standin: StandIn, docker_image: str) -> None:
    core, batch = apis(standin)
    batch.create_namespaced_job(NS, job("ev", docker_image, [], "sleep 60"))
    name = running_pod(core, "ev")
    version = core.read_namespaced_pod(name, NS).metadata.resource_version
    standin.kubelet.evict(NS, name, "The node was low on resource: memory.")
    (kind, failed), (_, killed) = changes(core, "ev", version)
    assert kind == "MODIFIED"
    assert (failed["status"]["phase"], failed["status"]["reason"]) == ("Failed", "Evicted")
    assert failed["status"]["message"] == "The node was low on resource: memory."
    assert conditions(failed)["DisruptionTarget"] == ("True", "TerminationByKubelet")
    assert "running" in failed["status"]["containerStatuses"][0]["state"]  # not yet killed
    assert killed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    (done,) = batch.read_namespaced_job("ev", NS).status.conditions
    assert (done.type, done.reason) == ("Failed", "BackoffLimitExceeded")
    assert standin.objects("Pod") == [name]  # an evicted Pod stays until deleted


@pytest.mark.parametrize("node_deleted", [False, True])
def test_a_lost_node_is_reported_as_the_control_plane_does(
    standin: StandIn, docker_image: str, node_deleted: bool
) -> None:
    core, batch = apis(standin)
    batch.create_namespaced_job(NS, job("lost", docker_image, [], "sleep 60"))
    name = running_pod(core, "lost")
    version = core.read_namespaced_pod(name, NS).metadata.resource_version
    standin.kubelet.lose_node(NS, name, node_deleted=node_deleted)
    seen = changes(core, "lost", version)
    if node_deleted:  # the Pod garbage collector: Failed, then deleted at once
        assert [kind for kind, _ in seen] == ["MODIFIED", "DELETED"]
        assert seen[0][1]["status"]["phase"] == "Failed"
        assert conditions(seen[0][1])["DisruptionTarget"] == ("True", "DeletionByPodGC")
        assert standin.objects("Pod") == []
    else:  # the taint eviction controller: marked, then deleted gracefully (no kubelet ends it)
        assert [kind for kind, _ in seen] == ["MODIFIED", "MODIFIED"]
        assert conditions(seen[0][1])["DisruptionTarget"] == ("True", "DeletionByTaintManager")
        assert seen[1][1]["metadata"]["deletionTimestamp"]
        assert seen[1][1]["status"]["phase"] == "Running"  # nothing reports it ended
        assert standin.objects("Pod") == [name]
