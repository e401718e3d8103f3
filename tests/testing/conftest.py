"""Shared setup for the tests of assay.testing: pytester, and PostgreSQL availability."""

from __future__ import annotations

import pytest

from assay.testing import find_pg_bin
from support import skip_unless_ci


def pytest_configure(config: pytest.Config) -> None:
    # Loads the `pytester` fixture. Not `pytest_plugins = ["pytester"]`: pytest rejects that
    # in a conftest below the rootdir when it is loaded late (e.g. `pytest .`).
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture(scope="session")  # session scope: set up before the session's postgres_server
def require_pg_binaries() -> None:
    """Skip when initdb/pg_ctl are missing, except on CI (CI=true), where that fails."""
    if find_pg_bin() is not None:
        return
    skip_unless_ci(
        "PostgreSQL binaries (initdb, pg_ctl) not found: install them "
        "(apt-get install -y postgresql) or set ASSAY_PG_BIN"
    )


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No configured PostgreSQL DSN or Kubernetes cluster leaks in from the environment."""
    for name in ("ASSAY_POSTGRES_DSN", "ASSAY_RUN_ID", "KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
