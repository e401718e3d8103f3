"""Remote mode (``--server URL`` / ``ASSAY_SERVER``): what commands do against ``assay
server`` rather than the local store. Printing is shared with local mode (the same
functions format the same JSON); only how the data is fetched differs here."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from assay.errors import DefinitionError, InfrastructureError, Interrupted
from assay.status import ExecutionStatus

if TYPE_CHECKING:
    from assay.client import ServerClient

__all__ = [
    "apply_files",
    "follow_logs",
    "list_artifacts",
    "run_remote",
    "wait_for",
    "wait_interruptibly",
]

POLL_SECONDS = 0.5
"""How often an execution is polled when its event stream ended before its final event."""


def apply_files(client: ServerClient, files: list[Path]) -> list[tuple[str, str]]:
    """Check the definitions here (errors name the user's files and lines), then send them."""
    from assay.spec.loader import load_paths

    return client.apply([item.raw for item in load_paths(files)])


def run_remote(
    client: ServerClient,
    *,
    name: str | None,
    files: list[Path] | None,
    config: dict[str, str],
    tags: dict[str, str],
    source: Path | None,
    wait: bool,
    watch: bool,
    json_output: bool,
) -> dict[str, Any] | None:
    """Queue a run on the server (``files`` applied first); with ``wait``, its final
    execution JSON, else None once its id is printed."""
    if files:
        from assay.spec.loader import RUNNABLE_KINDS

        applied = apply_files(client, files)
        runnable = [n for kind, n in applied if kind in RUNNABLE_KINDS]
        if name is None:
            if len(runnable) != 1:
                listed = ", ".join(runnable) or "none"
                raise DefinitionError(f"name the definition to run: the files hold {listed}")
            name = runnable[0]
    if name is None:
        raise DefinitionError("name the definition to run, or give its file with -f")
    archive = None
    if source is not None:
        from assay.client.source import pack_source, source_limit

        archive = pack_source(source, source_limit(os.environ))
    try:
        queued = client.run(name, config=config, tags=tags, source=archive)
    finally:
        if archive is not None:
            archive.unlink(missing_ok=True)
    if not wait:
        sys.stdout.write(f"{queued['id']}\n")
        return None
    return wait_interruptibly(client, queued, watch=watch, json_output=json_output)


def wait_interruptibly(
    client: ServerClient, queued: dict[str, Any], *, watch: bool, json_output: bool
) -> dict[str, Any]:
    """:func:`wait_for` a queued execution; Ctrl-C aborts it on the server (exit 130)."""
    # Ctrl-C aborts the run on the server, even where SIGINT was inherited ignored (a job
    # started with `&` by a non-interactive shell): Python then installs no handler itself
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return wait_for(client, queued, sys.stderr if json_output else sys.stdout, watch)
    except KeyboardInterrupt:
        from assay.client import ServerClient as Fresh

        # a fresh connection pool: the interrupt may have left the streaming one's lock held
        Fresh(client.url, client.token, timeout=10.0).abort(queued["id"])
        raise Interrupted(
            f"interrupted by SIGINT: abort of {queued['name']} ({queued['id']}) requested",
            signal.SIGINT,
        ) from None
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for(
    client: ServerClient, execution: dict[str, Any], out: IO[str], stream_logs: bool
) -> dict[str, Any]:
    """Follow an execution's events until it ends (its log written to ``out`` when
    ``stream_logs``); returns its final JSON, read once it ended."""
    if stream_logs:
        say(f"execution {execution['name']} ({execution['id']}) queued on {client.url}")
    for event in client.notifications(execution["id"]):
        if event.event == "log" and stream_logs:
            out.write(_payload(event.data)["log"] + "\n")
            out.flush()
        elif event.event == "result":
            return dict(_payload(event.data)["result"])
    while True:  # the final state as stored (steps, summary), also if the stream was cut
        current = client.execution(execution["id"])
        if ExecutionStatus(current["status"]).finished:
            return current
        time.sleep(POLL_SECONDS)


def follow_logs(client: ServerClient, ref: str, out: IO[bytes]) -> None:
    """Write an execution's log as it grows, until it ends."""
    for event in client.notifications(ref):
        if event.event == "log":
            out.write((_payload(event.data)["log"] + "\n").encode("utf-8"))
            out.flush()


def list_artifacts(client: ServerClient, ref: str, download: Path | None) -> None:
    """``PATH<TAB>SIZE`` of each artifact; with ``download``, each copied under it."""
    for item in client.artifacts(ref):
        relative = str(item["name"])
        if download is not None:
            target = (download / relative).resolve()
            if not target.is_relative_to(download.resolve()):
                raise InfrastructureError(
                    f"the server named an artifact outside the download directory: {relative!r}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_artifact(ref, relative, target)
        print(f"{relative}\t{item['size']}", flush=True)


def _payload(data: str) -> dict[str, Any]:
    """The JSON object an event carries (``{"ts", "log"}``, ``{"ts", "result"}``)."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InfrastructureError(f"the server sent an event that is no JSON object: {data:.200}")
    return value


def say(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)
