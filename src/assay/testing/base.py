"""`IntegrationTestBase`: the plugin's fixtures and helpers for class-style suites."""

from __future__ import annotations

import pytest

from assay.testing.naming import dns1123_label
from assay.testing.polling import (
    wait_for_condition,
    wait_for_condition_async,
    wait_for_service,
    wait_for_service_async,
)
from assay.testing.postgres import PostgresService
from assay.testing.services import HttpServices

__all__ = ["IntegrationTestBase"]


class IntegrationTestBase:
    """Base class for integration test classes.

    Gives each test `self.unique_name` and `self.request`, the polling helpers as
    methods, and the service fixtures as attributes resolved on first use, so a suite
    only pays for the services it touches::

        @pytest.mark.requirement("BR-E2E-001")
        class TestOrders(IntegrationTestBase):
            def test_store(self):
                dsn = self.postgres.dsn
    """

    request: pytest.FixtureRequest
    unique_name: str

    wait_for_condition = staticmethod(wait_for_condition)
    wait_for_condition_async = staticmethod(wait_for_condition_async)
    wait_for_service = staticmethod(wait_for_service)
    wait_for_service_async = staticmethod(wait_for_service_async)

    @pytest.fixture(autouse=True)
    def _assay_integration_base(self, request: pytest.FixtureRequest, unique_name: str) -> None:
        self.request = request
        self.unique_name = unique_name

    def name(self, *suffix: str) -> str:
        """`unique_name` extended with `suffix`, still a DNS-1123 label of at most 63 chars."""
        return dns1123_label(self.unique_name, *suffix)

    @property
    def postgres(self) -> PostgresService:
        """The `postgres_service` fixture."""
        service: PostgresService = self.request.getfixturevalue("postgres_service")
        return service

    @property
    def http_service(self) -> HttpServices:
        """The `http_service` fixture: call it with a command to start a service."""
        services: HttpServices = self.request.getfixturevalue("http_service")
        return services

    @property
    def k8s_namespace(self) -> str:
        """The `k8s_namespace` fixture: a namespace created for this test."""
        namespace: str = self.request.getfixturevalue("k8s_namespace")
        return namespace
