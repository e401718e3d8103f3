"""Who looks at the dashboard: an API token kept in an HttpOnly, SameSite=Strict cookie,
checked on every request exactly as the API checks a bearer token; CSRF tokens for forms."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "SCOPES", "Authenticate", "Viewer", "csrf_token", "csrf_valid"]

COOKIE = "assay_token"
SCOPES = ("read", "run", "admin")
"""Each scope includes the ones before it (as in the API)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The token behind a request: its name and scope."""

    name: str
    scope: str
    secret: str

    def allows(self, needed: str) -> bool:
        """True when this viewer's scope includes ``needed``."""
        return SCOPES.index(self.scope) >= SCOPES.index(needed)

    @property
    def csrf(self) -> str:
        """The CSRF token of this viewer's forms."""
        return csrf_token(self.secret)


Authenticate = Callable[[str], tuple[str, str] | None]
"""A token's secret -> (name, scope) when it is valid (not revoked, not expired), else None."""


def csrf_token(secret: str) -> str:
    """A CSRF token bound to the session's API token: a page from another site cannot know
    it (it never sees the cookie), and it changes when the viewer logs in with another
    token."""
    return hmac.new(secret.encode(), b"assay-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_valid(secret: str, given: str | None) -> bool:
    """True when ``given`` is the CSRF token of ``secret``."""
    return given is not None and hmac.compare_digest(csrf_token(secret), given)
