"""Sealed values: sensitive config of queued runs, kept in the store encrypted.

A queued run waits in the database until a worker, maybe on another machine, claims it; a
``sensitive: true`` config value given with it must not sit there in clear text. It is
sealed with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under the queue key:
``ASSAY_QUEUE_KEY`` when set (a Fernet key: 32 url-safe base64-encoded bytes), else the file
``ASSAY_HOME/queue.key`` (mode 0600), created on first use. Workers on other machines need
the same key (set ``ASSAY_QUEUE_KEY`` on each). A database dump alone reveals nothing.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import DefinitionError, InfrastructureError
from assay.faults import os_fault

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = ["KEY_ENV", "Sealer"]

KEY_ENV = "ASSAY_QUEUE_KEY"
"""The environment variable that holds the queue key (overrides the key file)."""


class Sealer:
    """Seals and unseals strings with the queue key (see the module doc)."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: Fernet | None = None

    def seal(self, value: str) -> str:
        """``value`` encrypted and authenticated (a Fernet token)."""
        return self._key(create=True).encrypt(value.encode("utf-8")).decode("ascii")

    def unseal(self, token: str) -> str:
        """The value sealed in ``token``; a DefinitionError when this key did not seal it."""
        from cryptography.fernet import InvalidToken

        try:
            return self._key(create=False).decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise DefinitionError(
                f"a sealed config value cannot be opened with this queue key ({self._where()}):"
                f" the worker needs the key of the server that queued the run ({KEY_ENV})"
            ) from None

    def _where(self) -> str:
        return KEY_ENV if os.environ.get(KEY_ENV) else str(self.key_file)

    def _key(self, *, create: bool) -> Fernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            raw = os.environ.get(KEY_ENV) or self._read_or_create(create)
            try:
                self._fernet = Fernet(raw.strip().encode("ascii"))
            except (ValueError, UnicodeError):
                raise DefinitionError(
                    f"{self._where()}: not a queue key (32 url-safe base64-encoded bytes)"
                ) from None
        return self._fernet

    def _read_or_create(self, create: bool) -> str:
        from cryptography.fernet import Fernet

        try:
            with contextlib.suppress(FileNotFoundError):
                return self.key_file.read_text(encoding="ascii")
            if not create:
                raise DefinitionError(
                    f"no queue key ({self.key_file}, {KEY_ENV}): sealed config values cannot "
                    "be opened on this machine"
                )
            self.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.key_file.with_name(f".{self.key_file.name}.{uuid.uuid4().hex}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
            try:  # a link appears whole: of two processes creating it at once, one wins
                os.link(tmp, self.key_file)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
            return self.key_file.read_text(encoding="ascii")
        except OSError as exc:
            raise InfrastructureError(f"queue key {self.key_file}: {os_fault(exc)}") from exc
