"""`assay install kubernetes`: every manifest valid against the official schemas, RBAC
namespaced and without wildcards, the server hardened and probed, the CRDs Testkube's."""

from __future__ import annotations

from typing import Any

import pytest
from kube_support import named, of_kind, validate_strictly

from assay.errors import DefinitionError
from assay.kube.install import InstallOptions, install_manifests


@pytest.fixture(scope="module", params=["secret", "postgres"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    if request.param == "secret":
        options = InstallOptions(namespace="qa", database_url_secret="assay-db:dsn")
    else:
        options = InstallOptions(namespace="qa", with_postgres=True)
    return install_manifests(options)


def test_every_manifest_validates_strictly(manifests: list[dict[str, Any]]) -> None:
    for item in manifests:
        validate_strictly(item)
    kinds = {item["kind"] for item in manifests}
    assert {
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
    } <= kinds
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds


def test_rbac_is_namespaced_and_has_no_wildcards(manifests: list[dict[str, Any]]) -> None:
    role = named(manifests, "Role", "assay-runner")
    assert role["metadata"]["namespace"] == "qa"
    granted = {}
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
            assert all("*" not in value for value in rule[field]), rule
        for resource in rule["resources"]:
            granted[(rule["apiGroups"][0], resource)] = set(rule["verbs"])
    assert granted[("batch", "jobs")] >= {"create", "get", "list", "watch", "delete"}
    assert granted[("", "pods/log")] == {"get"}
    # signals go through the Pod's annotations: patch on pods, and no exec at all
    assert granted[("", "pods")] == {"create", "get", "list", "watch", "delete", "patch"}
    assert ("", "pods/exec") not in granted
    assert granted[("", "secrets")] == {"create", "delete"}  # never reads a secret
    for crd in of_kind(manifests, "CustomResourceDefinition"):  # read and watched, never written
        resource = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        assert granted[resource] == {"get", "list", "watch"}, resource
    binding = named(manifests, "RoleBinding", "assay-runner")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "assay-runner",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "assay", "namespace": "qa"}]


def test_server_is_probed_hardened_and_bounded(manifests: list[dict[str, Any]]) -> None:
    deployment = named(manifests, "Deployment", "assay")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "assay"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (server,) = pod["containers"]
    assert [*server["command"], *server["args"]] == ["assay", "server"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    assert server["readinessProbe"]["httpGet"]["path"] == "/ready"
    security = server["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert server["resources"]["limits"]["memory"]
    env = {v["name"]: v for v in server["env"]}
    assert env["ASSAY_SERVER_HOST"]["value"] == "0.0.0.0"
    assert "secretKeyRef" in env["ASSAY_DATABASE_URL"]["valueFrom"]
    # the definitions are the custom resources of the server's own namespace
    assert env["ASSAY_SERVER_WATCH_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    for item in manifests:
        if item["kind"] in ("Deployment", "StatefulSet"):
            for container in item["spec"]["template"]["spec"]["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_database_url_comes_from_the_named_secret() -> None:
    objects = install_manifests(InstallOptions(database_url_secret="assay-db:dsn"))
    server = named(objects, "Deployment", "assay")["spec"]["template"]["spec"]["containers"][0]
    env = {v["name"]: v for v in server["env"]}
    assert env["ASSAY_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "assay-db", "key": "dsn"}
    }
    assert not of_kind(objects, "StatefulSet") and not of_kind(objects, "Secret")


def test_with_postgres_generates_a_password_per_install() -> None:
    first, second = (install_manifests(InstallOptions(with_postgres=True)) for _ in range(2))
    passwords = [
        named(o, "Secret", "assay-postgres")["stringData"]["password"] for o in (first, second)
    ]
    assert passwords[0] != passwords[1] and len(passwords[0]) >= 24
    url = named(first, "Secret", "assay-postgres")["stringData"]["url"]
    assert (
        url.startswith("postgresql+psycopg://assay:") and "@assay-postgres.assay.svc:5432/" in url
    )


def test_crds_are_testkubes_groups_and_versions(manifests: list[dict[str, Any]]) -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in of_kind(manifests, "CustomResourceDefinition")}
    served = {
        kind: (crd["spec"]["group"], crd["spec"]["versions"][0]["name"])
        for kind, crd in crds.items()
    }
    assert served == {
        "TestWorkflow": ("testworkflows.testkube.io", "v1"),
        "TestWorkflowTemplate": ("testworkflows.testkube.io", "v1"),
        "Test": ("tests.testkube.io", "v3"),
        "TestSuite": ("tests.testkube.io", "v3"),
        "Webhook": ("executor.testkube.io", "v1"),
    }
    for crd in crds.values():
        names = crd["spec"]["names"]
        assert crd["metadata"]["name"] == f"{names['plural']}.{crd['spec']['group']}"
        assert crd["spec"]["scope"] == "Namespaced"


@pytest.mark.parametrize(
    "options",
    [
        InstallOptions(),
        InstallOptions(database_url_secret="db", with_postgres=True),
        InstallOptions(namespace="Not_A_Name", with_postgres=True),
    ],
)
def test_bad_options_are_refused(options: InstallOptions) -> None:
    with pytest.raises(DefinitionError):
        install_manifests(options)
