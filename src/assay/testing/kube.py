"""Kubernetes namespaces for tests: detect a configured cluster, create and delete namespaces.

The `kubernetes` package is imported only when a cluster is configured and a namespace
is asked for; it is not a dependency of assay.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.testing.errors import AssayTestingError

__all__ = [
    "ClusterUnavailableError",
    "KubeAccess",
    "find_kube_access",
    "load_core_v1",
    "temporary_namespace",
]

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
MANAGED_BY = {"app.kubernetes.io/managed-by": "assay-testing"}


class ClusterUnavailableError(AssayTestingError):
    """No Kubernetes cluster is configured, or the `kubernetes` package is missing."""


@dataclass(frozen=True)
class KubeAccess:
    """How the cluster is reached: a kubeconfig file (`config_file`) or in-cluster config."""

    config_file: str | None

    @property
    def in_cluster(self) -> bool:
        return self.config_file is None


def find_kube_access(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> KubeAccess:
    """The configured cluster access: `$KUBECONFIG`, `~/.kube/config`, or the service account
    of a pod. Raises `ClusterUnavailableError` saying what was looked at when there is none."""
    environ = os.environ if environ is None else environ
    kubeconfig = environ.get("KUBECONFIG")
    if kubeconfig:
        if any(Path(p).is_file() for p in kubeconfig.split(os.pathsep) if p):
            return KubeAccess(kubeconfig)
        raise ClusterUnavailableError(
            f"no Kubernetes cluster configured: KUBECONFIG={kubeconfig} names no existing file"
        )
    default = (home or Path.home()) / ".kube" / "config"
    if default.is_file():
        return KubeAccess(str(default))
    if environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.is_file():
        return KubeAccess(None)
    raise ClusterUnavailableError(
        f"no Kubernetes cluster configured: KUBECONFIG is unset, {default} does not exist, "
        "and this is not a pod with a service account"
    )


def load_core_v1(access: KubeAccess) -> Any:
    """A `kubernetes.client.CoreV1Api` for `access`."""
    try:
        import kubernetes
    except ImportError:
        raise ClusterUnavailableError(
            "a Kubernetes cluster is configured but the `kubernetes` package is not "
            "installed: pip install kubernetes"
        ) from None
    if access.in_cluster:
        kubernetes.config.load_incluster_config()
    else:
        kubernetes.config.load_kube_config(config_file=access.config_file)
    return kubernetes.client.CoreV1Api()


@contextmanager
def temporary_namespace(
    api: Any, name: str, labels: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Create namespace `name` through `api` (a CoreV1Api), yield it, delete it afterwards
    (a namespace already gone is fine)."""
    metadata = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    api.create_namespace(body={"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
    try:
        yield name
    finally:
        try:
            api.delete_namespace(name=name)
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise
