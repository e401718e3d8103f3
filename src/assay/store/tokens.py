"""API tokens of ``assay server``: created once, kept as a SHA-256, checked per request.

A token is ``assay_`` followed by 43 URL-safe characters (256 random bits): hashing it
without a salt is enough, since it cannot be guessed from a dictionary.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError

from assay.errors import DefinitionError, NotFoundError
from assay.store.database import Database
from assay.store.executions import now
from assay.store.tables import ApiTokenRow

__all__ = ["Scope", "TokenEntry", "TokenStore", "hash_token"]

PREFIX = "assay_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ENTRY_COLUMNS = ("id", "name", "scope", "created_at", "expires_at", "revoked_at", "last_used_at")
LAST_USED_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token (no write per request)."""


class Scope(StrEnum):
    """What a token may do; each scope includes the ones before it."""

    READ = "read"
    RUN = "run"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        """True when this scope includes ``needed``."""
        order = list(Scope)
        return order.index(self) >= order.index(needed)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """A token as listed (never its secret)."""

    id: str
    name: str
    scope: Scope
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiTokenRow | Row[Any]) -> TokenEntry:
        """The entry of a stored row (timestamps aware, as SQLite returns naive ones)."""
        return cls(
            id=row.id,
            name=row.name,
            scope=Scope(row.scope),
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )

    def valid(self, at: datetime | None = None) -> bool:
        """Not revoked and not expired at ``at`` (default: now)."""
        moment = at or now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, camelCase keys."""

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope.value,
            "createdAt": iso(self.created_at),
            "expiresAt": iso(self.expires_at),
            "revokedAt": iso(self.revoked_at),
            "lastUsedAt": iso(self.last_used_at),
            "active": self.valid(),
        }


class TokenStore:
    """API tokens in the SQL store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, name: str, scope: Scope, *, expires_at: datetime | None = None
    ) -> tuple[TokenEntry, str]:
        """A new token called ``name``: its entry and its secret (shown once, kept hashed)."""
        if not _NAME.match(name):
            raise DefinitionError(
                f"token name {name!r}: 1-100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if expires_at is not None and expires_at <= now():
            raise DefinitionError(f"token {name!r}: expiry {expires_at.isoformat()} is past")
        secret = PREFIX + secrets.token_urlsafe(32)
        row = ApiTokenRow(
            id=uuid.uuid4().hex,
            name=name,
            scope=scope.value,
            token_hash=hash_token(secret),
            created_at=now(),
            expires_at=expires_at,
        )
        try:
            with self.db.session(write=True) as session:
                old = session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == name))
                if old is not None and TokenEntry.of(old).valid():
                    raise DefinitionError(f"a token named {name!r} exists; revoke it first")
                if old is not None:  # revoked or expired: the name is free again
                    session.delete(old)
                    session.flush()
                session.add(row)
        except IntegrityError:  # created by another process meanwhile
            raise DefinitionError(f"a token named {name!r} exists; revoke it first") from None
        return TokenEntry.of(row), secret

    def list(self) -> list[TokenEntry]:
        """Every token by name (revoked and expired ones too)."""
        with self.db.session() as session:
            rows = session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name))
            return [TokenEntry.of(row) for row in rows]

    def revoke(self, name: str) -> TokenEntry:
        """Revoke the token called ``name`` at once; the row stays (listed as revoked)
        until a new token takes its name."""
        with self.db.session(write=True) as session:
            row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == name))
            if row is None:
                raise NotFoundError(f"no token named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = now()
            return TokenEntry.of(row)

    def authenticate(self, secret: str) -> TokenEntry | None:
        """The valid token whose secret this is, else None (unknown, revoked, expired)."""
        if not secret.startswith(PREFIX):
            return None
        table = ApiTokenRow.__table__.c
        query = select(*(table[name] for name in _ENTRY_COLUMNS)).where(
            table.token_hash == hash_token(secret)
        )
        with self.db.engine.connect() as connection:  # once per request: no ORM objects
            found = connection.execute(query).first()
        entry = None if found is None else TokenEntry.of(found)
        if entry is None or not entry.valid():
            return None
        moment = now()
        if entry.last_used_at is None or moment - entry.last_used_at > LAST_USED_EVERY:
            with self.db.session(write=True) as session:
                session.execute(
                    update(ApiTokenRow)
                    .where(ApiTokenRow.id == entry.id)
                    .values(last_used_at=moment)
                )
        return entry
