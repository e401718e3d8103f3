"""The Pod follower's reading of faults the stand-in does not produce (older clusters' phase
``Unknown``/``NodeLost``; a watch expiring while the Pod is deleted), fed canned API answers
through its real watch thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, cast

from assay.kube.cluster import Cluster, Gone
from assay.kube.follow import PodFollower


def pod(version: int, **status: Any) -> dict[str, Any]:
    running = {"name": "step-1", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
    return {
        "metadata": {"name": "wf-abc12", "resourceVersion": str(version)},
        "status": {"phase": "Running", "initContainerStatuses": [running], **status},
    }


class CannedCluster:
    """``list_pods`` answers in turn; each watch replays ``events`` once, then 410 Gone."""

    def __init__(self, lists: list[list[dict[str, Any]]], events: list[dict[str, Any]]) -> None:
        self.lists = lists
        self.events = events

    def list_pods(self, selector: str) -> tuple[list[dict[str, Any]], str]:
        items = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        return items, "1"

    def watch_pods(self, selector: str, version: str, seconds: int) -> Iterator[dict[str, Any]]:
        events, self.events = self.events, []
        yield from events
        raise Gone("too old resource version")


def follow(cluster: CannedCluster) -> PodFollower:
    names = {"step-1": "step 'prepare'"}
    follower = PodFollower(cast(Cluster, cluster), "app=wf", names, threading.Event())
    follower.start()
    deadline = time.monotonic() + 10
    while not (follower.fault or follower.vanished) and time.monotonic() < deadline:
        time.sleep(0.05)
    follower.close()
    return follower


def test_a_pod_whose_node_is_lost_on_an_older_cluster_is_a_fault_naming_the_step() -> None:
    lost = pod(2, phase="Unknown", reason="NodeLost", message="Node n1 is unresponsive")
    follower = follow(CannedCluster([[pod(1)]], [{"type": "MODIFIED", "object": lost}]))
    assert follower.fault == "step 'prepare': Pod wf-abc12: NodeLost: Node n1 is unresponsive"


def test_a_pod_gone_from_the_list_after_the_watch_expired_has_vanished() -> None:
    follower = follow(CannedCluster([[pod(1)], []], []))
    assert follower.vanished and follower.fault is None
    assert follower.last_step() == "step 'prepare': "


def test_an_empty_first_list_is_not_a_vanished_pod() -> None:
    cluster = CannedCluster([[]], [])
    follower = PodFollower(cast(Cluster, cluster), "app=wf", {}, threading.Event())
    follower.start()
    time.sleep(0.5)  # several lists and watches go by
    follower.close()
    assert not follower.vanished and follower.fault is None
