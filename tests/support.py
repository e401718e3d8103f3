"""Helpers shared by tests: the CLI, local git repositories, wheels, PostgreSQL databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy

from assay.testing import PostgresService

CONFORMANCE_ENV = "ASSAY_TEST_CONFORMANCE_DIR"
_SHARED = Path(__file__).resolve().parents[2] / "shared"
CONFORMANCE = Path(os.environ.get(CONFORMANCE_ENV) or _SHARED / "conformance")
"""The shared conformance material (``$ASSAY_TEST_CONFORMANCE_DIR`` overrides the place)."""


def on_ci() -> bool:
    """True under ``CI=true``, where every service and every piece of material must be there."""
    return os.environ.get("CI", "").lower() == "true"


def skip_unless_ci(message: str) -> NoReturn:
    """Skip saying ``message``; under ``CI=true`` fail with it instead (no silent skips)."""
    if on_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


GitRepo = Callable[[dict[str, str]], Path]
ASSAY = str(Path(sys.executable).parent / "assay")


class Cli:
    """Runs the real `assay` console script in a subprocess with a private home."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, check: int | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [ASSAY, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=300
        )
        if check is not None:
            assert done.returncode == check, (
                f"assay {' '.join(args)} exited {done.returncode}, expected {check}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def json(self, *args: str, check: int = 0) -> Any:
        """Parsed JSON output (``-o json`` is added unless given)."""
        extra = () if "-o" in args else ("-o", "json")
        return json.loads(self(*args, *extra, check=check).stdout)


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity; return stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit_all(repo: Path, message: str = "change") -> str:
    """Commit every change in ``repo``; return the new commit id."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_wheel(directory: Path, name: str, version: str, code: str) -> Path:
    """Build a minimal pure-Python wheel of module ``name`` (dashes become underscores)."""
    module = name.replace("-", "_")
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{module}/__init__.py", code)
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        zf.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def postgres_database(request: pytest.FixtureRequest) -> str:
    """URL of a new empty database on the test PostgreSQL server."""
    return new_postgres_database(request.getfixturevalue("postgres_service"))


def new_postgres_database(server: PostgresService) -> str:
    """URL of a new empty database on ``server`` (for fixtures wider than a test)."""
    name = f"assay_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(_url(server, server.dbname), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _url(server, name)


def _url(server: PostgresService, dbname: str) -> str:
    return f"postgresql+psycopg://{server.user}@{server.host}:{server.port}/{dbname}"
