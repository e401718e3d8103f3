"""A real `assay server` process on loopback with a seeded store, and a headless Chromium
(Debian's `chromium`, driven by Playwright) that may reach that server and nothing else."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support import ASSAY

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags Chromium calls home (refused here, and a
request the test would have to tell apart from the page's own)."""

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Site:
    """The server under test and what was seeded into its store."""

    url: str
    home: Path
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    """Secret of a token of each scope (read, run, admin)."""
    executions: dict[str, str] = field(default_factory=dict)
    """Ids of seeded executions by role (passing, failing)."""

    def cli(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """Run `assay` on the site's home; it must exit ``expect``."""
        done = subprocess.run(
            [ASSAY, *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == expect, f"assay {args}: {done.stdout}\n{done.stderr}"
        return done


@contextmanager
def running_server(env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """`assay server` on a free loopback port until the block ends; its base URL."""
    port = free_port()
    log = Path(env["ASSAY_HOME"]) / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [ASSAY, "server", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"assay server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"assay server did not answer: {log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "ASSAY_HOME": str(home)}
    env.pop("ASSAY_DATABASE_URL", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env
