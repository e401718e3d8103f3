"""A real `assay server` process on loopback, on a store of its own (SQLite or PostgreSQL),
with a token of each scope; and the `assay` CLI on the same store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.store import Database
from assay.store.tokens import Scope, TokenStore
from support import ASSAY, Cli, new_postgres_database

SCOPES = ("read", "run", "admin")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ApiServer:
    """A running server: its URL, environment and tokens (scope -> secret)."""

    url: str
    home: Path
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, scope: str | None = "admin", *, token: str | None = None) -> httpx.Client:
        """An HTTP client sending ``token``, else the token of ``scope`` (None: none)."""
        secret = token or (self.tokens[scope] if scope else None)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def cli(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        """The `assay` command on the server's store."""
        return Cli(self.env, self.home.parent)(*args, check=check)

    def cli_json(self, *args: str) -> Any:
        """Parsed ``-o json`` output of the `assay` command on the server's store."""
        return json.loads(self.cli(*args, "-o", "json").stdout)

    def token(self, name: str, scope: str, **kwargs: Any) -> str:
        """A new token, made straight in the store."""
        db = Database(self.database_url)
        try:
            return TokenStore(db).create(name, Scope(scope), **kwargs)[1]
        finally:
            db.close()


def database_url(request: pytest.FixtureRequest, backend: str, tmp: Path) -> str:
    """A new empty store of ``backend`` (sqlite or postgresql)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'home' / 'assay.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))


def server_env(
    home: Path, database_url: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of the server and of the CLI beside it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.pop("PYTEST_ADDOPTS", None)
    if env.get("PYTHONPATH"):  # the processes run elsewhere: keep this checkout's code first
        env["PYTHONPATH"] = os.pathsep.join(
            str(Path(part).resolve()) for part in env["PYTHONPATH"].split(os.pathsep) if part
        )
    env.update({"ASSAY_HOME": str(home), "ASSAY_DATABASE_URL": database_url})
    env.setdefault("ASSAY_SERVER_HEARTBEAT_SECONDS", "0.3")
    env.update(extra or {})
    return env


@contextmanager
def running_server(
    home: Path,
    database_url: str,
    *,
    workers: int = 0,
    extra_env: dict[str, str] | None = None,
    tokens: bool = True,
) -> Iterator[ApiServer]:
    """Start `assay server` on a free port, wait for /health, stop it at the end."""
    home.mkdir(parents=True, exist_ok=True)
    env = server_env(home, database_url, extra_env)
    port = free_port()
    log = (home.parent / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [ASSAY, "server", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home.parent,
    )
    server = ApiServer(f"http://127.0.0.1:{port}", home, database_url, env, process)
    try:
        _wait_healthy(server, Path(log.name))
        if tokens:
            for scope in SCOPES:
                server.tokens[scope] = server.token(f"test-{scope}", scope)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(server: ApiServer, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"assay server exited {server.process.returncode}:\n{log.read_text()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"assay server did not answer /health in 90 s:\n{log.read_text()}")


def sse_events(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Server-Sent Events of a streamed response, as dicts of their fields; a comment
    (heartbeat) is ``{"comment": text}``."""
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if event:
                yield event
            event = {}
            continue
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        event[name] = f"{event[name]}\n{value}" if name in event else value
    if event:
        yield event
