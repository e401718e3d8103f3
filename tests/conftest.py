"""Fixtures shared across the suite: an isolated ASSAY_HOME, local git repositories."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assay.settings import Settings

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"


@pytest.fixture
def assay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A private ASSAY_HOME with its own SQLite store."""
    home = tmp_path / "assay-home"
    monkeypatch.setenv("ASSAY_HOME", str(home))
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    yield Settings.from_env()


GitRepo = Callable[[dict[str, str]], Path]


def _git(cwd: Path, *args: str) -> str:
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


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """Create a local git repository (branch main) holding ``files``; returns its path."""
    counter = iter(range(1000))

    def make(files: dict[str, str]) -> Path:
        repo = tmp_path / f"repo{next(counter)}"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        for rel, text in files.items():
            path = repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "initial")
        return repo

    return make


def commit_all(repo: Path, message: str = "change") -> str:
    """Commit every change in ``repo``; return the new commit id."""
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD").strip()
