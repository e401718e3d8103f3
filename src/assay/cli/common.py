"""Helpers shared by CLI commands: key=value parsing, the app instance, summaries."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError

if TYPE_CHECKING:
    from assay.app import Assay
    from assay.client import ServerClient

__all__ = [
    "SERVER_VARIABLE",
    "TOKEN_VARIABLE",
    "app_instance",
    "current_app",
    "failing_test_lines",
    "local_only",
    "parse_pairs",
    "remote_client",
    "set_command",
    "set_server",
    "summary_line",
]

SERVER_VARIABLE = "ASSAY_SERVER"
"""The server the CLI talks to instead of the local store (or ``--server URL``)."""
TOKEN_VARIABLE = "ASSAY_TOKEN"
"""The API token sent to that server as a bearer token."""

_APP: Assay | None = None
_SERVER: str | None = None
_CLIENT: ServerClient | None = None
_COMMAND = "assay"


def set_command(name: str | None) -> None:
    """The command running (``assay NAME``), for messages."""
    global _COMMAND
    _COMMAND = f"assay {name}" if name else "assay"


def set_server(url: str | None) -> None:
    """Make commands talk to ``url`` (``--server`` / ``ASSAY_SERVER``); None or empty: local."""
    global _SERVER, _CLIENT
    url = (url or "").strip() or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise DefinitionError(
            f"--server / {SERVER_VARIABLE}: expected http://HOST:PORT or https://..., got {url!r}"
        )
    _SERVER, _CLIENT = url, None


def remote_client() -> ServerClient | None:
    """The client of the server the commands talk to, or None when they use the local store."""
    global _CLIENT
    if _SERVER is None:
        return None
    if _CLIENT is None:
        from assay.client import ServerClient

        _CLIENT = ServerClient(_SERVER, os.environ.get(TOKEN_VARIABLE))
    return _CLIENT


def local_only(command: str) -> None:
    """Refuse ``command`` in remote mode (exit 2) rather than silently use the local store."""
    if _SERVER is not None:
        raise DefinitionError(
            f"`{command}` works on the local store only; unset {SERVER_VARIABLE} "
            f"(or drop --server) to use it"
        )


def app_instance() -> Assay:
    """The process-wide :class:`Assay` (settings read from the environment); in remote
    mode a command that reaches for the local store is refused (exit 2)."""
    global _APP
    if _SERVER is not None:
        local_only(_COMMAND)
    if _APP is None:
        from assay.app import Assay
        from assay.kube.orphans import CLEANERS

        _APP = Assay(cleaners=CLEANERS)
    return _APP


def current_app() -> Assay | None:
    """The process-wide :class:`Assay` if a command created it, else None."""
    return _APP


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a malformed pair is a DefinitionError naming the option."""
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DefinitionError(f"{option} expects KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def summary_line(execution: dict[str, Any]) -> str:
    """One line: name, status, counts and duration."""
    s = execution["summary"]
    seconds = (execution.get("durationMs") or 0) / 1000
    counts = (
        f"{s['tests']} tests: {s['passed']} passed, {s['failed']} failed, "
        f"{s['errored']} errored, {s['skipped']} skipped"
    )
    return f"{execution['name']} {execution['status']} — {counts} in {seconds:.1f}s"


FAILING_SHOWN = 20
"""Most failing tests named at the end of a run."""


def failing_test_lines(
    execution: dict[str, Any], cases: Callable[[], Iterable[dict[str, Any]]]
) -> list[str]:
    """``FAILED classname::name: message`` for each test whose last attempt failed;
    ``cases`` gives the execution's test cases as JSON (called only when some failed)."""
    summary = execution.get("summary") or {}
    if not int(summary.get("failed", 0)) + int(summary.get("errored", 0)):
        return []
    last: dict[str, dict[str, Any]] = {}
    for case in cases():
        last[case["testId"]] = case
    failing = [case for case in last.values() if case["status"] in ("failed", "errored")]
    lines = []
    for case in failing[:FAILING_SHOWN]:
        label = f"{case['classname']}::{case['name']}" if case.get("classname") else case["name"]
        message = (case.get("message") or "").strip().splitlines()
        lines.append(f"{case['status'].upper()} {label}" + (f": {message[0]}" if message else ""))
    if len(failing) > FAILING_SHOWN:
        lines.append(
            f"... and {len(failing) - FAILING_SHOWN} more: assay get testcases {execution['id']}"
        )
    return lines
