"""The local secret store: one JSON file of mode 0600 per secret name.

A reference ``secretKeyRef {name, key}`` resolves from the store first, then from
the environment variable ``ASSAY_SECRET_<NAME>__<KEY>`` (upper-cased, every
character that is not a letter or digit replaced by ``_``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from assay.errors import DefinitionError, InfrastructureError, NotFoundError
from assay.faults import os_fault

__all__ = ["SecretStore", "env_name"]

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def env_name(name: str, key: str) -> str:
    """The environment variable that may hold ``name``/``key``."""

    def norm(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "_", text).upper()

    return f"ASSAY_SECRET_{norm(name)}__{norm(key)}"


class SecretStore:
    """Secrets kept under ``ASSAY_HOME/secrets`` (directory 0700, files 0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise DefinitionError(f"invalid secret name {name!r}")
        return self.directory / f"{name}.json"

    def set(self, name: str, values: dict[str, str]) -> None:
        """Merge ``values`` into secret ``name``."""
        path = self._path(name)
        current = self._read(path)
        current.update(values)
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # a leftover .tmp keeps its mode through O_CREAT
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(current, handle)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise InfrastructureError(f"secret {name!r}: {os_fault(exc)}") from exc

    def delete(self, name: str) -> None:
        """Remove secret ``name``."""
        path = self._path(name)
        if not path.exists():
            raise NotFoundError(f"no secret {name!r}")
        path.unlink()

    def names(self) -> dict[str, list[str]]:
        """Secret names with their keys (never values)."""
        if not self.directory.is_dir():
            return {}
        return {p.stem: sorted(self._read(p)) for p in sorted(self.directory.glob("*.json"))}

    def get(self, name: str, key: str) -> str:
        """Resolve ``name``/``key`` from the store, then the environment."""
        values = self._read(self._path(name))
        if key in values:
            return values[key]
        variable = env_name(name, key)
        if variable in os.environ:
            return os.environ[variable]
        raise NotFoundError(
            f"secret {name!r} has no key {key!r}: run `assay secret set {name} {key}=...` "
            f"or export {variable}"
        )

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        if not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}
