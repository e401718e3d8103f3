"""The stand-in kubelet's ``downwardAPI`` volumes: the Pod's metadata as files, written as a
kubelet writes them and rewritten when the Pod's labels or annotations change.

A kubelet's AtomicWriter layout: the files live in a timestamped directory
``..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN``; ``..data`` is a symlink to it; each visible name is a
symlink through ``..data``. A change writes a new timestamped directory, points a
``..data_tmp`` symlink at it and renames that over ``..data`` (atomic), then removes the old
directory: a reader sees the old or the new content, never a mix. A map
(``metadata.annotations``, ``metadata.labels``) is one ``key="value"`` line per key, sorted,
the value quoted as Go's ``%q`` does, without a final newline (``fieldpath.FormatMap``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

__all__ = ["DownwardVolume", "format_map", "go_quote"]

_SUBSCRIPT = re.compile(r"^metadata\.(annotations|labels)\['(.+)'\]$")
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """``strconv.Quote``: double-quoted, Go escapes; printable characters kept as they are."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def format_map(values: dict[str, str]) -> str:
    """``fieldpath.FormatMap``: sorted ``key="value"`` lines, no final newline."""
    return "\n".join(f"{key}={go_quote(str(values[key]))}" for key in sorted(values))


def field_value(pod: dict[str, Any], path: str) -> str:
    """A ``fieldRef.fieldPath`` of the Pod, as the kubelet renders it."""
    meta = pod["metadata"]
    if path in ("metadata.annotations", "metadata.labels"):
        return format_map(meta.get(path.split(".")[1]) or {})
    found = _SUBSCRIPT.match(path)
    if found:
        return str((meta.get(found.group(1)) or {}).get(found.group(2), ""))
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta[path.split(".")[1]])
    raise ValueError(f"fieldPath {path!r}: not served by the stand-in's downwardAPI volumes")


class DownwardVolume:
    """One Pod's ``downwardAPI`` volume in ``directory`` (bind-mounted read-only)."""

    def __init__(self, directory: Path, source: dict[str, Any]) -> None:
        self.directory = directory
        self.items: list[dict[str, Any]] = list(source.get("items") or [])
        self.mode: int = int(source.get("defaultMode", 0o644))
        blank = {"metadata": {"name": "", "namespace": "", "uid": ""}}
        for item in self.items:
            if "fieldRef" not in item:
                raise ValueError("downwardAPI resourceFieldRef: not served by the stand-in")
            field_value(blank, item["fieldRef"]["fieldPath"])
        self._written: dict[str, bytes] | None = None

    def write(self, pod: dict[str, Any]) -> bool:
        """Write the files of ``pod``'s metadata; False when they were already so."""
        files = {
            item["path"]: field_value(pod, item["fieldRef"]["fieldPath"]).encode()
            for item in self.items
        }
        if files == self._written:
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
        version = self.directory / f"..{stamp}.{time.time_ns() % 10**9:09d}"
        for item in self.items:
            target = version / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[item["path"]])
            target.chmod(int(item.get("mode", self.mode)))
        data_link = self.directory / "..data"
        old = os.readlink(data_link) if data_link.is_symlink() else None
        staging = self.directory / "..data_tmp"
        staging.unlink(missing_ok=True)
        staging.symlink_to(version.name)
        staging.rename(data_link)
        for top in {Path(path).parts[0] for path in files}:
            visible = self.directory / top
            if not visible.is_symlink():
                visible.symlink_to(f"..data/{top}")
        if old is not None and old != version.name:
            shutil.rmtree(self.directory / old, ignore_errors=True)
        self._written = files
        return True
