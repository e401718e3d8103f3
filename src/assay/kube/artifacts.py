"""Artifacts of a Kubernetes execution, as the ``result`` container prints them.

Each step's ``artifacts.paths`` files are copied inside the Pod (``entry.sh``, under
``/data/.assay/artifacts/REF/``, only from inside ``/data`` and within a size cap), then
``entry.sh finish`` prints them framed in its log (no ``pods/exec`` needed)::

    assay-artifact REF NAME
    +BASE64 (one line of base64 per output line of the image's ``base64``)
    assay-artifact-end SIZE SHA256      (``-``: the image has no ``sha256sum``)
    assay-artifact-refused REF WHY      (a path the Pod turned down)

The Pod is not trusted: :class:`ArtifactReceiver` writes a file into the execution's
artifacts directory only under a relative name without ``..`` (never an absolute path, never
through a link), only once its size and checksum match, and no more than the execution's
limit in all; everything it turns down is a warning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from assay.engine.artifacts import store_masked

__all__ = ["PREFIXES", "ArtifactReceiver"]

BEGIN = "assay-artifact "
DATA = "+"
END = "assay-artifact-end "
REFUSED = "assay-artifact-refused "
PREFIXES = (BEGIN, END, REFUSED)
"""Lines that are artifact frames (data lines only inside a frame)."""


@dataclass
class _Incoming:
    ref: str
    name: str
    scratch: Path
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    refused: str | None = None


@dataclass
class ArtifactReceiver:
    """Decodes artifact frames into ``target`` (created when the first file is kept), masked
    as the other runners store them; ``warnings`` says what was not kept, and why."""

    target: Path
    mask: Callable[[str], str]
    limit: int
    kept: list[str] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)
    """Name of each kept file -> the ref of the step that wrote it last."""
    warnings: list[str] = field(default_factory=list)
    total: int = 0
    _current: _Incoming | None = None
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    def take(self, line: str) -> bool:
        """Consume one line of the ``result`` container; False if it is no artifact frame."""
        if self._current is not None and line.startswith(DATA):
            self._data(self._current, line[len(DATA) :])
            return True
        if line.startswith(REFUSED):
            _ref, _, why = line[len(REFUSED) :].partition(" ")
            self.warnings.append(f"artifacts: not collected: {why}")
            return True
        if line.startswith(BEGIN):
            self._abandon()
            ref, _, name = line[len(BEGIN) :].partition(" ")
            self._current = self._begin(ref, name)
            return True
        if line.startswith(END):
            if self._current is not None:
                self._end(self._current, line[len(END) :].split())
            self._current = None
            return True
        self._abandon()
        return False

    def close(self) -> list[str]:
        """End the stream (a file left open is incomplete); the warnings."""
        self._abandon()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        return self.warnings

    def _begin(self, ref: str, name: str) -> _Incoming:
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="assay-artifact-")
        fd, scratch = tempfile.mkstemp(dir=self._scratch.name)
        os.close(fd)
        incoming = _Incoming(ref, name, Path(scratch))
        incoming.refused = _bad_name(name)
        return incoming

    def _data(self, incoming: _Incoming, chunk: str) -> None:
        if incoming.refused is None and self.total + incoming.size + len(chunk) // 4 * 3 > (
            self.limit + 3  # before decoding a line of any length: base64 is 4 bytes per 3
        ):
            incoming.refused = self._over()
        if incoming.refused is not None:
            return
        try:
            data = base64.b64decode(chunk.strip(), validate=True)
        except (binascii.Error, ValueError):
            incoming.refused = "not base64"
            return
        incoming.size += len(data)
        if self.total + incoming.size > self.limit:
            incoming.refused = self._over()
            return
        incoming.digest.update(data)
        with incoming.scratch.open("ab") as out:
            out.write(data)

    def _over(self) -> str:
        return (
            f"over the limit of {self.limit} bytes of artifacts per execution "
            "(ASSAY_KUBERNETES_ARTIFACTS_LIMIT)"
        )

    def _end(self, incoming: _Incoming, fields: list[str]) -> None:
        refused = incoming.refused
        if refused is None and (len(fields) != 2 or fields[0] != str(incoming.size)):
            refused = f"{incoming.size} bytes received, the Pod sent {' '.join(fields)!r}"
        elif refused is None and fields[1] not in ("-", incoming.digest.hexdigest()):
            refused = "its sha256 does not match what the Pod sent"
        if refused is None:
            refused = self._store(incoming)
        incoming.scratch.unlink(missing_ok=True)
        if refused is not None:
            self.warnings.append(f"artifacts: not collected: {incoming.name!r}: {refused}")

    def _store(self, incoming: _Incoming) -> str | None:
        """Write the file below :attr:`target`, never through a link nor by a name leading
        out (checked again here, whatever :func:`_bad_name` let through)."""
        outside = "it would be stored outside the execution's artifacts"
        parts = PurePosixPath(incoming.name).parts
        if not parts or PurePosixPath(incoming.name).is_absolute() or ".." in parts:
            return outside
        try:
            self.target.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory = self.target
            for part in parts[:-1]:  # one by one: a link is never followed
                directory = directory / part
                if directory.is_symlink():
                    return outside
                if not directory.exists():
                    directory.mkdir(mode=0o700)
            target = directory / parts[-1]
            if target.is_symlink():
                return outside
            store_masked(incoming.scratch, target, self.mask)
        except OSError as exc:
            return f"not stored: {exc.strerror or exc}"
        self.total += incoming.size
        self.kept.append(incoming.name)
        self.refs[incoming.name] = incoming.ref
        return None

    def _abandon(self) -> None:
        if self._current is not None:
            self._current.scratch.unlink(missing_ok=True)
            self.warnings.append(
                f"artifacts: not collected: {self._current.name!r}: incomplete in the Pod's log"
            )
            self._current = None


def _bad_name(name: str) -> str | None:
    """Why ``name`` may not be stored under the artifacts directory, if it may not."""
    path = PurePosixPath(name)
    if not name or "\0" in name or "\\" in name:
        return "not a file name"
    if path.is_absolute():
        return "an absolute path"
    if any(part in ("..", ".", "") for part in name.split("/")):
        return "`..`, `.` or an empty segment in its name"
    return None
