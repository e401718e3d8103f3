"""Fixtures shared across the suite: an isolated ASSAY_HOME, local git repositories, and the
PostgreSQL server (whose absence fails under CI=true)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.settings import Settings
from assay.store import Database
from assay.testing import PostgresService, find_pg_bin
from assay.testing.plugin import SETTINGS
from http_receiver import Receiver
from support import GitRepo, commit_all, git, postgres_database, skip_unless_ci, write_files


@pytest.fixture(scope="session")
def postgres_required(pytestconfig: pytest.Config) -> None:
    """Skip without a PostgreSQL (no DSN, no initdb/pg_ctl); under CI=true that fails.

    The plugin's ``postgres_server`` always skips (its documented policy for users); the
    suite must not: dozens of silent skips would hide the PostgreSQL half of ``any_db``.
    """
    if pytestconfig.stash[SETTINGS].postgres_dsn or find_pg_bin() is not None:
        return
    skip_unless_ci(
        "PostgreSQL binaries (initdb, pg_ctl) not found and no --postgres-dsn given: install "
        "them (apt-get install -y postgresql) or set ASSAY_PG_BIN"
    )


@pytest.fixture(scope="session")
def postgres_server(postgres_required: None, postgres_server: PostgresService) -> PostgresService:
    """The plugin's server, checked by ``postgres_required`` first (arguments run in order)."""
    return postgres_server


@pytest.fixture
def assay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A private ASSAY_HOME with its own SQLite store."""
    home = tmp_path / "assay-home"
    monkeypatch.setenv("ASSAY_HOME", str(home))
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    yield Settings.from_env()


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """Create a local git repository (branch main) holding ``files``; returns its path."""
    counter = iter(range(1000))

    def make(files: dict[str, str]) -> Path:
        repo = tmp_path / f"repo{next(counter)}"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        write_files(repo, files)
        commit_all(repo, "initial")
        return repo

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh store on SQLite and on a real PostgreSQL (a new database each test)."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        database = Database(postgres_database(request))
    yield database
    database.close()


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The tag of the local test image (Debian, python3, pytest; scripts/test-image.sh):
    built or imported once, never pulled. Skips without a Docker daemon, except on CI
    (CI=true), where that fails."""
    import os
    import subprocess

    from assay.errors import InfrastructureError
    from assay.runners.docker import docker_client

    root = Path(__file__).resolve().parents[1]
    try:
        docker_client().close()
        built = subprocess.run(
            [str(root / "scripts" / "test-image.sh")], capture_output=True, text=True
        )
        if built.returncode != 0:
            raise InfrastructureError(f"scripts/test-image.sh failed: {built.stderr.strip()}")
    except InfrastructureError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Docker is required on CI: {exc}", pytrace=False)
        pytest.skip(f"Docker is not available: {exc}")
    return built.stdout.strip()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on loopback (webhook tests): records requests, answers with the
    statuses in its ``statuses`` list in turn, then 200."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def second_docker_image(docker_image: str) -> str:
    """A second local image: the test image with ``/etc/assay-image`` reading ``second``
    (committed from a container of it, once; kept in the daemon under a tag derived from
    the test image's, so a new test image makes a new one). Never pulled."""
    from docker.errors import ImageNotFound

    from assay.runners.docker import docker_client

    tag = "assay-test-python-second:" + docker_image.rsplit(":", 1)[-1]
    client = docker_client()
    try:
        client.images.get(tag)
    except ImageNotFound:
        container = client.containers.run(
            docker_image, ["sh", "-c", "echo second > /etc/assay-image"], detach=True
        )
        try:
            container.wait(timeout=60)
            repository, version = tag.split(":")
            container.commit(repository=repository, tag=version)
        finally:
            container.remove(force=True)
    finally:
        client.close()
    return tag
