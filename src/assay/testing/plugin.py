"""The pytest plugin, registered as `assay` through the `pytest11` entry point.

Options (each also an ini setting, see docs/testing-plugin.md):

* ``--require-requirement-marker PATH`` / ``assay_require_requirement_paths``
* ``--no-skip PATH`` / ``assay_no_skip_paths``
* ``--postgres-dsn DSN`` / ``$ASSAY_POSTGRES_DSN``
* ``assay_name_prefix`` (ini) / ``$ASSAY_RUN_ID``

Fixtures: ``unique_name``, ``k8s_namespace``, ``postgres_server`` (session),
``postgres_service``, ``http_service``.

Under ``assay run`` (``$ASSAY_REPORT_DIR`` set) it also writes assay's own JUnit report of
the run, whatever ``--junitxml`` says (:mod:`assay.pytest_attempts`).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

from assay.pytest_attempts import register_attempt_report, select_reruns
from assay.testing.kube import (
    ClusterUnavailableError,
    find_kube_access,
    load_core_v1,
    temporary_namespace,
)
from assay.testing.naming import dns1123_label, new_run_id, resource_name
from assay.testing.policy import PathPolicy, forbid_collect_skip, forbid_skip
from assay.testing.postgres import (
    DSN_ENV,
    PG_BIN_ENV,
    PostgresService,
    find_pg_bin,
    parse_postgres_dsn,
    running_postgres,
)
from assay.testing.reporting import add_log_sections, attach_logs
from assay.testing.requirements import MARKER_HELP, apply_requirements
from assay.testing.services import HttpServices

RUN_ID_ENV = "ASSAY_RUN_ID"


@dataclass(frozen=True)
class Settings:
    """The plugin's configuration for one pytest run."""

    require_requirement: PathPolicy
    no_skip: PathPolicy
    run_id: str
    name_prefix: str
    postgres_dsn: str | None


SETTINGS = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("assay", "assay.testing (integration and E2E tests)")
    group.addoption(
        "--require-requirement-marker",
        action="append",
        default=[],
        metavar="PATH",
        dest="assay_require_requirement",
        help="tests under PATH without @pytest.mark.requirement(...) are collection errors "
        "(repeatable; adds to the ini setting assay_require_requirement_paths)",
    )
    parser.addini(
        "assay_require_requirement_paths",
        type="paths",
        default=[],
        help="paths whose tests must carry @pytest.mark.requirement(...)",
    )
    group.addoption(
        "--no-skip",
        action="append",
        default=[],
        metavar="PATH",
        dest="assay_no_skip",
        help="skips of tests under PATH fail, showing the skip reason "
        "(repeatable; adds to the ini setting assay_no_skip_paths)",
    )
    parser.addini(
        "assay_no_skip_paths",
        type="paths",
        default=[],
        help="paths whose tests may not skip: a skip fails and shows its reason",
    )
    parser.addini(
        "assay_name_prefix",
        default="assay",
        help="first part of unique_name and of namespace names (default: assay)",
    )
    group.addoption(
        "--postgres-dsn",
        default=None,
        metavar="DSN",
        dest="assay_postgres_dsn",
        help=f"PostgreSQL for postgres_service instead of a throwaway server (or ${DSN_ENV})",
    )


def _run_id(config: pytest.Config) -> str:
    explicit = os.environ.get(RUN_ID_ENV)
    if explicit:
        return dns1123_label(explicit, max_length=16)
    worker_input = getattr(config, "workerinput", None)  # pytest-xdist: one id for all workers
    if worker_input and "testrunuid" in worker_input:
        return str(worker_input["testrunuid"])[:6]
    return new_run_id()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[SETTINGS] = Settings(
        require_requirement=PathPolicy.from_config(
            config, "assay_require_requirement", "assay_require_requirement_paths"
        ),
        no_skip=PathPolicy.from_config(config, "assay_no_skip", "assay_no_skip_paths"),
        run_id=_run_id(config),
        name_prefix=str(config.getini("assay_name_prefix")),
        postgres_dsn=config.getoption("assay_postgres_dsn") or os.environ.get(DSN_ENV),
    )
    register_attempt_report(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    kept, errors = apply_requirements(items, config.stash[SETTINGS].require_requirement)
    for report in errors:
        config.hook.pytest_collectreport(report=report)
    items[:] = kept
    select_reruns(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped:
        root = collector.config.stash[SETTINGS].no_skip.match(collector.path)
        if root is not None:
            return forbid_collect_skip(report, root)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        root = item.config.stash[SETTINGS].no_skip.match(item.path)
        if root is not None:
            report = forbid_skip(item, call, report, root)
    if report.failed:
        add_log_sections(item, report)
    return report


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """`prefix-runid-testname-hash`: a DNS-1123 label (<= 63 chars) unique to this test in
    this run, for namespaces, databases, buckets, topics."""
    settings = request.config.stash[SETTINGS]
    node = request.node
    return resource_name(settings.name_prefix, settings.run_id, node.name, node.nodeid)


@pytest.fixture
def k8s_namespace(request: pytest.FixtureRequest, unique_name: str) -> Iterator[str]:
    """A Kubernetes namespace named `unique_name`, created for this test and deleted after.
    Skips, saying why, when no cluster is configured (a failure under --no-skip)."""
    try:
        api = load_core_v1(find_kube_access())
    except ClusterUnavailableError as exc:
        pytest.skip(str(exc))
    labels = {"assay-run-id": request.config.stash[SETTINGS].run_id}
    with temporary_namespace(api, unique_name, labels) as namespace:
        yield namespace


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> Iterator[PostgresService]:
    """The PostgreSQL of this session: `--postgres-dsn` / `$ASSAY_POSTGRES_DSN` when given,
    else a throwaway server started once. Prefer `postgres_service` in tests."""
    dsn = pytestconfig.stash[SETTINGS].postgres_dsn
    if dsn:
        yield parse_postgres_dsn(dsn)
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not available: no initdb/pg_ctl on PATH, in "
            f"/usr/lib/postgresql/*/bin or in ${PG_BIN_ENV}, and no --postgres-dsn / "
            f"${DSN_ENV} given"
        )
    with running_postgres(bin_dir) as service:
        yield service


@pytest.fixture
def postgres_service(
    request: pytest.FixtureRequest, postgres_server: PostgresService
) -> PostgresService:
    """Connection facts (`dsn`, `host`, `port`, `user`, `dbname`) of the session's
    PostgreSQL; its log is attached to the report when the test fails."""
    attach_logs(request.node, postgres_server)
    return postgres_server


@pytest.fixture
def http_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServices]:
    """Start services with `http_service([cmd, ..., "{port}"], ready_path="/health")`; they
    are stopped after the test, and their output is attached to the report on failure."""
    services = HttpServices(tmp_path_factory.mktemp("http-service"))
    attach_logs(request.node, services)
    with services:
        yield services
