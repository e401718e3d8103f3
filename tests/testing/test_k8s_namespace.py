"""Kubernetes namespaces: cluster detection, the "no cluster" path, and create/delete.

No test here reaches a cluster: the namespace lifecycle runs against a fake CoreV1Api.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from assay.testing import ClusterUnavailableError, find_kube_access, temporary_namespace
from assay.testing.kube import KubeAccess


def test_kubeconfig_env_wins(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\n")
    value = f"{tmp_path / 'missing'}:{config}"
    assert find_kube_access({"KUBECONFIG": value}, home=tmp_path) == KubeAccess(value)


def test_kubeconfig_env_naming_no_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailableError, match="names no existing file"):
        find_kube_access({"KUBECONFIG": str(tmp_path / "nope")}, home=tmp_path)


def test_default_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("apiVersion: v1\n")
    assert find_kube_access({}, home=tmp_path).config_file == str(tmp_path / ".kube" / "config")


def test_nothing_configured(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailableError) as caught:
        find_kube_access({}, home=tmp_path)
    assert "no Kubernetes cluster configured: KUBECONFIG is unset" in str(caught.value)
    assert str(tmp_path / ".kube" / "config") in str(caught.value)


class FakeCoreV1:
    def __init__(self, delete_error: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.delete_error = delete_error

    def create_namespace(self, body: dict[str, Any]) -> None:
        self.calls.append(("create", body))

    def delete_namespace(self, name: str) -> None:
        self.calls.append(("delete", name))
        if self.delete_error is not None:
            raise self.delete_error


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def test_namespace_is_created_with_labels_and_deleted_even_on_error() -> None:
    api = FakeCoreV1()
    with pytest.raises(RuntimeError), temporary_namespace(api, "ns-1", {"assay-run-id": "r1"}):
        assert api.calls[0][0] == "create"
        raise RuntimeError("test failed")
    (_, body), deleted = api.calls
    assert body["metadata"] == {
        "name": "ns-1",
        "labels": {"app.kubernetes.io/managed-by": "assay-testing", "assay-run-id": "r1"},
    }
    assert deleted == ("delete", "ns-1")


def test_namespace_already_gone_is_fine_other_delete_errors_are_not() -> None:
    with temporary_namespace(FakeCoreV1(ApiError(404)), "ns-2") as name:
        assert name == "ns-2"
    with pytest.raises(ApiError), temporary_namespace(FakeCoreV1(ApiError(403)), "ns-3"):
        pass


NAMESPACE_TEST = """
def test_needs_cluster(k8s_namespace):
    pass
"""


@pytest.fixture
def no_cluster(pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch) -> pytest.Pytester:
    isolated_env.setenv("HOME", str(pytester.path / "home"))
    pytester.makepyfile(test_ns=NAMESPACE_TEST)
    return pytester


def test_fixture_skips_with_a_clear_reason_without_cluster(no_cluster: pytest.Pytester) -> None:
    result = no_cluster.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*no Kubernetes cluster configured: KUBECONFIG is unset*"])


def test_fixture_fails_without_cluster_under_no_skip(no_cluster: pytest.Pytester) -> None:
    result = no_cluster.runpytest("--no-skip", ".")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*skip not allowed under . (no-skip policy): no Kubernetes cluster configured*"]
    )


def test_fixture_says_when_the_kubernetes_package_is_missing(
    no_cluster: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = no_cluster.path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # makes `import kubernetes` fail
    result = no_cluster.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the `kubernetes` package is not installed*"])
