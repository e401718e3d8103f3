"""Deleting the objects of a Kubernetes execution whose process died.

:mod:`assay.kube.live` records the objects an execution will create (a task of the store,
written before the first one exists) and forgets them once they are deleted. When the
process running it is killed, the next reconciliation (:mod:`assay.engine.recovery`) finds
the execution's owner gone and calls :func:`delete_objects` with that record: the Job goes
with its Pods, then the rest, so nothing assay created stays in the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.engine.recovery import ObjectCleaner

__all__ = ["CLEANERS", "delete_objects"]


def delete_objects(task: Mapping[str, Any]) -> int:
    """Delete the objects ``task`` records (the Job first); how many still existed.
    Raises InfrastructureError naming the object that could not be deleted."""
    from assay.kube.cluster import Cluster

    objects = [(str(kind), str(name)) for kind, name in task["objects"]]
    cluster = Cluster(str(task["namespace"]))
    deleted = 0
    for kind, name in sorted(objects, key=lambda item: item[0] != "Job"):
        if cluster.delete(kind, name):
            deleted += 1
    return deleted


CLEANERS: dict[str, ObjectCleaner] = {"kubernetes": delete_objects}
"""For :class:`~assay.engine.recovery.Reconciler`: the runners whose objects live in a cluster."""
