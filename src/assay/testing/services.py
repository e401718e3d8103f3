"""Service processes for tests: start a command, wait until it answers HTTP, stop it.

`HttpServices` is what the `http_service` fixture yields; it is also a context manager
for use in fixtures of broader scope. Services that keep logs implement `LogSource`,
and the plugin attaches those logs to the report of a failing test.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from assay.testing.errors import ServiceStartError, WaitTimeoutError
from assay.testing.polling import (
    DEFAULT_TIMEOUT,
    READY_STATUSES,
    ProbeResult,
    ServiceTarget,
    probe,
    probe_errors,
    wait_for_condition,
)

__all__ = ["HttpService", "HttpServices", "LogSource", "free_port", "read_log_tail"]

LOG_TAIL_BYTES = 32 * 1024
STOP_TIMEOUT = 10.0


class LogSource(ABC):
    """Something whose log files belong in the report of a failing test."""

    @abstractmethod
    def log_files(self) -> list[tuple[str, Path]]:
        """(section title, path) pairs; missing files are ignored."""


def read_log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last `limit` bytes of a log file as text, noting what was left out."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError as exc:
        return f"[log {path} unreadable: {exc}]"
    text = data.decode("utf-8", errors="replace")
    omitted = size - len(data)
    return f"[... {omitted} earlier bytes of {path} omitted]\n{text}" if omitted else text


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class HttpService:
    """A running service started by `HttpServices`."""

    name: str
    host: str
    port: int
    pid: int
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash: `http://127.0.0.1:PORT`."""
        return f"http://{self.host}:{self.port}"


class _ExitedEarly(Exception):
    """The service process ended before it was ready."""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


class HttpServices(LogSource):
    """Start commands that serve HTTP, wait for readiness, and stop them all on close.

    Call it with a command; `{port}` and `{host}` in its arguments are replaced by a free
    port and the host (also given as the PORT and HOST environment variables).
    """

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._running: list[tuple[HttpService, subprocess.Popen[bytes]]] = []
        self._started = 0

    def __call__(
        self,
        command: Sequence[str],
        *,
        ready_path: str = "/",
        port: int | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        statuses: Container[int] = READY_STATUSES,
    ) -> HttpService:
        """Start `command`, wait until GET `ready_path` answers with a status in `statuses`
        (2xx/3xx by default), and return the running service. Raises `ServiceStartError`
        if it exits or is not ready within `timeout` seconds; its log is in the message."""
        if not command:
            raise ValueError("command must not be empty")
        port = port or free_port(host)
        args = [a.replace("{port}", str(port)).replace("{host}", host) for a in command]
        self._started += 1
        name = name or Path(args[0]).name
        log_path = self._log_dir / f"{self._started}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.log"
        full_env = {**os.environ, **(env or {}), "PORT": str(port), "HOST": host}
        try:
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ServiceStartError(f"cannot start {name} ({shlex.join(args)}): {exc}") from exc
        service = HttpService(name, host, port, process.pid, log_path)
        self._running.append((service, process))
        target = ServiceTarget.parse(service.url + "/" + ready_path.lstrip("/"))

        def ready() -> ProbeResult:
            code = process.poll()
            if code is not None:
                raise _ExitedEarly(f"the process exited with code {code}")
            return probe(target, statuses)

        try:
            wait_for_condition(
                ready, timeout, description=f"{name} to answer at {target}", retry_on=probe_errors()
            )
        except (WaitTimeoutError, _ExitedEarly) as exc:
            _stop(process)
            raise ServiceStartError(
                f"{name} ({shlex.join(args)}) did not become ready: {exc}\n"
                f"--- {log_path} ---\n{read_log_tail(log_path)}"
            ) from exc
        return service

    def log_files(self) -> list[tuple[str, Path]]:
        return [(f"http_service log: {s.name}", s.log_path) for s, _ in self._running]

    def close(self) -> None:
        """Stop every service started here, newest first."""
        for _, process in reversed(self._running):
            _stop(process)

    def __enter__(self) -> HttpServices:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
