"""Helpers for CLI tests: the real console script, git and package settings."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from support import ASSAY, Cli  # noqa: F401 (re-exported for tests)

WHEELHOUSE = Path(__file__).resolve().parents[2] / ".cache" / "wheelhouse"


def insteadof(cli: Cli, local: Path, remote: str) -> None:
    """Map ``remote`` to the local repository through the user's git config."""
    subprocess.run(
        ["git", "config", "--global", f"url.file://{local}.insteadOf", remote],
        env=cli.env,
        check=True,
    )


def offline_packages(cli: Cli, links: Path, extra: Sequence[Path] = ()) -> None:
    """Make pip and uv inside steps install only from ``links``: the wheelhouse + ``extra``."""
    if not WHEELHOUSE.is_dir():
        pytest.fail(f"{WHEELHOUSE} is missing: scripts/test.sh prepares it")
    links.mkdir(parents=True, exist_ok=True)
    for wheel in [*WHEELHOUSE.glob("*.whl"), *extra]:
        (links / wheel.name).symlink_to(wheel)
    cli.env.update(
        {
            "UV_OFFLINE": "1",
            "UV_FIND_LINKS": str(links),
            "UV_NO_CACHE": "1",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(links),
        }
    )
