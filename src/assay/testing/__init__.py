"""assay.testing: helpers and a pytest plugin for integration and E2E tests.

The plugin (`assay.testing.plugin`) is registered through the `pytest11` entry point and
loads in every pytest run once assay is installed; disable it with `-p no:assay`.
See docs/testing-plugin.md.
"""

from __future__ import annotations

from assay.testing.base import IntegrationTestBase
from assay.testing.errors import AssayTestingError, ServiceStartError, WaitTimeoutError
from assay.testing.kube import ClusterUnavailableError, find_kube_access, temporary_namespace
from assay.testing.naming import dns1123_label
from assay.testing.polling import (
    wait_for_condition,
    wait_for_condition_async,
    wait_for_service,
    wait_for_service_async,
)
from assay.testing.postgres import (
    PostgresService,
    find_pg_bin,
    parse_postgres_dsn,
    running_postgres,
)
from assay.testing.reporting import attach_logs
from assay.testing.requirements import requirement_ids
from assay.testing.services import HttpService, HttpServices, LogSource

__all__ = [
    "AssayTestingError",
    "ClusterUnavailableError",
    "HttpService",
    "HttpServices",
    "IntegrationTestBase",
    "LogSource",
    "PostgresService",
    "ServiceStartError",
    "WaitTimeoutError",
    "attach_logs",
    "dns1123_label",
    "find_kube_access",
    "find_pg_bin",
    "parse_postgres_dsn",
    "requirement_ids",
    "running_postgres",
    "temporary_namespace",
    "wait_for_condition",
    "wait_for_condition_async",
    "wait_for_service",
    "wait_for_service_async",
]
