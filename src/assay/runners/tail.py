"""Following a task's log file as it grows, line by line (local and docker runners)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["tail_lines"]

_POLL_SECONDS = 0.02


def tail_lines(path: Path, ended: Callable[[], bool]) -> Iterator[str]:
    """Yield the lines of ``path`` (without newline) as they are written, until ``ended()``
    is true and the file is drained."""
    pending = b""
    with path.open("rb") as stream:
        while True:
            chunk = stream.read(65536)
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace").rstrip("\r")
                continue
            if ended():
                rest = stream.read()
                pending += rest
                if rest:
                    continue
                break
            time.sleep(_POLL_SECONDS)
    if pending:
        yield pending.decode("utf-8", "replace").rstrip("\r")
