"""Helpers for CLI tests: the real console script, git and package settings."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ASSAY = str(Path(sys.executable).parent / "assay")
WHEELHOUSE = Path(__file__).resolve().parents[2] / ".cache" / "wheelhouse"


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

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, check=0).stdout)


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
