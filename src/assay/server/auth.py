"""Who calls the API, and with which scope.

An :class:`Authenticator` turns a bearer token into a :class:`Principal` (or None). The
server asks its own tokens first (:class:`StoredTokens`), then, when configured, the
Kubernetes API's TokenReview (:class:`KubernetesTokenReview`). Endpoints declare the scope
they need with :func:`require`: no or an unknown token is 401, a too small scope 403.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assay.errors import InfrastructureError
from assay.server.settings import ServerSettings
from assay.store.tokens import Scope, TokenStore

__all__ = [
    "SESSION_COOKIE",
    "Authenticator",
    "Chain",
    "KubernetesTokenReview",
    "Principal",
    "StoredTokens",
    "authenticator_for",
    "require",
]

TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
SESSION_COOKIE = "assay_token"
"""The dashboard's session: the API token in an HttpOnly, SameSite=Strict cookie."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    scope: Scope
    via: str
    """``token`` (assay's own) or ``kubernetes`` (a reviewed ServiceAccount token)."""


class Authenticator(Protocol):
    """Turns a bearer token into a principal, or None when it does not know the token."""

    def authenticate(self, token: str) -> Principal | None:
        """The caller holding ``token``, or None."""
        ...


class StoredTokens:
    """Tokens made with ``assay token create`` (kept hashed in the store)."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def authenticate(self, token: str) -> Principal | None:
        entry = self.tokens.authenticate(token)
        return None if entry is None else Principal(entry.name, entry.scope, "token")


class KubernetesTokenReview:
    """ServiceAccount tokens checked by the Kubernetes API (``authentication.k8s.io/v1``
    TokenReview); the user's name and groups map to a scope through
    :attr:`ServerSettings.kube_scopes`. Accepted reviews are reused for a short while."""

    def __init__(self, settings: ServerSettings) -> None:
        import httpx

        if not settings.kube_api_url:
            raise InfrastructureError("TokenReview needs ASSAY_SERVER_KUBE_API_URL")
        self.settings = settings
        self.scopes = {name: Scope(value) for name, value in settings.kube_scopes.items()}
        ca = settings.kube_ca_file
        verify: str | bool = str(ca) if ca is not None and ca.exists() else True
        self.client = httpx.Client(base_url=settings.kube_api_url, verify=verify, timeout=10.0)
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        principal = self._review(token)
        if principal is not None and self.settings.kube_cache_seconds > 0:
            with self._lock:
                expiry = time.monotonic() + self.settings.kube_cache_seconds
                self._cache[key] = (expiry, principal)
        return principal

    def _review(self, token: str) -> Principal | None:
        import httpx

        spec: dict[str, object] = {"token": token}
        if self.settings.kube_audiences:
            spec["audiences"] = list(self.settings.kube_audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        try:
            own = self.settings.kube_token_file.read_text(encoding="utf-8").strip()
            response = self.client.post(
                TOKEN_REVIEW_PATH, json=body, headers={"Authorization": f"Bearer {own}"}
            )
            response.raise_for_status()
            status = response.json().get("status") or {}
        except (OSError, httpx.HTTPError, ValueError) as exc:
            raise InfrastructureError(f"Kubernetes TokenReview failed: {exc}") from exc
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        name = str(user.get("username") or "")
        names = [name, *(str(group) for group in user.get("groups") or [])]
        granted = [self.scopes[n] for n in names if n in self.scopes]
        if not granted:
            return None
        best = max(granted, key=list(Scope).index)
        return Principal(name, best, "kubernetes")


class Chain:
    """The first authenticator that knows the token wins."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)

    def authenticate(self, token: str) -> Principal | None:
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(token)
            if principal is not None:
                return principal
        return None


def authenticator_for(settings: ServerSettings, tokens: TokenStore) -> Authenticator:
    """Assay's tokens, then TokenReview when ``kube_api_url`` is set."""
    chain: list[Authenticator] = [StoredTokens(tokens)]
    if settings.kube_api_url:
        chain.append(KubernetesTokenReview(settings))
    return Chain(chain)


_bearer = HTTPBearer(auto_error=False, description="`assay token create NAME --scope ...`")


def require(scope: Scope, *, session_cookie: bool = False) -> Callable[..., Principal]:
    """A dependency admitting callers whose token has at least ``scope``; with
    ``session_cookie``, the dashboard's session cookie serves when there is no bearer token
    (only for event streams, which a browser's EventSource opens without headers; the
    cookie is SameSite=Strict, so another site cannot open them for the user)."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        token = credentials.credentials if credentials is not None else None
        if not token and session_cookie:
            token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        authenticator: Authenticator = request.app.state.authenticator
        principal = authenticator.authenticate(token)
        if principal is None:
            raise HTTPException(
                401,
                "unknown, expired or revoked token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not principal.scope.allows(scope):
            raise HTTPException(
                403, f"token {principal.name!r} has scope {principal.scope}; this needs {scope}"
            )
        return principal

    return dependency
