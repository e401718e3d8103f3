"""The manifests that install ``assay server`` in one namespace (``assay install kubernetes``).

Namespace, ServiceAccount, a Role with only the verbs the runner needs (no wildcards, nothing
cluster-wide), its RoleBinding, the server's Deployment and Service, the CustomResourceDefinitions
of the Testkube kinds assay reads, and optionally a PostgreSQL StatefulSet. Containers run as
non-root with a read-only root filesystem.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from assay import __version__
from assay.errors import DefinitionError
from assay.kube.names import MANAGED_BY, dns_label

__all__ = ["CRDS", "RUNNER_RULES", "InstallOptions", "Kind", "install_manifests"]

SERVER_PORT = 8088
_APP = {"app.kubernetes.io/name": "assay", **MANAGED_BY}


@dataclass(frozen=True)
class Kind:
    """A custom resource kind: its group, served version, names."""

    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


CRDS = (
    Kind("testworkflows.testkube.io", "v1", "TestWorkflow", "testworkflows", ("tw",)),
    Kind(
        "testworkflows.testkube.io",
        "v1",
        "TestWorkflowTemplate",
        "testworkflowtemplates",
        ("twt",),
    ),
    Kind("tests.testkube.io", "v3", "Test", "tests"),
    Kind("tests.testkube.io", "v3", "TestSuite", "testsuites"),
    Kind("executor.testkube.io", "v1", "Webhook", "webhooks"),
)
"""The Testkube kinds (groups and versions as Testkube serves them)."""

RUNNER_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("batch", "jobs", ("create", "get", "list", "watch", "delete")),
    # patch: the runner's signals are the Pod's annotations (assay.kube.signals), not exec
    ("", "pods", ("create", "get", "list", "watch", "delete", "patch")),
    ("", "pods/log", ("get",)),
    ("", "configmaps", ("create", "get", "list", "delete")),
    ("", "secrets", ("create", "delete")),
    ("", "services", ("create", "get", "list", "delete")),
    ("", "events", ("get", "list", "watch")),
    *((kind.group, kind.plural, ("get", "list", "watch")) for kind in CRDS),
)
"""(API group, resource, verbs) the server's ServiceAccount may use in its namespace: Jobs
and their Pods (logs; ``patch`` to set the annotations that signal a waiting step or an abort
to the Pod, :mod:`assay.kube.signals`: no ``pods/exec``, which would run any command in any
Pod of the namespace), service Pods and Services, ConfigMaps,
the Secrets it creates for literal git credentials (create and delete only: it reads none),
events (why a Pod does not start), and the definitions (listed and watched into the store,
:mod:`assay.server.kube_sync`; never written)."""


@dataclass(frozen=True)
class InstallOptions:
    """What ``assay install kubernetes`` was asked for."""

    namespace: str = "assay"
    image: str = f"ghcr.io/assay-dev/assay:{__version__}"
    database_url_secret: str | None = None
    """A Secret (``NAME`` or ``NAME:KEY``, key ``url`` by default) holding ASSAY_DATABASE_URL."""
    with_postgres: bool = False
    postgres_image: str = "postgres:16-alpine"
    postgres_storage: str = "5Gi"
    home_storage: str = "10Gi"
    """ASSAY_HOME (logs, artifacts of executions) on a PersistentVolumeClaim."""

    def check(self) -> None:
        if dns_label(self.namespace) != self.namespace:
            raise DefinitionError(f"--namespace {self.namespace!r}: not a DNS label")
        if (self.database_url_secret is None) == (not self.with_postgres):
            raise DefinitionError(
                "give one of --database-url-secret NAME (a Secret with the PostgreSQL URL "
                "under key `url`) or --with-postgres"
            )


def install_manifests(options: InstallOptions) -> list[dict[str, Any]]:
    """Every object, in the order ``kubectl apply`` should create them."""
    options.check()
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(options.namespace, None)},
        *(_crd(kind) for kind in CRDS),
        _namespaced(options, "v1", "ServiceAccount", "assay", {}),
        _namespaced(options, "rbac.authorization.k8s.io/v1", "Role", "assay-runner", _role()),
        _namespaced(
            options,
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "assay-runner",
            _binding(options),
        ),
    ]
    url_secret, url_key = "assay-postgres", "url"
    if options.with_postgres:
        objects.extend(_postgres(options))
    else:
        assert options.database_url_secret is not None
        url_secret, _, key = options.database_url_secret.partition(":")
        url_key = key or "url"
    objects.append(_claim(options, "assay-home", options.home_storage))
    objects.append(_deployment(options, url_secret, url_key))
    objects.append(
        _namespaced(
            options,
            "v1",
            "Service",
            "assay",
            {
                "spec": {
                    "selector": _APP,
                    "ports": [{"name": "http", "port": SERVER_PORT, "targetPort": "http"}],
                }
            },
        )
    )
    return objects


def _meta(name: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(_APP)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _namespaced(
    options: InstallOptions, api_version: str, kind: str, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _meta(name, options.namespace),
        **body,
    }


def _role() -> dict[str, Any]:
    return {
        "rules": [
            {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
            for group, resource, verbs in RUNNER_RULES
        ]
    }


def _binding(options: InstallOptions) -> dict[str, Any]:
    return {
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "assay-runner",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "assay", "namespace": options.namespace}],
    }


def _crd(kind: Kind) -> dict[str, Any]:
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    names: dict[str, Any] = {
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
        "plural": kind.plural,
        "singular": kind.kind.lower(),
    }
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": _meta(kind.crd_name, None),
        "spec": {
            "group": kind.group,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": kind.version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": open_object,
                                "status": open_object,
                            },
                        }
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _deployment(options: InstallOptions, url_secret: str, url_key: str) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10}
    container = {
        "name": "server",
        "image": options.image,
        "command": ["assay"],
        "args": ["server"],
        "ports": [{"name": "http", "containerPort": SERVER_PORT}],
        "env": [
            {"name": "ASSAY_HOME", "value": "/var/lib/assay"},
            {"name": "ASSAY_RUNNER", "value": "kubernetes"},
            {"name": "ASSAY_SERVER_HOST", "value": "0.0.0.0"},
            {"name": "ASSAY_SERVER_PORT", "value": str(SERVER_PORT)},
            {
                "name": "ASSAY_KUBERNETES_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {  # the Testkube custom resources of the namespace are the definitions
                "name": "ASSAY_SERVER_WATCH_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {
                "name": "ASSAY_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": url_secret, "key": url_key}},
            },
        ],
        "livenessProbe": {**probe, "initialDelaySeconds": 5},
        "readinessProbe": {**probe, "httpGet": {"path": "/ready", "port": "http"}},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": _RESTRICTED_CONTAINER,
        "volumeMounts": [
            {"name": "home", "mountPath": "/var/lib/assay"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return _namespaced(
        options,
        "apps/v1",
        "Deployment",
        "assay",
        {
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": _APP},
                "template": {
                    "metadata": {"labels": dict(_APP)},
                    "spec": {
                        "serviceAccountName": "assay",
                        "securityContext": _pod_security(10001),
                        "containers": [container],
                        "volumes": [
                            {"name": "home", "persistentVolumeClaim": {"claimName": "assay-home"}},
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
                "strategy": {"type": "Recreate"},  # one Pod at a time on the claim
            }
        },
    )


def _claim(options: InstallOptions, name: str, size: str) -> dict[str, Any]:
    return _namespaced(options, "v1", "PersistentVolumeClaim", name, {"spec": _claim_spec(size)})


def _claim_spec(size: str) -> dict[str, Any]:
    return {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}


def _postgres(options: InstallOptions) -> list[dict[str, Any]]:
    """A single-replica PostgreSQL with a generated password (in a Secret, key ``url``)."""
    password = secrets.token_urlsafe(24)
    host = f"assay-postgres.{options.namespace}.svc"
    labels = {"app.kubernetes.io/name": "assay-postgres", **MANAGED_BY}
    secret = _namespaced(
        options,
        "v1",
        "Secret",
        "assay-postgres",
        {
            "type": "Opaque",
            "stringData": {
                "password": password,
                "url": f"postgresql+psycopg://assay:{password}@{host}:5432/assay",
            },
        },
    )
    container = {
        "name": "postgres",
        "image": options.postgres_image,
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": [
            {"name": "POSTGRES_USER", "value": "assay"},
            {"name": "POSTGRES_DB", "value": "assay"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "assay-postgres", "key": "password"}},
            },
        ],
        "readinessProbe": {
            "exec": {"command": ["pg_isready", "-U", "assay", "-d", "assay"]},
            "periodSeconds": 5,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": _RESTRICTED_CONTAINER,
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    statefulset = _namespaced(
        options,
        "apps/v1",
        "StatefulSet",
        "assay-postgres",
        {
            "spec": {
                "serviceName": "assay-postgres",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": _pod_security(70),  # the image's postgres user
                        "containers": [container],
                        "volumes": [
                            {"name": "run", "emptyDir": {}},
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": _claim_spec(options.postgres_storage),
                    }
                ],
            }
        },
    )
    service = _namespaced(
        options,
        "v1",
        "Service",
        "assay-postgres",
        {
            "spec": {
                "selector": labels,
                "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
            }
        },
    )
    return [secret, statefulset, service]
