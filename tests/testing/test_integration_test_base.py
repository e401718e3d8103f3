"""IntegrationTestBase gives class-style suites the plugin's fixtures and helpers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

SUITE = """
import sys

import psycopg
import pytest

from assay.testing import IntegrationTestBase, WaitTimeoutError

SEEN = []


@pytest.mark.requirement("BR-E2E-010")
class TestSuite(IntegrationTestBase):
    def test_names(self):
        SEEN.append(self.unique_name)
        assert self.unique_name.startswith("assay-") and "test-names" in self.unique_name
        assert self.name("db") == self.unique_name + "-db"
        assert self.request.node.name == "test_names"

    def test_each_test_gets_its_own_name(self):
        assert SEEN and self.unique_name != SEEN[0]

    def test_polling(self):
        with pytest.raises(WaitTimeoutError, match="waiting for nothing"):
            self.wait_for_condition(lambda: None, timeout=0.1, description="nothing")

    def test_postgres(self):
        with psycopg.connect(self.postgres.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

    def test_http_service(self):
        service = self.http_service([sys.executable, "-m", "http.server", "{port}"])
        self.wait_for_service(service.url)

    def test_namespace(self):
        self.k8s_namespace
"""


@pytest.mark.usefixtures("require_pg_binaries")
def test_class_suite(pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch) -> None:
    isolated_env.setenv("HOME", str(pytester.path))
    pytester.makepyfile(**{"it/test_suite.py": SUITE})
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--no-skip", "it", f"--junitxml={junit}")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TestSuite.test_namespace*",
            "skip not allowed under it (no-skip policy): no Kubernetes cluster configured*",
        ]
    )
    values = {p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert values == {"BR-E2E-010"}
