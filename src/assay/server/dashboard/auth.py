"""Who looks at the dashboard: an API token kept in an HttpOnly, SameSite=Strict cookie,
checked on every request by the server's own authenticator (as the API checks a bearer
token, with the same scopes); CSRF tokens for forms."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import HTTPException, Request

from assay.server.auth import SESSION_COOKIE, Authenticator, Principal
from assay.store.tokens import Scope

__all__ = ["COOKIE", "Viewer", "csrf_token", "csrf_valid", "page_viewer"]

COOKIE = SESSION_COOKIE


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller behind a dashboard request, and the secret of its session."""

    principal: Principal
    secret: str

    @property
    def name(self) -> str:
        """The token's name."""
        return self.principal.name

    @property
    def scope(self) -> str:
        """read, run or admin."""
        return self.principal.scope.value

    def allows(self, needed: Scope | str) -> bool:
        """True when this viewer's scope includes ``needed``."""
        return self.principal.scope.allows(Scope(needed))

    @property
    def csrf(self) -> str:
        """The CSRF token of this viewer's forms."""
        return csrf_token(self.secret)


def authenticate(request: Request, secret: str) -> Principal | None:
    """The caller holding ``secret``, asked of the server's authenticator."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.authenticate(secret)


def viewer_of(request: Request) -> Viewer | None:
    """The viewer whose valid token is in the request's cookie, else None."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    principal = authenticate(request, secret)
    return None if principal is None else Viewer(principal, secret)


def page_viewer(request: Request) -> Viewer:
    """The viewer of a page; without one, a redirect to the login form (303)."""
    viewer = viewer_of(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = "/login?" + urlencode({"next": target})
        raise HTTPException(303, "log in first", headers={"Location": location})
    return viewer


def check_form(viewer: Viewer, form: dict[str, str], scope: Scope) -> None:
    """A submitted form must carry the viewer's CSRF token, and the viewer the scope the
    same action needs in the API (403 otherwise)."""
    if not csrf_valid(viewer.secret, form.get("csrf")):
        raise HTTPException(403, "the form expired or came from another site: reload the page")
    if not viewer.allows(scope):
        raise HTTPException(
            403, f"token {viewer.name!r} has scope {viewer.scope}; this needs {scope.value}"
        )


def csrf_token(secret: str) -> str:
    """A CSRF token bound to the session's API token: a page of another site cannot know
    it (it never sees the cookie), and it changes with the token."""
    return hmac.new(secret.encode(), b"assay-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_valid(secret: str, given: str | None) -> bool:
    """True when ``given`` is the CSRF token of ``secret``."""
    return given is not None and hmac.compare_digest(csrf_token(secret), given)
