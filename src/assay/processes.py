"""Facts about local processes, read from ``/proc``: identity across pid reuse, process groups.

A pid alone does not name a process for long: once it ends, the kernel may give its number
to a new one. A pid together with its start time (clock ticks after boot, field 22 of
``/proc/<pid>/stat``) does.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessId", "group_alive", "pids_with_env", "start_time"]

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state is index 0)."""
    try:  # bytes: the command name is whatever the program was called, UTF-8 or not
        data = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return data.rsplit(b")", 1)[1].decode("ascii").split()


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), None if it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A process named so that a reused pid is not mistaken for it."""

    pid: int
    started: int | None
    host: str

    @classmethod
    def current(cls) -> ProcessId:
        """This process."""
        return _current(os.getpid())

    def alive(self) -> bool:
        """True while the process runs (on this host; the caller checks the host)."""
        if self.started is not None:
            return start_time(self.pid) == self.started
        try:  # no /proc: the pid is all there is
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _pids() -> list[int]:
    if not _PROC.is_dir():
        return []
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def pids_with_env(name: str, prefix: str) -> list[int]:
    """Running processes whose environment sets ``name`` to a value starting with ``prefix``
    (a variable every descendant of a task inherits, even one that left its process group)."""
    needle = f"{name}={prefix}".encode()
    found = []
    for pid in _pids():
        try:
            environ = (_PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(needle) for item in environ.split(b"\0")) and start_time(pid):
            found.append(pid)
    return found


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies waiting to be reaped do not
    count: their parent may be the very thread that is waiting for the group to end)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _PROC.is_dir():
        return True
    for pid in _pids():
        with contextlib.suppress(ValueError):
            fields = _stat_fields(pid)
            if fields is not None and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


@functools.cache
def _current(pid: int) -> ProcessId:
    return ProcessId(pid, start_time(pid), socket.gethostname())
