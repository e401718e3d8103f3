"""The stand-in's bare Pods and headless Services (tests/kube/standin), through the official
client: a Pod's address (``podIP``) on the Pod network, its ``Ready`` condition from the
readinessProbe (``exec``, ``tcpSocket``) or from running, DNS names from a headless Service,
and Services that are not headless refused (422, as a body the schema refuses)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client, config
from standin import StandIn

NS = "tests"


def core_api(server: StandIn) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(server.kubeconfig)))


def pod(name: str, image: str, script: str, probe: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "command": ["/bin/sh", "-c", script],
    }
    if probe is not None:
        container["readinessProbe"] = {**probe, "periodSeconds": 1, "failureThreshold": 1}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "probed"}},
        "spec": {
            "restartPolicy": "Never",
            "hostname": name,
            "subdomain": "probed",
            "containers": [container],
        },
    }


def ready(core: client.CoreV1Api, name: str, seconds: float = 20) -> str | None:
    """The Pod's Ready condition status once it is True, else the last seen one."""
    deadline = time.monotonic() + seconds
    found = None
    while time.monotonic() < deadline:
        status = core.read_namespaced_pod(name, NS).status
        found = next((c.status for c in status.conditions or [] if c.type == "Ready"), None)
        if found == "True":
            return found
        time.sleep(0.2)
    return found


def test_bare_pods_get_an_address_readiness_from_their_probe_and_dns_names(
    standin: StandIn, docker_image: str
) -> None:
    core = core_api(standin)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "probed"},
        "spec": {"clusterIP": "None", "selector": {"app": "probed"}},
    }
    core.create_namespaced_service(NS, service)
    server = "exec python3 -m http.server 8000"
    core.create_namespaced_pod(NS, pod("tcp", docker_image, server, {"tcpSocket": {"port": 8000}}))
    exec_probe = {"exec": {"command": ["test", "-f", "/tmp/ready"]}}
    core.create_namespaced_pod(
        NS, pod("late", docker_image, "sleep 2; touch /tmp/ready; sleep 60", exec_probe)
    )
    core.create_namespaced_pod(
        NS, pod("never", docker_image, "sleep 60", {"tcpSocket": {"port": 9}})
    )
    assert ready(core, "tcp") == "True"
    assert ready(core, "late") == "True"
    assert ready(core, "never", seconds=3) == "False"
    address = core.read_namespaced_pod("tcp", NS).status.pod_ip
    assert address and address != core.read_namespaced_pod("late", NS).status.pod_ip
    # another Pod reaches it by address, by HOSTNAME.SUBDOMAIN and by the Service's name
    fetch = (
        "python3 -c \"import urllib.request as u, sys; [print(len(u.urlopen(f'http://{h}:8000/')"
        f'.read()) > 0) for h in sys.argv[1:]]" {address} tcp.probed '
        f"tcp.probed.{NS}.svc.cluster.local; sleep 60"
    )
    core.create_namespaced_pod(NS, pod("client", docker_image, fetch))
    assert ready(core, "client") == "True"  # no probe: ready once running
    deadline = time.monotonic() + 20
    while core.read_namespaced_pod_log("client", NS).count("True") < 3:
        assert time.monotonic() < deadline, core.read_namespaced_pod_log("client", NS)
        time.sleep(0.2)
    for name in ("tcp", "late", "never", "client"):
        core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
    core.delete_namespaced_service("probed", NS)
    assert standin.objects("Pod") == standin.objects("Service") == []


def test_a_service_that_is_not_headless_is_refused(standin: StandIn) -> None:
    core = core_api(standin)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_service(NS, service)
    assert refused.value.status == 422 and "headless" in str(refused.value.body)
    assert standin.objects("Service") == []
