"""A small GitHub REST client (httpx): issue comments and check runs, nothing more.

Errors::

    InfrastructureError
    └── GitHubError                 any failed call: HTTP status and GitHub's message
        └── GitHubPermissionError   the token may not do this (401/403/404): read-only
                                    tokens (pull requests from forks) get these on writes

The token is sent as ``Authorization: Bearer`` and never appears in a message: every
message is masked before it is raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from assay.errors import InfrastructureError

__all__ = ["API_VERSION", "GitHubClient", "GitHubError", "GitHubPermissionError"]

API_VERSION = "2022-11-28"
PAGE_SIZE = 100
MAX_PAGES = 50
"""Comments listed at most: 5,000 (a pull request with more is not worth the calls)."""


class GitHubError(InfrastructureError):
    """A GitHub API call failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubPermissionError(GitHubError):
    """The token is not allowed to do this (a read-only token on a write, typically)."""


class GitHubClient:
    """Calls on one repository of one GitHub (github.com or an Enterprise Server)."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        from assay import __version__

        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self._token = token
        self._client = httpx.Client(
            base_url=self.api_url + "/",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"assay/{__version__}",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # --- issue comments -------------------------------------------------------------------

    def issue_comments(self, number: int) -> Iterator[dict[str, Any]]:
        """Every comment of issue (or pull request) ``number``, oldest first."""
        url: str | None = f"repos/{self.repository}/issues/{number}/comments"
        params: dict[str, Any] | None = {"per_page": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._call("GET", url, params=params)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GET {url}: expected a list of comments")
            yield from (item for item in page if isinstance(item, dict))
            url, params = self._next_page(response), None

    def create_issue_comment(self, number: int, body: str) -> dict[str, Any]:
        """Add a comment to issue (or pull request) ``number``."""
        url = f"repos/{self.repository}/issues/{number}/comments"
        return self._json(self._call("POST", url, json={"body": body}))

    def update_issue_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        """Replace the body of comment ``comment_id``."""
        url = f"repos/{self.repository}/issues/comments/{comment_id}"
        return self._json(self._call("PATCH", url, json={"body": body}))

    # --- check runs -------------------------------------------------------------------------

    def create_check_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Create a check run (``payload`` as GitHub's "Create a check run" documents)."""
        url = f"repos/{self.repository}/check-runs"
        return self._json(self._call("POST", url, json=payload))

    # --- plumbing ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        shown = self._shown(url)
        try:
            response = self._client.request(method, url, params=params, json=json)
        except httpx.HTTPError as exc:
            text = f"{method} {shown}: {type(exc).__name__}: {exc}"
            raise GitHubError(self._mask(text)) from None
        if response.is_success:
            return response
        status = response.status_code
        message = self._mask(f"{method} {shown}: HTTP {status}: {_github_message(response)}")
        if status in (401, 403, 404) and not _rate_limited(response):
            raise GitHubPermissionError(message, status)
        raise GitHubError(message, status)

    def _next_page(self, response: httpx.Response) -> str | None:
        """The ``rel="next"`` link, only when it points at the same API (the token goes
        along with it)."""
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        if not link.startswith(self.api_url + "/"):
            raise GitHubError(f"refusing a pagination link outside {self.api_url}")
        return link

    def _shown(self, url: str) -> str:
        return url if url.startswith("http") else f"{self.api_url}/{url}"

    def _mask(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        return data if isinstance(data, dict) else {}


def _github_message(response: httpx.Response) -> str:
    """GitHub's ``message`` (plus its validation ``errors``), else the reason phrase."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        message: str = data["message"]
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [_error_detail(e) for e in errors]
            message += " (" + "; ".join(d for d in details if d) + ")"
        return message[:500]
    return response.reason_phrase or "no message"


def _error_detail(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")
    return str(error)


def _rate_limited(response: httpx.Response) -> bool:
    if response.headers.get("x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in _github_message(response).lower()
